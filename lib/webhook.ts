// Webhooks: the events a job record's outbox keeps (lib/job-record.ts fills it), the messages that carry
// their deliveries, the retry schedule and the signature. Pure; ingest/webhooks.ts does the sending.
import { createHash, createHmac } from "node:crypto";
import { PoisonMessage } from "./messages.ts";

export const webhookEvents = ["completed", "failed", "cancelled", "expired"] as const;
export type WebhookEvent = (typeof webhookEvents)[number];

/** An event that happened to a job but has not been handed to the delivery queue yet (an outbox). */
export interface PendingEvent {
  id: string;
  event: WebhookEvent;
  /** When it happened (the job's updatedAt then; for expired, the expiry time). */
  at: string;
  /** Only this URL (a callback_url added after the job had ended); absent: every URL of the job. */
  url?: string;
}

/** What a job record keeps of its webhooks: a few URLs and a short outbox, never delivery history. */
export interface WebhookState {
  urls: string[];
  pending: PendingEvent[];
}

export const maxCallbackUrls = 3;
export const maxPending = 8;
/** Deliveries are retried for this long after the first attempt. */
export const retryWindowMs = 24 * 3600 * 1000;
/** SQS's longest per-message delay; longer waits are several hops. */
export const maxDelayS = 900;

/** The event's id: the same event always gets the same id, so a receiver can drop repeats. */
export function eventId(jobId: string, event: WebhookEvent, at: string): string {
  return createHash("sha256").update(`${jobId}\n${event}\n${at}`).digest("hex").slice(0, 32);
}

/** One delivery of one event to one URL; re-sent with attempt + 1 after each failure. */
export interface WebhookMessage {
  v: 1;
  type: "webhook";
  job: string;
  event: WebhookEvent;
  eventId: string;
  at: string;
  url: string;
  /** 1 for the first try. */
  attempt: number;
  /** When the first try was (or is due): retries stop 24 h after it. */
  firstAt: string;
  /** Not to be tried before this (waits longer than SQS's 15 min take several hops). */
  due: string;
}

export function parseWebhookMessage(text: string): WebhookMessage {
  let m: Partial<WebhookMessage>;
  try {
    m = JSON.parse(text) as Partial<WebhookMessage>;
  } catch {
    throw new PoisonMessage("webhook message is not JSON", null);
  }
  const str = (v: unknown) => typeof v === "string" && v.length > 0;
  if (m?.v !== 1 || m.type !== "webhook" || !str(m.job) || !webhookEvents.includes(m.event as WebhookEvent) || !str(m.eventId) ||
    !str(m.at) || !str(m.url) || !Number.isInteger(m.attempt) || !str(m.firstAt) || !str(m.due)) {
    throw new PoisonMessage("malformed webhook message", null);
  }
  return m as WebhookMessage;
}

/** The wait before try `attempt + 1`: doubling from `baseS`, at most an hour. ~30 tries fit in 24 h. */
export function retryDelayS(attempt: number, baseS: number): number {
  return Math.min(3600, baseS * 2 ** Math.min(20, attempt - 1));
}

/** Whether an answer is worth trying again: server errors, timeouts, rate limits. */
export function retryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** The signature header's value: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`. */
export function signatureHeader(secret: string, unixS: number, body: string): string {
  const mac = createHmac("sha256", secret).update(`${unixS}.${body}`).digest("hex");
  return `t=${unixS},v1=${mac}`;
}
