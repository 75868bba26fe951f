// The Lambda events and results the services' entry points take and give (the fields used here),
// shared by ingest's and the bot's functions so that neither imports the other.
import type { Logger } from "../log.ts";

/** The function URL event, payload format 2.0. */
export interface UrlEvent {
  version: "2.0";
  rawPath: string;
  rawQueryString?: string;
  cookies?: string[];
  headers?: Record<string, string | undefined>;
  body?: string;
  isBase64Encoded?: boolean;
  requestContext: { http: { method: string }; domainName?: string };
}

export interface UrlResult {
  statusCode: number;
  headers: Record<string, string>;
  cookies?: string[];
  body: string;
  isBase64Encoded: boolean;
}

export interface SqsEvent {
  Records: { messageId: string; body: string; eventSource?: string; attributes?: { ApproximateReceiveCount?: string } }[];
}

/** With ReportBatchItemFailures: SQS redelivers only the records named here. */
export interface SqsBatchResult {
  batchItemFailures: { itemIdentifier: string }[];
}

export interface SnsEvent {
  Records: { Sns?: { Message?: string } }[];
}

/** Whether an event is a function URL event (anyone able to invoke a function may send it anything). */
export const isUrlEvent = (e: UrlEvent): boolean => e?.version === "2.0" && typeof e.requestContext?.http?.method === "string";

/** A function URL event's headers, names in lower case. */
export function urlEventHeaders(event: UrlEvent): Record<string, string | undefined> {
  const headers: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(event.headers ?? {})) headers[k.toLowerCase()] = v;
  return headers;
}

/** A function URL event's body as bytes. */
export const urlEventBody = (event: UrlEvent): Buffer =>
  event.body ? Buffer.from(event.body, event.isBase64Encoded ? "base64" : "utf8") : Buffer.alloc(0);

/** The failed records of a batch, from its records' settled results (in the same order), each logged. */
export function batchFailures(event: SqsEvent, results: PromiseSettledResult<unknown>[], log: Logger, what = "message"): SqsBatchResult {
  for (const [i, r] of results.entries()) {
    if (r.status === "rejected") log.warn(`${what} failed; SQS will redeliver it`, { messageId: event.Records[i]!.messageId, err: r.reason });
  }
  return { batchItemFailures: event.Records.filter((_, i) => results[i]!.status === "rejected").map((r) => ({ itemIdentifier: r.messageId })) };
}
