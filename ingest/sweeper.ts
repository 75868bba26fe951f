// The sweeper: open jobs whose lease ran out (a dead or lost seedbox) or whose request went unanswered
// are requested again, and outboxes a writer could not empty are handed on again, a bounded number per
// run, found through the store's index of jobs by due time (the cost does not grow with the number of
// jobs). Duplicate requests are harmless: a seedbox drops a request for a job another live seedbox
// holds, or one that has ended.
import type { Publish } from "../lib/aws/topic.ts";
import { dueOf, holdForBudget, holds, openPastBound, releaseHold, requestAgain, requestDue, requestOf, stuckJobMessage, type JobRecord } from "../lib/job-record.ts";
import type { BudgetDecision } from "../lib/cost.ts";
import type { Costs } from "./costs.ts";
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
  /** An overdue job open longer than this is logged as stuck (the alarm's signal); default 2 h. */
  stuckMs?: number;
  nowMs?: () => number;
  /** The budget guard: jobs held for it go out once the month's estimate is under the budget again. */
  costs?: Pick<Costs, "decision" | "recheckMs">;
}

/** One run: requeues what is due now and retries due outboxes; returns how many jobs it requested again. */
export async function sweepOnce(d: SweeperDeps): Promise<number> {
  const nowMs = (d.nowMs ?? Date.now)();
  const due = await d.store.overdue({ upTo: new Date(nowMs).toISOString(), after: null, limit: d.limit });
  let requeued = 0;
  // One look at the budget per run, only when a held job is due.
  let decision: Promise<BudgetDecision> | null = null;
  for (const { rec } of due) {
    const id = rec.job.id;
    // Never throws; what fails again waits longer (outboxRetry).
    if (holds(rec) && Date.parse(rec.outbox?.due ?? rec.job.updatedAt) <= nowMs) await d.outbox.flush(id, rec);
    if (rec.job.reason === "budget") {
      decision ??= d.costs?.decision() ?? Promise.resolve("open" as const);
      if (await releaseHeld(d, rec, nowMs, await decision)) requeued++;
      continue;
    }
    const next = requestAgain(rec, nowMs, d.timing);
    if (!next) continue;
    if (openPastBound(rec, nowMs, d.stuckMs ?? 2 * 3_600_000)) {
      d.log.warn(stuckJobMessage, { job: id, status: rec.job.status, openMinutes: Math.round((nowMs - Date.parse(rec.job.createdAt)) / 60_000), requests: rec.requests ?? 0 });
    }
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

/** A job held for the budget: still held (due again later), or released and requested; true when requested. */
async function releaseHeld(d: SweeperDeps, rec: JobRecord, nowMs: number, decision: BudgetDecision): Promise<boolean> {
  const id = rec.job.id;
  try {
    if (decision === "budget") {
      await updateRecord(d.store, id, (r) => (r?.job.reason === "budget" ? holdForBudget(r, nowMs, d.costs!.recheckMs) : null));
      return false;
    }
    // Released before the request goes out: a crash between the two leaves an unheld job the sweeper requests again.
    const released = await updateRecord(d.store, id, (r) => (r ? releaseHold(r, nowMs, d.timing) : null));
    if (!released) return false;
    await d.publishRequest(requestOf(released));
    d.log.info("job released: under the month's budget", { job: id });
    return true;
  } catch (err) {
    d.log.warn("could not look at a job held for the budget; the next run tries again", { job: id, err });
    return false;
  }
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
      // Held for the budget: the sweeper releases it when the month allows.
      if (rec.job.reason === "budget") continue;
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
