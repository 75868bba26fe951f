// Webhook delivery: the record's outbox (ingest/outbox.ts) hands events to the webhook queue, and the queue's
// consumer (a loop in local mode, a Lambda in AWS mode) POSTs them through the SSRF guard, signed,
// re-queueing each failure with a growing delay for up to 24 h. Nothing waits in a process: a dead
// receiver costs queue messages, never time in the facts pipeline.
import type { JobRecord } from "../lib/job-record.ts";
import type { QueueMessage, SendMessage } from "../lib/aws/queue.ts";
import { AppError } from "../lib/errors.ts";
import type { Job } from "../lib/job.ts";
import type { Logger } from "../lib/log.ts";
import {
  eventId, maxDelayS, parseWebhookMessage, retryableStatus, retryDelayS, retryWindowMs, signatureHeader,
  type PendingEvent, type WebhookMessage,
} from "../lib/webhook.ts";
import type { FetchGuard } from "./fetch-guard.ts";
import type { JobRegistry } from "./registry.ts";

function message(p: Pick<PendingEvent, "id" | "event" | "at">, job: string, url: string, due: string): WebhookMessage {
  return { v: 1, type: "webhook", job, event: p.event, eventId: p.id, at: p.at, url, attempt: 1, firstAt: due, due };
}

/** Queues a job's pending webhook events, one message per URL (ingest/outbox.ts clears them after). */
export async function queueEvents(send: SendMessage, rec: JobRecord, pending: PendingEvent[], now: string): Promise<void> {
  const id = rec.job.id;
  for (const p of pending) {
    for (const url of p.url ? [p.url] : rec.hooks?.urls ?? []) {
      await send(message(p, id, url, now), 0);
      // The expiry is known at completion: its event waits in the queue, hop by hop, until it is due.
      const exp = rec.job.expiresAt;
      if (p.event === "completed" && exp && exp > now) {
        await send(message({ id: eventId(id, "expired", exp), event: "expired", at: exp }, id, url, exp), Math.min(maxDelayS, (Date.parse(exp) - Date.parse(now)) / 1000));
      }
    }
  }
}

export interface WebhookDeps {
  registry: JobRegistry;
  send: SendMessage;
  guard: Pick<FetchGuard, "post">;
  /** The key receivers verify with. */
  secret: string;
  present: (rec: JobRecord) => Job;
  log: Logger;
  /** The first retry's delay; it doubles up to an hour. */
  retryBaseS: number;
  clock?: () => number;
}

/** Handles one webhook queue message: wait longer, deliver, or re-queue the next try. */
export function webhookHandler(d: WebhookDeps): (msg: QueueMessage, signal: AbortSignal) => Promise<void> {
  const clock = d.clock ?? Date.now;
  return async (qm, signal) => {
    const m = parseWebhookMessage(qm.body);
    // Never the URL: it may carry the receiver's own secret.
    const log = d.log.with({ job: m.job, event: m.event, eventId: m.eventId, attempt: m.attempt });
    const now = clock();
    const wait = Math.ceil((Date.parse(m.due) - now) / 1000);
    if (wait > 1) return d.send(m, Math.min(maxDelayS, wait));
    const rec = await d.registry.record(m.job);
    if (!rec) return log.info("webhook dropped: the job is gone");
    // A scheduled expiry that no longer holds (the job was fetched anew, or its files deleted earlier).
    if (m.event === "expired" && (rec.job.status !== "completed" || rec.job.expiresAt !== m.at)) return log.debug("webhook dropped: superseded");
    const body = JSON.stringify({ id: m.eventId, event: m.event, at: m.at, job: d.present(rec) });
    let outcome: string;
    let retry = true;
    try {
      const status = await d.guard.post(m.url, body, {
        "content-type": "application/json",
        "t2s-event": m.event,
        "t2s-event-id": m.eventId,
        "t2s-attempt": String(m.attempt),
        "t2s-signature": signatureHeader(d.secret, Math.floor(now / 1000), body),
      }, signal);
      if (status >= 200 && status < 300) return log.info("webhook delivered", { status });
      outcome = `HTTP ${status}`;
      retry = retryableStatus(status);
    } catch (err) {
      if (signal.aborted) throw err; // shutting down: the message comes back as it was
      outcome = err instanceof AppError ? `${err.code}: ${err.message}` : String(err);
      // A URL that now resolves to a private address stays refused; other errors are timeouts and resets.
      retry = !(err instanceof AppError && (err.code === "url_blocked" || err.code === "invalid_url"));
    }
    if (!retry) return log.warn("webhook refused; not retrying", { outcome });
    const delay = retryDelayS(m.attempt, d.retryBaseS);
    if (now + delay * 1000 - Date.parse(m.firstAt) > retryWindowMs) return log.warn("webhook given up after 24 h of retries", { outcome });
    await d.send({ ...m, attempt: m.attempt + 1, due: new Date(now + delay * 1000).toISOString() }, Math.min(maxDelayS, delay));
    log.warn("webhook failed; will retry", { outcome, retryInS: delay });
  };
}
