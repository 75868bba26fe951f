// ingest on AWS Lambda: the function URL (payload v2.0) adapted to the same API handler as the
// node:http server, and the facts queue's SQS events fed to the same facts handler (two functions).
// Only clients, config and a best-effort rate limiter outlive an invocation. Job records live in the
// job store (DynamoDB), where every write is conditional, so any number of instances may write.
import { join } from "node:path";
import { awsClients, type AwsClients } from "../lib/aws/clients.ts";
import { JobTable } from "../lib/aws/job-table.ts";
import { getParameters, ssmClient } from "../lib/aws/ssm.ts";
import { awsConfig, ConfigError, optional, str, type Env } from "../lib/config.ts";
import { AppError, errorBody } from "../lib/errors.ts";
import { createLogger, levelFromEnv, type Logger } from "../lib/log.ts";
import { nowIso } from "../lib/time.ts";
import {
  batchFailures, urlEventBody, urlEventHeaders, type SqsBatchResult, type SqsEvent, type UrlEvent, type UrlResult,
} from "../lib/aws/lambda-events.ts";
import { maxBodyBytes, storageOrigin, type ApiResponse } from "./api.ts";
import { ingestApp, type AppConfig } from "./app.ts";
import { apiTunables } from "./config.ts";
import { sweepOnce } from "./sweeper.ts";
import { loadWebFiles, type WebFiles } from "./web.ts";
import { qbtPrefix } from "./qbittorrent.ts";
import type { QueueMessage } from "../lib/aws/queue.ts";
import { autoScalingClient, Fleet } from "../lib/aws/fleet.ts";
import type { ScaleUp } from "./scale-up.ts";

export type LambdaConfig = AppConfig;

/** Runs an SQS batch's records at once and reports the failed ones (SQS redelivers only those). */
async function batch(event: SqsEvent, handle: (m: QueueMessage) => Promise<void>, flush: () => Promise<unknown>, log: Logger): Promise<SqsBatchResult> {
  const results = await Promise.allSettled(event.Records.map((r) =>
    handle({ messageId: r.messageId, body: r.body, receiveCount: Number(r.attributes?.ApproximateReceiveCount ?? 1) })));
  await flush();
  return batchFailures(event, results, log);
}

/** The one-shot answer to /api/events asks an EventSource to come back after this long (the page polls /api/changes here). */
export const eventsRetryMs = 10_000;

/** Reads config; secrets come from SSM by the parameter names in the environment. */
export async function lambdaConfig(env: Env, read: (names: string[]) => Promise<Record<string, string>>): Promise<LambdaConfig> {
  const names = {
    apiToken: str(env, "T2S_API_TOKEN_PARAM"),
    signingSecret: str(env, "T2S_SIGNING_SECRET_PARAM"),
    publicUrl: str(env, "T2S_PUBLIC_URL_PARAM"),
  };
  // Only the API function is given the downloads key (stacks/ingest-lambda.ts): it signs the links.
  const keyParam = optional(env, "T2S_CLOUDFRONT_KEY_PARAM");
  const values = await read([names.apiToken, names.signingSecret, names.publicUrl, ...(keyParam ? [keyParam] : [])]);
  const tunables = apiTunables(env, new Set());
  const cloudfront = keyParam ? { keyPairId: str(env, "T2S_CLOUDFRONT_KEY_PAIR_ID"), privateKey: values[keyParam]! } : undefined;
  // The public qBittorrent function has the key pair's id but not its key: it signs no links, yet prices
  // downloads (the budget guard) as the API function does.
  const servedByCloudfront = cloudfront !== undefined || optional(env, "T2S_CLOUDFRONT_KEY_PAIR_ID") !== undefined;
  return {
    aws: awsConfig(env),
    apiToken: values[names.apiToken]!,
    signingSecret: values[names.signingSecret]!,
    publicUrl: values[names.publicUrl]!.replace(/\/+$/, ""),
    ...tunables,
    ...(servedByCloudfront ? { costs: { ...tunables.costs, pricing: { ...tunables.costs.pricing, servedBy: "cloudfront" as const } } } : {}),
    ...(cloudfront ? { cloudfront } : {}),
  };
}

export interface LambdaApp {
  http(event: UrlEvent, remainingMs?: () => number): Promise<UrlResult>;
  sqs(event: SqsEvent): Promise<SqsBatchResult>;
  /** The webhook queue's events: one delivery attempt each. */
  webhooks(event: SqsEvent): Promise<SqsBatchResult>;
  /** Raises the fleet's desired capacity for queued work (a no-op without T2S_FLEET_GROUP); the sweeper calls it after it requeues. */
  scaleUp?: ScaleUp;
  /** One sweeper run (scheduled): requeues jobs whose lease ran out. */
  sweep(): Promise<{ requeued: number }>;
}

function toResult(r: ApiResponse, body: Buffer): UrlResult {
  const headers = { ...r.headers };
  const cookie = headers["set-cookie"];
  delete headers["set-cookie"];
  const text = /^(text\/|application\/json)/.test(headers["content-type"] ?? "") || body.length === 0;
  return {
    statusCode: r.status,
    headers,
    ...(cookie ? { cookies: [cookie] } : {}),
    body: text ? body.toString("utf8") : body.toString("base64"),
    isBase64Encoded: !text,
  };
}

/** Event streams cannot stream through a buffered response: answer at once, with no events. */
async function snapshot(events: AsyncIterable<string>, stop: AbortController): Promise<Buffer> {
  stop.abort();
  let out = "";
  for await (const chunk of events) out += chunk.startsWith("retry:") ? `retry: ${eventsRetryMs}\n\n` : chunk;
  return Buffer.from(out);
}

export function createLambdaApp(d: { cfg: LambdaConfig; clients: AwsClients; web: WebFiles; log: Logger; now?: () => string; fleet?: Fleet }): LambdaApp {
  const { cfg, log } = d;
  if (!cfg.jobs.table) throw new ConfigError("T2S_JOBS_TABLE is not set: on Lambda the job store is DynamoDB");
  const store = new JobTable({ client: d.clients.dynamodb, table: cfg.jobs.table, retentionDays: cfg.jobs.retentionDays });
  // A session per invocation: its job updates are published before the invocation returns.
  const app = ingestApp({ cfg, clients: d.clients, store, web: d.web, log, now: d.now ?? nowIso, fleet: d.fleet });
  const scaleUp: ScaleUp = app.scaleUp ?? (async () => {});
  let origin: Promise<string | null> | null = null;

  return {
    async http(event, remainingMs) {
      const method = event.requestContext.http.method.toUpperCase();
      const body = urlEventBody(event);
      if (body.length > maxBodyBytes) {
        const e = new AppError("too_large", "The request body is larger than 16 MiB.");
        return toResult({ status: e.status, headers: { "content-type": "application/json; charset=utf-8" } }, Buffer.from(JSON.stringify(errorBody(e))));
      }
      const headers = urlEventHeaders(event);
      if (event.cookies?.length) headers.cookie = event.cookies.join("; ");
      const stop = new AbortController();
      const timer = setTimeout(() => stop.abort(), Math.max(1000, (remainingMs?.() ?? 30_000) - 1000));
      const session = app.session();
      // Downloads through CloudFront come from the page's own origin: the CSP names no storage origin.
      origin ??= cfg.cloudfront ? Promise.resolve(null) : storageOrigin(app.bucket);
      const found = await origin;
      if (found === null) origin = null; // try again on the next request
      const api = app.api(session, { live: "changes", storageOrigin: found });
      try {
        const r = await api.handle({
          method, path: event.rawPath || "/", query: new URLSearchParams(event.rawQueryString ?? ""), headers, body, signal: stop.signal,
        });
        const out = r.events ? await snapshot(r.events, stop) : Buffer.from(r.body ?? "");
        await session.flush();
        return toResult(r, method === "HEAD" ? Buffer.alloc(0) : out);
      } finally {
        clearTimeout(timer);
      }
    },

    async sqs(event) {
      const session = app.session();
      const handle = app.facts(session);
      return batch(event, (m) => handle(m), session.flush, log);
    },

    async webhooks(event) {
      const session = app.session();
      const handle = app.webhooks(session);
      if (!handle) throw new Error("ingest: T2S_WEBHOOKS_QUEUE_URL is not set");
      const stop = new AbortController();
      return batch(event, (m) => handle(m, stop.signal), session.flush, log);
    },

    scaleUp,
    async sweep() {
      const requeued = await sweepOnce(app.sweeper);
      // Requeued work needs a seedbox to take it: one may be gone with the lease it lost.
      if (requeued > 0) await scaleUp();
      return { requeued };
    },
  };
}

/** Builds the app once per cold start: config, secrets from SSM, clients and the page files. */
export async function coldStart(env: Env, log: Logger): Promise<LambdaApp> {
  const region = str(env, "AWS_REGION", "us-east-1");
  const ssm = ssmClient({ region, endpoint: env.AWS_ENDPOINT_URL });
  const cfg = await lambdaConfig(env, (names) => getParameters(ssm, names));
  const web = await loadWebFiles(str(env, "T2S_WEB_DIR", join(import.meta.dirname, "web")));
  const fleet = cfg.fleet ? new Fleet(autoScalingClient(cfg.aws), cfg.fleet.group) : undefined;
  return createLambdaApp({ cfg, clients: awsClients(cfg.aws), web, log, fleet });
}

const log = createLogger("ingest", { level: levelFromEnv(process.env.T2S_LOG_LEVEL) });
let app: Promise<LambdaApp> | null = null;

function started(): Promise<LambdaApp> {
  app ??= coldStart(process.env, log).catch((err: Error) => {
    // Logged with its message (it names a missing parameter); the next invocation tries again.
    log.error("ingest cannot start", { err });
    app = null;
    throw err;
  });
  return app;
}

/** Throws unless `event` is a function URL event: a function takes nothing else. */
function needUrlEvent(event: UrlEvent): void {
  if (event?.version !== "2.0" || typeof event.rawPath !== "string" || typeof event.requestContext?.http?.method !== "string") {
    throw new Error("ingest: not a function URL event");
  }
}

/** The function URL's entry point (index.httpHandler): HTTP events only. */
export async function httpHandler(event: UrlEvent, context?: { getRemainingTimeInMillis?: () => number }): Promise<UrlResult> {
  needUrlEvent(event);
  return (await started()).http(event, context?.getRemainingTimeInMillis?.bind(context));
}

/**
 * What the public qBittorrent function answers itself, before any cold start: 404 for every path outside
 * the qBittorrent API, so its URL (auth NONE) reaches nothing else of the API. Null: a qBittorrent call,
 * for the app (which refuses every call but auth/login without a session or the token).
 */
export function outsideQbittorrent(event: UrlEvent): UrlResult | null {
  // The prefix is exactly the qBittorrent routes' pattern (ingest/qbittorrent.ts), and the router matches
  // the raw path as given (no decoding, no dot segments resolved).
  if (event.rawPath.startsWith(qbtPrefix) && event.rawPath.length > qbtPrefix.length) return null;
  return { statusCode: 404, headers: { "content-type": "text/plain; charset=UTF-8", "x-content-type-options": "nosniff", "cache-control": "no-store" }, body: "Not Found", isBase64Encoded: false };
}

/**
 * The public qBittorrent function's entry point (index.qbittorrentHandler), behind its own function URL
 * with auth NONE (stacks/ingest-lambda.ts): Sonarr and Radarr cannot sign their requests.
 */
export async function qbittorrentHandler(event: UrlEvent, context?: { getRemainingTimeInMillis?: () => number }): Promise<UrlResult> {
  needUrlEvent(event);
  return outsideQbittorrent(event) ?? (await started()).http(event, context?.getRemainingTimeInMillis?.bind(context));
}

/** The webhook queue's entry point (index.webhookHandler). */
export async function webhookHandler(event: SqsEvent): Promise<SqsBatchResult> {
  if (!Array.isArray(event?.Records)) throw new Error("ingest: not an SQS event");
  return (await started()).webhooks(event);
}

/** The sweeper's entry point (index.sweep), on a schedule (EventBridge, every minute). */
export async function sweep(event: unknown): Promise<{ requeued: number }> {
  // Only a scheduled event: anyone able to invoke it gains nothing but an early sweep, yet keep to the contract.
  if (typeof event !== "object" || event === null || (event as { source?: unknown }).source !== "aws.events") throw new Error("ingest: not a scheduled event");
  return (await started()).sweep();
}

/** The facts queue's entry point (index.sqsHandler). */
export async function sqsHandler(event: SqsEvent): Promise<SqsBatchResult> {
  if (!Array.isArray(event?.Records)) throw new Error("ingest: not an SQS event");
  return (await started()).sqs(event);
}
