// The one path by which a job record changes: read, apply a change (lib/job-record.ts), add the write
// rules (`written`), write back on the version read; when another writer got there first, apply again to
// what that writer left. Used by ingest's registry, the sweeper and the seedboxes' leases alike.
import { isNoUsage, monthOf, subUsage, usageOf } from "./cost.ts";
import { written, type JobRecord } from "./job-record.ts";
import type { JobStore } from "./job-store.ts";
import { sleep } from "./time.ts";

export type Change = (rec: JobRecord | null) => JobRecord | null | Promise<JobRecord | null>;

export class Contention extends Error {
  override name = "Contention";
}

/**
 * `change` gets the current record (or null) and returns the new one, or null to leave it; it may run
 * more than once, so it must derive everything from its argument. Returns what was written, or null.
 */
export async function updateRecord(store: JobStore, id: string, change: Change, o: { maxAttempts?: number; nowMs?: () => number } = {}): Promise<JobRecord | null> {
  const maxAttempts = o.maxAttempts ?? 20;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const cur = await store.get(id);
    const changed = await change(cur?.rec ?? null);
    if (!changed) return null;
    const next = written(cur?.rec ?? null, changed);
    if ((await store.put(next, cur?.version ?? null)) !== null) {
      // The month's totals follow the job's usage. Added after the write: a crash between the two loses
      // this change from the month (an estimate that errs low), never counts it twice.
      const delta = subUsage(usageOf(next), usageOf(cur?.rec ?? null));
      if (!isNoUsage(delta)) await store.addUsage(monthOf(new Date((o.nowMs ?? Date.now)()).toISOString()), delta);
      return next;
    }
    // Lost a race: back off a little (with jitter, so two losers do not collide again) and re-read.
    await sleep(Math.random() * Math.min(200, 5 * 2 ** attempt));
  }
  throw new Contention(`job ${id} changed under every one of ${maxAttempts} attempts`);
}
