// ingest: wires config, AWS clients, the registry, the API over node:http, and the facts consumer.
import { once } from "node:events";
import { awsClients, destroyClients } from "../lib/aws/clients.ts";
import { Bucket } from "../lib/aws/bucket.ts";
import { openJobStore } from "../lib/open-job-store.ts";
import { consumeQueue, queueDepth, queueSender } from "../lib/aws/queue.ts";
import { autoScalingClient, Fleet } from "../lib/aws/fleet.ts";
import { topicPublisher } from "../lib/aws/topic.ts";
import { createLogger } from "../lib/log.ts";
import type { UpdateMessage } from "../lib/messages.ts";
import { nowIso } from "../lib/time.ts";
import { createApi, storageOrigin } from "./api.ts";
import { Auth } from "./auth.ts";
import { ingestConfig } from "./config.ts";
import { factsHandler } from "./facts.ts";
import { FetchGuard } from "./fetch-guard.ts";
import { serveHttp } from "./http.ts";
import { requestAllOpen, runSweeper } from "./sweeper.ts";
import { presentJob } from "./present.ts";
import { RateLimiter } from "./rate-limit.ts";
import { JobRegistry } from "./registry.ts";
import { loadWebFiles } from "./web.ts";
import { outbox as webhookOutbox, webhookHandler } from "./webhooks.ts";
import { fleetScaler } from "./scale-up.ts";

const cfg = ingestConfig(process.env);
const log = createLogger("ingest", { level: cfg.logLevel });
const shutdown = new AbortController();
for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => shutdown.abort());

const clients = awsClients(cfg.aws);
const bucket = new Bucket(clients.s3, cfg.aws.bucket);
const store = openJobStore(cfg.jobs, clients.dynamodb);
const registry = new JobRegistry(store);
const auth = new Auth({ apiToken: cfg.apiToken, signingSecret: cfg.signingSecret, secureCookie: cfg.publicUrl.startsWith("https:") });
const guard = new FetchGuard(cfg.fetch);
const publishRequest = topicPublisher(clients.sns, cfg.aws.requestsTopicArn);
const publishUpdate = topicPublisher(clients.sns, cfg.aws.updatesTopicArn);

registry.subscribe((rec) => {
  const msg: UpdateMessage = { v: 1, type: "job", job: presentJob(rec, cfg.publicUrl, auth, nowIso()) };
  publishUpdate(msg).catch((err) => log.warn("could not publish job update", { job: rec.job.id, err }));
});

const sendWebhook = cfg.webhooks.queueUrl ? queueSender(clients.sqs, cfg.webhooks.queueUrl) : null;
const outbox = sendWebhook ? webhookOutbox({ registry, send: sendWebhook, now: nowIso }) : null;

// Only with T2S_FLEET_GROUP (a fleet on AWS); local mode runs its seedboxes itself.
const scaleUp = cfg.fleet && fleetScaler({
  fleet: new Fleet(autoScalingClient(cfg.aws), cfg.fleet.group), openJobs: () => queueDepth(clients.sqs, cfg.aws.requestsQueueUrl),
  perBox: cfg.fleet.perBox, maxSeedboxes: cfg.fleet.maxSeedboxes, log,
});
const api = createApi({
  registry, bucket, auth, guard, publishRequest, outbox, storageOrigin: await storageOrigin(bucket),
  publicUrl: cfg.publicUrl, linkTtlS: cfg.linkTtlS, web: await loadWebFiles(cfg.webDir), limiter: new RateLimiter(cfg.rate), log, now: nowIso, live: "events", ...(scaleUp ? { scaleUp } : {}),
});
const server = serveHttp(api.handle, log);
server.listen(cfg.port, cfg.host);
await once(server, "listening");
log.info("ingest listening", { url: cfg.publicUrl });

const consumer = consumeQueue({
  sqs: clients.sqs,
  queueUrl: cfg.aws.factsQueueUrl,
  handler: factsHandler({ registry, bucket, publishRequest, log, now: nowIso, retentionDays: cfg.jobs.retentionDays, outbox }),
  log: log.with({ queue: "facts" }),
  signal: shutdown.signal,
  waitTimeS: cfg.aws.queueWaitS,
  concurrency: 8,
});
// A consumer of its own, so slow receivers never hold up facts.
const webhooks = !sendWebhook ? Promise.resolve() : consumeQueue({
  sqs: clients.sqs,
  queueUrl: cfg.webhooks.queueUrl!,
  handler: webhookHandler({
    registry, send: sendWebhook, guard, secret: auth.webhookSecret, log: log.with({ queue: "webhooks" }), retryBaseS: cfg.webhooks.retryBaseS,
    present: (rec) => presentJob(rec, cfg.publicUrl, auth, nowIso()),
  }),
  log: log.with({ queue: "webhooks" }),
  signal: shutdown.signal,
  waitTimeS: cfg.aws.queueWaitS,
  concurrency: 8,
});

// Local mode: the queues start empty after a restart, so every open job is requested again now; then the
// sweeper requeues the jobs whose lease ran out (AWS mode schedules the Lambda's sweep instead).
const sweeperDeps = { store, publishRequest, timing: cfg.lease, log: log.with({ part: "sweeper" }), limit: cfg.sweep.limit };
await requestAllOpen(sweeperDeps).catch((err) => log.warn("could not request open jobs again at start", { err }));
const sweeping = runSweeper(sweeperDeps, cfg.sweep.intervalMs, shutdown.signal);

await once(shutdown.signal, "abort");
log.info("ingest stopping");
server.close();
server.closeAllConnections();
await Promise.all([consumer, webhooks, sweeping]);
await guard.close();
store.close();
destroyClients(clients);
log.info("ingest stopped");
