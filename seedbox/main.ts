// seedbox: wires Deluge, the requests consumer, the completed-folder watcher and the monitor.
import { mkdir } from "node:fs/promises";
import { awsClients, destroyClients } from "../lib/aws/clients.ts";
import { Bucket } from "../lib/aws/bucket.ts";
import { consumeQueue } from "../lib/aws/queue.ts";
import { topicPublisher } from "../lib/aws/topic.ts";
import { incomingKey } from "../lib/layout.ts";
import { createLogger } from "../lib/log.ts";
import { nowIso, sleep } from "../lib/time.ts";
import { seedboxConfig } from "./config.ts";
import { Deluge } from "./deluge.ts";
import { autoScalingClient, Fleet } from "../lib/aws/fleet.ts";
import { isJobId } from "../lib/job.ts";
import { runFleetMember } from "./fleet-member.ts";
import { instanceId } from "./imds.ts";
import { EarlyUploads } from "./early-upload.ts";
import { freeBytes } from "./disk.ts";
import { Facts } from "./facts.ts";
import { Monitor } from "./monitor.ts";
import { requestsHandler } from "./requests.ts";
import { Uploader } from "./uploader.ts";
import { watchCompleted } from "./watch.ts";

const cfg = seedboxConfig(process.env);
const log = createLogger("seedbox", { level: cfg.logLevel });
const shutdown = new AbortController();
for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => shutdown.abort());

await mkdir(cfg.downloadDir, { recursive: true });
await mkdir(cfg.completedDir, { recursive: true });
const clients = awsClients(cfg.aws);
const bucket = new Bucket(clients.s3, cfg.aws.bucket);
const deluge = new Deluge({ ...cfg.deluge, log });
const facts = new Facts(topicPublisher(clients.sns, cfg.aws.factsTopicArn), nowIso);
const early = cfg.overlapUpload
  ? new EarlyUploads({
    s3: clients.s3, bucket, deluge, downloadDir: cfg.downloadDir, partSizeMin: cfg.upload.partSizeMin, concurrency: cfg.upload.queueSize, log,
    torrentOf: (id, signal) => bucket.get(incomingKey(id), signal),
  })
  : undefined;
const uploader = new Uploader({ s3: clients.s3, bucket, roots: [cfg.downloadDir, cfg.completedDir], ...cfg.upload, early, zip: cfg.zip, log });
const monitor = new Monitor({
  deluge, facts, uploader, early, log,
  freeBytes: () => freeBytes(cfg.downloadDir),
  policy: cfg.policy,
});

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
// A crash mid-upload leaves multipart uploads open; the reconcile pass below uploads those jobs again.
const aborted = await bucket.abortUploads("files/").catch((err) => (log.warn("could not list open uploads", { err }), 0));
if (aborted > 0) log.info("aborted stale multipart uploads", { count: aborted });

const watcher = watchCompleted(cfg.completedDir, () => monitor.kick(), log);
const monitoring = monitor.run(shutdown.signal);
// In the fleet, the member may stop the consumer alone (idle) before it terminates this instance.
const fleet = cfg.fleet && { ...cfg.fleet, self: await instanceId({ baseUrl: cfg.fleet.imdsUrl, signal: shutdown.signal }) };
const taking = new AbortController();
const consuming = consumeQueue({
  sqs: clients.sqs,
  queueUrl: cfg.aws.requestsQueueUrl,
  handler: requestsHandler({ deluge, bucket, facts, monitor, downloadDir: cfg.downloadDir, completedDir: cfg.completedDir, maxDownloadKiBs: cfg.maxDownloadKiBs, sequential: cfg.overlapUpload, log }),
  log: log.with({ queue: "requests" }),
  signal: AbortSignal.any([shutdown.signal, taking.signal]),
  waitTimeS: cfg.aws.queueWaitS,
  ready: delugeReady,
});
const member = !fleet ? Promise.resolve() : runFleetMember({
  fleet: new Fleet(autoScalingClient(cfg.aws), fleet.group),
  instanceId: fleet.self,
  holdsWork: async (signal) => Object.keys(await deluge.statuses(signal)).some(isJobId),
  stopTaking: async () => (taking.abort(), await consuming),
  idleMinutes: fleet.idleMinutes, log, signal: shutdown.signal,
});
log.info("seedbox running", { downloadDir: cfg.downloadDir, completedDir: cfg.completedDir });

await Promise.all([monitoring, consuming, member]);
await watcher.close();
destroyClients(clients);
log.info("seedbox stopped");
