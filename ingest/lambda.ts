// ingest on AWS Lambda: the function URL (payload v2.0) adapted to the same API handler as the
// node:http server, and the facts queue's SQS events fed to the same facts handler (two functions).
// Only clients, config and a best-effort rate limiter outlive an invocation. Job records live in the
// job store (DynamoDB), where every write is conditional, so any number of instances may write.
import { join } from "node:path";
import { awsClients, type AwsClients } from "../lib/aws/clients.ts";
import { Bucket } from "../lib/aws/bucket.ts";
import { JobTable } from "../lib/aws/job-table.ts";
import { SSMClient } from "@aws-sdk/client-ssm";
import { getParameters } from "../lib/aws/ssm.ts";
import { topicPublisher } from "../lib/aws/topic.ts";
import { awsConfig, ConfigError, str, type AwsConfig, type Env } from "../lib/config.ts";
import { AppError, errorBody } from "../lib/errors.ts";
import { createLogger, levelFromEnv, type Logger } from "../lib/log.ts";
import type { UpdateMessage } from "../lib/messages.ts";
import { nowIso } from "../lib/time.ts";
import { createApi, maxBodyBytes, storageOrigin, type ApiResponse } from "./api.ts";
import { Auth } from "./auth.ts";
import { apiTunables, type ApiTunables } from "./config.ts";
import { factsHandler } from "./facts.ts";
import { FetchGuard } from "./fetch-guard.ts";
import { presentJob } from "./present.ts";
import { sweepOnce } from "./sweeper.ts";
import { RateLimiter } from "./rate-limit.ts";
import { JobRegistry } from "./registry.ts";
import { loadWebFiles, type WebFiles } from "./web.ts";
import { outbox as webhookOutbox, webhookHandler as webhookDelivery } from "./webhooks.ts";
import { queueDepth, queueSender, type QueueMessage } from "../lib/aws/queue.ts";
import { autoScalingClient, Fleet } from "../lib/aws/fleet.ts";
import { fleetScaler, type ScaleUp } from "./scale-up.ts";

/** The function URL event, payload format 2.0 (the fields used here). */
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

export interface SqsBatchResult {
  batchItemFailures: { itemIdentifier: string }[];
}

export interface LambdaConfig extends ApiTunables {
  aws: AwsConfig;
  apiToken: string;
  signingSecret: string;
  publicUrl: string;
}

/** Runs an SQS batch's records at once and reports the failed ones (SQS redelivers only those). */
async function batch(event: SqsEvent, handle: (m: QueueMessage) => Promise<void>, flush: () => Promise<unknown>, log: Logger): Promise<SqsBatchResult> {
  const results = await Promise.allSettled(event.Records.map((r) =>
    handle({ messageId: r.messageId, body: r.body, receiveCount: Number(r.attributes?.ApproximateReceiveCount ?? 1) })));
  await flush();
  for (const [i, r] of results.entries()) {
    if (r.status === "rejected") log.warn("message failed; SQS will redeliver it", { messageId: event.Records[i]!.messageId, err: r.reason });
  }
  return { batchItemFailures: event.Records.filter((_, i) => results[i]!.status === "rejected").map((r) => ({ itemIdentifier: r.messageId })) };
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
  const values = await read([names.apiToken, names.signingSecret, names.publicUrl]);
  return {
    aws: awsConfig(env),
    apiToken: values[names.apiToken]!,
    signingSecret: values[names.signingSecret]!,
    publicUrl: values[names.publicUrl]!.replace(/\/+$/, ""),
    ...apiTunables(env, new Set()),
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
  const now = d.now ?? nowIso;
  const bucket = new Bucket(d.clients.s3, cfg.aws.bucket);
  const auth = new Auth({ apiToken: cfg.apiToken, signingSecret: cfg.signingSecret, secureCookie: cfg.publicUrl.startsWith("https:") });
  const guard = new FetchGuard(cfg.fetch);
  const publishRequest = topicPublisher(d.clients.sns, cfg.aws.requestsTopicArn);
  const publishUpdate = topicPublisher(d.clients.sns, cfg.aws.updatesTopicArn);
  // Per warm instance only: Lambda runs several instances, so this limit is best effort.
  const limiter = new RateLimiter(cfg.rate);
  if (!cfg.jobs.table) throw new ConfigError("T2S_JOBS_TABLE is not set: on Lambda the job store is DynamoDB");
  const store = new JobTable({ client: d.clients.dynamodb, table: cfg.jobs.table, retentionDays: cfg.jobs.retentionDays });

  const scaleUp: ScaleUp = d.fleet && cfg.fleet
    ? fleetScaler({ fleet: d.fleet, openJobs: () => queueDepth(d.clients.sqs, cfg.aws.requestsQueueUrl), perBox: cfg.fleet.perBox, maxSeedboxes: cfg.fleet.maxSeedboxes, log })
    : async () => {};

  /** A registry for one invocation; its job updates are published before the invocation returns. */
  let origin: Promise<string | null> | null = null;
  const sendWebhook = cfg.webhooks.queueUrl ? queueSender(d.clients.sqs, cfg.webhooks.queueUrl) : null;
  const session = () => {
    const registry = new JobRegistry(store);
    const pending: Promise<void>[] = [];
    registry.subscribe((rec) => {
      const msg: UpdateMessage = { v: 1, type: "job", job: presentJob(rec, cfg.publicUrl, auth, now()) };
      pending.push(publishUpdate(msg).catch((err) => log.warn("could not publish job update", { job: rec.job.id, err })));
    });
    const outbox = sendWebhook ? webhookOutbox({ registry, send: sendWebhook, now }) : null;
    return { registry, outbox, flush: () => Promise.all(pending) };
  };

  return {
    async http(event, remainingMs) {
      const method = event.requestContext.http.method.toUpperCase();
      const body = event.body ? Buffer.from(event.body, event.isBase64Encoded ? "base64" : "utf8") : Buffer.alloc(0);
      if (body.length > maxBodyBytes) {
        const e = new AppError("too_large", "The request body is larger than 16 MiB.");
        return toResult({ status: e.status, headers: { "content-type": "application/json; charset=utf-8" } }, Buffer.from(JSON.stringify(errorBody(e))));
      }
      const headers: Record<string, string | undefined> = {};
      for (const [k, v] of Object.entries(event.headers ?? {})) headers[k.toLowerCase()] = v;
      if (event.cookies?.length) headers.cookie = event.cookies.join("; ");
      const stop = new AbortController();
      const timer = setTimeout(() => stop.abort(), Math.max(1000, (remainingMs?.() ?? 30_000) - 1000));
      const { registry, outbox, flush } = session();
      origin ??= storageOrigin(bucket);
      const found = await origin;
      if (found === null) origin = null; // try again on the next request
      const api = createApi({
        registry, bucket, auth, guard, publishRequest, outbox, storageOrigin: found, publicUrl: cfg.publicUrl, linkTtlS: cfg.linkTtlS, web: d.web, limiter, log, now, live: "changes", scaleUp,
      });
      try {
        const r = await api.handle({
          method, path: event.rawPath || "/", query: new URLSearchParams(event.rawQueryString ?? ""), headers, body, signal: stop.signal,
        });
        const out = r.events ? await snapshot(r.events, stop) : Buffer.from(r.body ?? "");
        await flush();
        return toResult(r, method === "HEAD" ? Buffer.alloc(0) : out);
      } finally {
        clearTimeout(timer);
      }
    },

    async sqs(event) {
      const { registry, outbox, flush } = session();
      const handle = factsHandler({ registry, bucket, publishRequest, log, now, retentionDays: cfg.jobs.retentionDays, outbox });
      return batch(event, (m) => handle(m), flush, log);
    },

    async webhooks(event) {
      if (!sendWebhook) throw new Error("ingest: T2S_WEBHOOKS_QUEUE_URL is not set");
      const { registry, flush } = session();
      const stop = new AbortController();
      const handle = webhookDelivery({
        registry, send: sendWebhook, guard, secret: auth.webhookSecret, log: log.with({ queue: "webhooks" }), retryBaseS: cfg.webhooks.retryBaseS,
        present: (rec) => presentJob(rec, cfg.publicUrl, auth, now()),
      });
      return batch(event, (m) => handle(m, stop.signal), flush, log);
    },

    scaleUp,
    async sweep() {
      const requeued = await sweepOnce({ store, publishRequest, timing: cfg.lease, log: log.with({ part: "sweeper" }), limit: cfg.sweep.limit });
      // Requeued work needs a seedbox to take it: one may be gone with the lease it lost.
      if (requeued > 0) await scaleUp();
      return { requeued };
    },
  };

}

/** Builds the app once per cold start: config, secrets from SSM, clients and the page files. */
export async function coldStart(env: Env, log: Logger): Promise<LambdaApp> {
  const region = str(env, "AWS_REGION", "us-east-1");
  const ssm = new SSMClient({ region, ...(env.AWS_ENDPOINT_URL ? { endpoint: env.AWS_ENDPOINT_URL } : {}) });
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

/** The function URL's entry point (index.httpHandler): HTTP events only. */
export async function httpHandler(event: UrlEvent, context?: { getRemainingTimeInMillis?: () => number }): Promise<UrlResult> {
  // Anyone may invoke this function directly (see stacks/ingest-lambda.ts): take nothing but HTTP events.
  if (event?.version !== "2.0" || typeof event.rawPath !== "string" || typeof event.requestContext?.http?.method !== "string") {
    throw new Error("ingest: not a function URL event");
  }
  return (await started()).http(event, context?.getRemainingTimeInMillis?.bind(context));
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
