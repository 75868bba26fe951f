// The job registry: ingest's way to read and change jobs in the job store. A change is read, applied
// and written back on the version it read; when another writer (another instance, another function)
// got there first, it is applied again to what that writer left. Listeners hear of every change made here.
import type { JobRecord } from "../lib/apply-fact.ts";
import type { Changes, JobStore, Page } from "../lib/job-store.ts";
import { sleep } from "../lib/time.ts";
import { noteTransition } from "../lib/webhook.ts";

export type JobListener = (rec: JobRecord) => void;
export type Change = (rec: JobRecord | null) => JobRecord | null | Promise<JobRecord | null>;

export class Contention extends Error {
  override name = "Contention";
}

export class JobRegistry {
  private readonly store: JobStore;
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly listeners = new Set<JobListener>();
  private readonly maxAttempts: number;

  constructor(store: JobStore, o: { maxAttempts?: number } = {}) {
    this.store = store;
    this.maxAttempts = o.maxAttempts ?? 20;
  }

  async record(id: string): Promise<JobRecord | null> {
    return (await this.store.get(id))?.rec ?? null;
  }

  list(o: { limit: number; cursor: string | null }): Promise<Page> {
    return this.store.list(o);
  }

  changes(o: { since: string | null; limit: number }): Promise<Changes> {
    return this.store.changes(o);
  }

  /**
   * Changes one record: `change` gets the current record (or null) and returns the new one, or null to
   * leave it. It may run more than once (after a conflict), so it must derive everything from its
   * argument. Changes to one id from this process run one at a time, which keeps conflicts to other writers.
   */
  update(id: string, change: Change): Promise<JobRecord | null> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const run = prev.catch(() => {}).then(() => this.apply(id, change));
    this.locks.set(id, run);
    void run.finally(() => {
      if (this.locks.get(id) === run) this.locks.delete(id);
    }).catch(() => {});
    return run;
  }

  private async apply(id: string, change: Change): Promise<JobRecord | null> {
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const cur = await this.store.get(id);
      const changed = await change(cur?.rec ?? null);
      if (!changed) return null;
      // Every write that ends a job queues its webhook event in the same write (an outbox).
      const next = noteTransition(cur?.rec ?? null, cur ? rising(cur.rec, changed) : changed);
      if ((await this.store.put(next, cur?.version ?? null)) !== null) {
        for (const l of this.listeners) l(next);
        return next;
      }
      // Lost a race: back off a little (with jitter, so two losers do not collide again) and re-read.
      await sleep(Math.random() * Math.min(200, 5 * 2 ** attempt));
    }
    throw new Contention(`job ${id} changed under every one of ${this.maxAttempts} attempts`);
  }

  subscribe(listener: JobListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/**
 * Each job's updatedAt goes up with every write, even when the writer's clock is behind the last
 * writer's: readers (the change feed, the page, the event stream) keep the copy with the newest updatedAt.
 */
function rising(prev: JobRecord, next: JobRecord): JobRecord {
  if (next.job.updatedAt > prev.job.updatedAt) return next;
  const updatedAt = new Date(Date.parse(prev.job.updatedAt) + 1).toISOString();
  return { ...next, job: { ...next.job, updatedAt } };
}
