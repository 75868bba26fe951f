// seedbox: wires Deluge, the bucket, the job store's leases, the work kept per job, the monitor, the requests
// consumer, Deluge's finish events, the fleet member and the spot interruption watcher.
import { mkdir } from "node:fs/promises";
import { awsClients, destroyClients } from "../lib/aws/clients.ts";
import { Bucket } from "../lib/aws/bucket.ts";
import { consumeQueue } from "../lib/aws/queue.ts";
import { topicPublisher } from "../lib/aws/topic.ts";
import { filesPrefix, incomingKey } from "../lib/layout.ts";
import { createLogger } from "../lib/log.ts";
import { nowIso, sleep } from "../lib/time.ts";
import { seedboxConfig } from "./config.ts";
import { Deluge } from "./deluge.ts";
import { autoScalingClient, Fleet } from "../lib/aws/fleet.ts";
import { isJobId } from "../lib/job.ts";
import { runFleetMember } from "./fleet-member.ts";
import { instanceId } from "./imds.ts";
import { EarlyUploads } from "./early-upload.ts";
import { freeBytes, totalBytes } from "./disk.ts";
import { Facts } from "./facts.ts";
import { Monitor } from "./monitor.ts";
import { Leases } from "./leases.ts";
import { noRoom, removeCancelled, requestsHandler, type Admission } from "./requests.ts";
import { watchSpot } from "./spot.ts";
import { openJobStore } from "../lib/open-job-store.ts";
import { Uploader } from "./uploader.ts";
import { Work } from "./work.ts";

const cfg = seedboxConfig(process.env);
const log = createLogger("seedbox", { level: cfg.logLevel, base: { seedbox: cfg.seedboxId } });
const shutdown = new AbortController();
for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => shutdown.abort());

await mkdir(cfg.downloadDir, { recursive: true });
const clients = awsClients(cfg.aws);
const bucket = new Bucket(clients.s3, cfg.aws.bucket);
const deluge = new Deluge({ ...cfg.deluge, log });
const facts = new Facts(topicPublisher(clients.sns, cfg.aws.factsTopicArn), nowIso);
const early = cfg.overlapUpload
  ? new EarlyUploads({
    bucket, deluge, partSizeMin: cfg.upload.partSizeMin, concurrency: cfg.upload.queueSize, log,
    torrentOf: (id, signal) => bucket.get(incomingKey(id), signal),
  })
  : undefined;
const uploader = new Uploader({ bucket, roots: [cfg.downloadDir], ...cfg.upload, early, zip: cfg.zip, log });
const store = openJobStore(cfg.jobs, clients.dynamodb);
const publishRequest = topicPublisher(clients.sns, cfg.aws.requestsTopicArn);
// Built in this order, each from the ones before: the work kept per job, the leases (which stop a job's
// work when it is no longer this seedbox's), admission, the monitor, and the requests consumer.
const work = new Work({ deluge, early, freeBytes: () => freeBytes(cfg.downloadDir), diskReserveBytes: cfg.policy.diskReserveBytes });
const leases = new Leases({
  store, me: cfg.seedboxId, timing: cfg.lease, publishRequest, log,
  drop: (id) => work.stop(id, shutdown.signal),
  inEngine: () => deluge.torrentIds(shutdown.signal),
  cancelled: (id) => removeCancelled({ work, bucket, facts, log }, id, shutdown.signal),
  // A holder that died mid-upload left multipart uploads open: the new holder (maybe this seedbox,
  // restarted) uploads anew. Only the taken job's: other seedboxes' uploads go on.
  // A lease taken again starts the job's work afresh: what was kept from an earlier run (uploaded, say) goes.
  taken: async (id) => {
    work.retake(id);
    const n = await bucket.abortUploads(filesPrefix(id));
    if (n > 0) log.info("aborted stale multipart uploads", { job: id, count: n });
  },
});
const maxRoom = (cfg.fleetMaxDiskBytes ?? (await totalBytes(cfg.downloadDir))) - cfg.policy.diskReserveBytes;
const admission: Admission = { work, facts, log, leases, maxTorrents: cfg.maxTorrents, maxHandBacks: cfg.maxHandBacks, maxRoom };
const monitor = new Monitor({
  deluge, facts, uploader, early, work, log, policy: cfg.policy,
  leases: {
    ensure: (id, o) => leases.ensure(id, o), release: (id) => leases.release(id), noRoom: (id, bytes) => noRoom(admission, id, bytes),
    chosen: (id) => leases.chosen(id),
  },
});
const handleRequest = requestsHandler({
  ...admission, deluge, bucket, work, monitor,
  downloadDir: cfg.downloadDir, maxDownloadKiBs: cfg.maxDownloadKiBs, sequential: cfg.overlapUpload,
});

/** Takes no work while this seedbox holds all it may: requests wait in the queue for another seedbox. */
async function hasRoom(signal: AbortSignal): Promise<void> {
  while (!signal.aborted && leases.count() >= cfg.maxTorrents) await sleep(500, signal).catch(() => {});
}

/** Takes no work while Deluge is unreachable, so requests wait in the queue rather than burn retries. */
async function delugeReady(signal: AbortSignal): Promise<void> {
  let logged = false;
  while (!signal.aborted && !(await deluge.healthy(signal))) {
    if (!logged) log.warn("deluge is not reachable; waiting before taking requests");
    logged = true;
    await sleep(1000, signal).catch(() => {});
  }
  if (logged && !signal.aborted) log.info("deluge reachable; taking requests");
}

await delugeReady(shutdown.signal);
// A crash mid-upload leaves multipart uploads open: each job's are aborted as its lease is taken again
// (by the monitor's first pass, for the torrents Deluge still has), and the job uploads anew.

const finishes = deluge.onFinished(() => monitor.kick(), shutdown.signal);
const monitoring = monitor.run(shutdown.signal);
const renewing = leases.run(shutdown.signal);
// Stops on shutdown, on a spot interruption notice (the host is going away: take no more work), and in
// the fleet when the member stops it alone (idle) before it terminates this instance.
const fleet = cfg.fleet && { ...cfg.fleet, self: await instanceId({ baseUrl: cfg.fleet.imdsUrl, signal: shutdown.signal }) };
const taking = new AbortController();
shutdown.signal.addEventListener("abort", () => taking.abort(), { once: true });
const consuming = consumeQueue({
  sqs: clients.sqs,
  queueUrl: cfg.aws.requestsQueueUrl,
  handler: handleRequest,
  log: log.with({ queue: "requests" }),
  signal: taking.signal,
  waitTimeS: cfg.aws.queueWaitS,
  ready: async (signal) => {
    await delugeReady(signal);
    await monitor.firstPass;
    await hasRoom(signal);
  },
});
const member = !fleet ? Promise.resolve() : runFleetMember({
  fleet: new Fleet(autoScalingClient(cfg.aws), fleet.group),
  instanceId: fleet.self,
  holdsWork: async (signal) => leases.count() > 0 || Object.keys(await deluge.statuses(signal)).some(isJobId),
  stopTaking: async () => (taking.abort(), await consuming),
  idleMinutes: fleet.idleMinutes, log, signal: shutdown.signal,
});
const spotWatch = !cfg.spot.enabled ? Promise.resolve() : watchSpot({
  baseUrl: cfg.spot.imdsUrl, pollMs: cfg.spot.pollMs, log, signal: shutdown.signal,
  onNotice: async () => {
    taking.abort();
    await consuming;
    const n = await leases.handBackAll();
    log.info("handed every held job back", { count: n });
  },
});
log.info("seedbox running", { seedbox: cfg.seedboxId, downloadDir: cfg.downloadDir, maxTorrents: cfg.maxTorrents, leaseTimeoutS: cfg.lease.timeoutMs / 1000 });

await Promise.all([monitoring, consuming, renewing, spotWatch, member, finishes]);
store.close();
destroyClients(clients);
log.info("seedbox stopped");
