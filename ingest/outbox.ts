// The record's outbox: what a write owes the world (webhook events, the bot's job update) stays in the
// job record until it has been handed on. The writer's session hands it on at once; the sweeper, through
// the store's due index, tries again with backoff whatever a failed publish or a crash left behind. So a
// failed publish delays a notice and never loses it. Delivery is at least once: webhook receivers drop
// repeats by event id, and the bot edits its one message per job.
import { clearSent, endedSent, holds, outboxRetry, updateSent, type JobRecord } from "../lib/job-record.ts";
import type { SendMessage } from "../lib/aws/queue.ts";
import type { Publish } from "../lib/aws/topic.ts";
import type { Job } from "../lib/job.ts";
import type { JobStore } from "../lib/job-store.ts";
import { updateRecord } from "../lib/job-update.ts";
import type { Logger } from "../lib/log.ts";
import type { UpdateMessage } from "../lib/messages.ts";
import type { PendingEvent } from "../lib/webhook.ts";
import { queueEvents } from "./webhooks.ts";

export interface Outbox {
  /**
   * Hands on what the job's record holds, then clears it. `rec` is the record just written, or null to
   * read it. Never throws: what could not be handed on stays in the record for the sweeper. Returns
   * whether everything went out.
   */
  flush(id: string, rec: JobRecord | null): Promise<boolean>;
}

export interface OutboxDeps {
  store: JobStore;
  /** The webhook queue; null when webhooks are not configured. */
  sendWebhook: SendMessage | null;
  publishUpdate: Publish;
  present: (rec: JobRecord) => Job;
  now: () => string;
  log: Logger;
}

export function outbox(d: OutboxDeps): Outbox {
  // One flush per job at a time in this process: a second one waits, then reads what is left.
  const running = new Map<string, Promise<boolean>>();

  const deliver = async (id: string, given: JobRecord | null): Promise<boolean> => {
    const cur = given ?? (await d.store.get(id))?.rec ?? null;
    if (!cur || !holds(cur)) return true;
    const log = d.log.with({ job: id });
    let events: PendingEvent[] = [];
    let update: string | undefined;
    let ended: string | undefined;
    let failure: unknown = null;
    try {
      const pending = cur.hooks?.pending ?? [];
      // Without a webhook queue (configuration changed since) the events have nowhere to go.
      if (pending.length > 0 && d.sendWebhook) await queueEvents(d.sendWebhook, cur, pending, d.now());
      events = pending;
      // A run's end a later change replaced goes first, then the job as it is now.
      if (cur.ended !== undefined) {
        await d.publishUpdate({ v: 1, type: "job", job: d.present({ ...cur, job: cur.ended }) });
        ended = cur.ended.updatedAt;
      }
      if (cur.update !== undefined) {
        const msg: UpdateMessage = { v: 1, type: "job", job: d.present(cur) };
        await d.publishUpdate(msg);
        update = cur.update;
      }
    } catch (err) {
      failure = err;
    }
    const nowMs = Date.parse(d.now());
    try {
      // One write clears what went out and, after a failure, sets when the sweeper tries again.
      await updateRecord(d.store, id, (r) => {
        if (!r) return null;
        let next = r;
        if (events.length > 0) next = clearSent(next, events) ?? next;
        if (ended !== undefined) next = endedSent(next, ended) ?? next;
        if (update !== undefined) next = updateSent(next, update) ?? next;
        if (failure !== null) next = outboxRetry(next, nowMs) ?? next;
        return next === r ? null : next;
      });
    } catch (err) {
      // Left in the record: the sweeper hands it on again (a repeat, never a loss).
      log.warn("could not clear the outbox; the sweeper tries again", { err });
      return false;
    }
    if (failure !== null) {
      log.warn("could not hand on the job's notices; the sweeper tries again", { err: failure });
      return false;
    }
    return true;
  };

  return {
    flush(id, rec) {
      const prev = running.get(id);
      const run = prev ? prev.then(() => deliver(id, null)) : deliver(id, rec);
      running.set(id, run);
      void run.finally(() => {
        if (running.get(id) === run) running.delete(id);
      }).catch(() => {});
      return run.catch((err) => {
        d.log.warn("could not read the job's outbox; the sweeper tries again", { job: id, err });
        return false;
      });
    },
  };
}
