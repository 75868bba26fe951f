// The job registry: ingest's way to read and change jobs in the job store, through the one update path
// (lib/job-update.ts) and its write rules. Listeners hear of every change made here.
import type { JobRecord } from "../lib/job-record.ts";
import type { Changes, JobStore, Page } from "../lib/job-store.ts";
import { updateRecord, type Change } from "../lib/job-update.ts";

export { Contention, type Change } from "../lib/job-update.ts";
export type JobListener = (rec: JobRecord) => void;

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
    const next = await updateRecord(this.store, id, change, { maxAttempts: this.maxAttempts });
    if (next) for (const l of this.listeners) l(next);
    return next;
  }

  subscribe(listener: JobListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
