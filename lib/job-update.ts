// One change to one job record through the job store's conditional writes: read, apply, write back on the
// version read; when another writer got there first, apply again to what that writer left. Used by
// ingest's registry and by the seedboxes' leases alike.
import type { JobRecord } from "./apply-fact.ts";
import type { JobStore } from "./job-store.ts";
import { sleep } from "./time.ts";

export type Change = (rec: JobRecord | null) => JobRecord | null | Promise<JobRecord | null>;

export class Contention extends Error {
  override name = "Contention";
}

/**
 * `change` gets the current record (or null) and returns the new one, or null to leave it; it may run
 * more than once, so it must derive everything from its argument. `finish` turns the change into what is
 * written (given the record it was made from). Returns what was written, or null.
 */
export async function updateRecord(
  store: JobStore, id: string, change: Change,
  o: { maxAttempts?: number; finish?: (cur: JobRecord | null, next: JobRecord) => JobRecord } = {},
): Promise<JobRecord | null> {
  const maxAttempts = o.maxAttempts ?? 20;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const cur = await store.get(id);
    const changed = await change(cur?.rec ?? null);
    if (!changed) return null;
    const next = o.finish ? o.finish(cur?.rec ?? null, changed) : changed;
    if ((await store.put(next, cur?.version ?? null)) !== null) return next;
    // Lost a race: back off a little (with jitter, so two losers do not collide again) and re-read.
    await sleep(Math.random() * Math.min(200, 5 * 2 ** attempt));
  }
  throw new Contention(`job ${id} changed under every one of ${maxAttempts} attempts`);
}

/**
 * Each job's updatedAt goes up with every visible write, even when the writer's clock is behind the last
 * writer's: readers (the change feed, the page, the event stream) keep the copy with the newest updatedAt.
 */
export function rising(prev: JobRecord, next: JobRecord): JobRecord {
  if (next.job.updatedAt > prev.job.updatedAt) return next;
  const updatedAt = new Date(Date.parse(prev.job.updatedAt) + 1).toISOString();
  return { ...next, job: { ...next.job, updatedAt } };
}
