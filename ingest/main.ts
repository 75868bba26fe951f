// ingest: reads config and runs the app (ingest/app.ts) under node:http, with the facts and webhook
// consumers and the sweeper.
import { once } from "node:events";
import { awsClients, destroyClients } from "../lib/aws/clients.ts";
import { openJobStore } from "../lib/open-job-store.ts";
import { consumeQueue } from "../lib/aws/queue.ts";
import { autoScalingClient, Fleet } from "../lib/aws/fleet.ts";
import { createLogger } from "../lib/log.ts";
import { nowIso } from "../lib/time.ts";
import { storageOrigin } from "./api.ts";
import { ingestApp } from "./app.ts";
import { ingestConfig } from "./config.ts";
import { serveHttp } from "./http.ts";
import { requestAllOpen, runSweeper } from "./sweeper.ts";
import { loadWebFiles } from "./web.ts";

const cfg = ingestConfig(process.env);
const log = createLogger("ingest", { level: cfg.logLevel });
const shutdown = new AbortController();
for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => shutdown.abort());

const clients = awsClients(cfg.aws);
const store = openJobStore(cfg.jobs, clients.dynamodb);
// Only with T2S_FLEET_GROUP (a fleet on AWS); local mode runs its seedboxes itself.
const fleet = cfg.fleet ? new Fleet(autoScalingClient(cfg.aws), cfg.fleet.group) : undefined;
const app = ingestApp({ cfg, clients, store, web: await loadWebFiles(cfg.webDir), log, now: nowIso, fleet });
// One session for the process: its job updates go out as they happen.
const session = app.session();
// Streamed links are same-origin: the page's CSP then names no store.
const api = app.api(session, { live: "events", links: cfg.links, storageOrigin: cfg.links === "stream" ? null : await storageOrigin(app.bucket) });
const server = serveHttp(api, log);
server.listen(cfg.port, cfg.host);
await once(server, "listening");
log.info("ingest listening", { url: cfg.publicUrl });

const queue = { sqs: clients.sqs, signal: shutdown.signal, waitTimeS: cfg.aws.queueWaitS, concurrency: 8 };
const consumer = consumeQueue({ ...queue, queueUrl: cfg.aws.factsQueueUrl, handler: app.facts(session), log: log.with({ queue: "facts" }) });
// A consumer of its own, so slow receivers never hold up facts.
const deliver = app.webhooks(session);
const webhooks = !deliver ? Promise.resolve() : consumeQueue({ ...queue, queueUrl: cfg.webhooks.queueUrl!, handler: deliver, log: log.with({ queue: "webhooks" }) });

// Local mode: the queues start empty after a restart, so every open job is requested again now; then the
// sweeper requeues the jobs whose lease ran out (AWS mode schedules the Lambda's sweep instead).
await requestAllOpen(app.sweeper).catch((err) => log.warn("could not request open jobs again at start", { err }));
const sweeping = runSweeper(app.sweeper, cfg.sweep.intervalMs, shutdown.signal);

await once(shutdown.signal, "abort");
log.info("ingest stopping");
server.close();
server.closeAllConnections();
await Promise.all([consumer, webhooks, sweeping]);
await app.guard.close();
store.close();
destroyClients(clients);
log.info("ingest stopped");
