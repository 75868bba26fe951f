// The sweeper: open jobs whose lease ran out (a dead or lost seedbox) or whose request went unanswered
// are requested again, and outboxes a writer could not empty are handed on again, a bounded number per
// run, found through the store's index of jobs by due time (the cost does not grow with the number of
// jobs). Duplicate requests are harmless: a seedbox drops a request for a job another live seedbox
// holds, or one that has ended.
import type { Publish } from "../lib/aws/topic.ts";
import { dueOf, holds, requestAgain, requestDue, requestOf } from "../lib/job-record.ts";
import type { JobStore } from "../lib/job-store.ts";
import { updateRecord } from "../lib/job-update.ts";
import type { LeaseTiming } from "../lib/lease.ts";
import type { Logger } from "../lib/log.ts";
import { sleep } from "../lib/time.ts";
import type { Outbox } from "./outbox.ts";

export interface SweeperDeps {
  store: JobStore;
  publishRequest: Publish;
  /** Hands on what a record's outbox still holds (job updates, webhook events). */
  outbox: Outbox;
  timing: LeaseTiming;
  log: Logger;
  /** Jobs requeued per run at most. */
  limit: number;
  nowMs?: () => number;
}

/** One run: requeues what is due now and retries due outboxes; returns how many jobs it requested again. */
export async function sweepOnce(d: SweeperDeps): Promise<number> {
  const nowMs = (d.nowMs ?? Date.now)();
  const due = await d.store.overdue({ upTo: new Date(nowMs).toISOString(), after: null, limit: d.limit });
  let requeued = 0;
  for (const { rec } of due) {
    const id = rec.job.id;
    // Never throws; what fails again waits longer (outboxRetry).
    if (holds(rec) && Date.parse(rec.outbox?.due ?? rec.job.updatedAt) <= nowMs) await d.outbox.flush(id, rec);
    const next = requestAgain(rec, nowMs, d.timing);
    if (!next) continue;
    if (next.job.status === "failed") {
      // Requested too often: the job ends here, with no request and no seedbox raised for it.
      try {
        const ended = await updateRecord(d.store, id, (r) => (r ? requestAgain(r, nowMs, d.timing) : null));
        d.log.warn("job failed: requested too often", { job: id, requests: rec.requests ?? 0 });
        // Its notices go now; the outbox keeps them for the next run if they cannot.
        if (ended) await d.outbox.flush(id, ended);
      } catch (err) {
        d.log.warn("could not end a job requested too often; the next run tries again", { job: id, err });
      }
      continue;
    }
    try {
      // The request goes out first: if the write after it fails, the job is merely requested twice.
      await d.publishRequest(requestOf(rec));
      // Moves the due time on, unless the job was taken or ended meanwhile.
      await updateRecord(d.store, id, (r) => (r ? requestAgain(r, nowMs, d.timing) : null));
      requeued++;
      d.log.info("job requested again", { job: id, lease: rec.lease ?? null });
    } catch (err) {
      d.log.warn("could not request a job again; the next run tries again", { job: id, err });
    }
  }
  return requeued;
}

/**
 * Every open job requested again at once (local mode at start: its queues start empty after a restart).
 * Walks the open jobs once, in due order; writes nothing.
 */
export async function requestAllOpen(d: Pick<SweeperDeps, "store" | "publishRequest" | "log">): Promise<number> {
  let after: { due: string; id: string } | null = null;
  let n = 0;
  for (;;) {
    const page = await d.store.overdue({ upTo: "9999-12-31T23:59:59.999Z", after, limit: 100 });
    if (page.length === 0) break;
    for (const { rec } of page) {
      // Ended jobs are in the index only for their outbox (the sweeper hands it on).
      if (requestDue(rec) === null) continue;
      await d.publishRequest(requestOf(rec));
      n++;
    }
    // The position is what the index sorts by (dueOf), also for records without a due time of their own.
    const last = page.at(-1)!.rec;
    after = { due: dueOf(last)!, id: last.job.id };
  }
  if (n > 0) d.log.info("open jobs requested again at start", { count: n });
  return n;
}

/** Local mode: runs the sweeper every interval until the signal aborts. */
export async function runSweeper(d: SweeperDeps, intervalMs: number, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    await sleep(intervalMs, signal).catch(() => {});
    if (signal.aborted) break;
    await sweepOnce(d).catch((err) => d.log.warn("sweep failed; trying again at the next interval", { err }));
  }
}
