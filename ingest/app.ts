// ingest's parts, wired once for both of its hosts: the node:http server with queue consumers
// (ingest/main.ts, local mode) and the Lambda functions (ingest/lambda.ts, AWS mode).
import type { AwsClients } from "../lib/aws/clients.ts";
import { cloudfrontSigner, type CloudfrontKey } from "../lib/aws/cloudfront-url.ts";
import { Bucket } from "../lib/aws/bucket.ts";
import type { Fleet } from "../lib/aws/fleet.ts";
import { queueDepth, queueSender } from "../lib/aws/queue.ts";
import { topicPublisher } from "../lib/aws/topic.ts";
import type { AwsConfig } from "../lib/config.ts";
import { freshNotice } from "../lib/job-record.ts";
import type { JobStore } from "../lib/job-store.ts";
import type { Logger } from "../lib/log.ts";
import type { UpdateMessage } from "../lib/messages.ts";
import { createApi } from "./api.ts";
import { LiveStreams } from "./events.ts";
import { qbittorrentRoutes } from "./qbittorrent.ts";
import { Auth } from "./auth.ts";
import type { ApiTunables } from "./config.ts";
import { costs as monthCosts } from "./costs.ts";
import { factsHandler } from "./facts.ts";
import { FetchGuard } from "./fetch-guard.ts";
import { presentJob } from "./present.ts";
import { RateLimiter } from "./rate-limit.ts";
import { JobRegistry } from "./registry.ts";
import { fleetScaler, type ScaleUp } from "./scale-up.ts";
import type { SweeperDeps } from "./sweeper.ts";
import type { WebFiles } from "./web.ts";
import { outbox } from "./outbox.ts";
import { webhookHandler } from "./webhooks.ts";

/** What ingest needs to know in either host. */
export interface AppConfig extends ApiTunables {
  aws: AwsConfig;
  apiToken: string;
  signingSecret: string;
  publicUrl: string;
  /** AWS mode with a downloads key: /d/ and /zip/ redirect to CloudFront signed URLs. */
  cloudfront?: CloudfrontKey | undefined;
}

export interface AppDeps {
  cfg: AppConfig;
  clients: AwsClients;
  store: JobStore;
  web: WebFiles;
  log: Logger;
  now: () => string;
  /** AWS mode with T2S_FLEET_GROUP: the group ingest raises for queued work. */
  fleet?: Fleet | undefined;
}

/** A registry whose changes go out as job updates and webhook events (through the record's outbox). */
export interface Session {
  registry: JobRegistry;
  /** Waits for the notices handed on so far (a Lambda invocation must not return before them). */
  flush(): Promise<unknown>;
}

export function ingestApp(d: AppDeps) {
  const { cfg, clients, log, now } = d;
  const bucket = new Bucket(clients.s3, cfg.aws.bucket);
  const auth = new Auth({ apiToken: cfg.apiToken, signingSecret: cfg.signingSecret, secureCookie: cfg.publicUrl.startsWith("https:") });
  const guard = new FetchGuard(cfg.fetch);
  const publishRequest = topicPublisher(clients.sns, cfg.aws.requestsTopicArn);
  const publishUpdate = topicPublisher(clients.sns, cfg.aws.updatesTopicArn);
  // Per process (per warm instance on Lambda, where several run: best effort there).
  const limiter = new RateLimiter(cfg.rate);
  const sendWebhook = cfg.webhooks.queueUrl ? queueSender(clients.sqs, cfg.webhooks.queueUrl) : null;
  const { pricing } = cfg.costs;
  const signDownload = cfg.cloudfront ? cloudfrontSigner({ base: cfg.publicUrl, key: cfg.cloudfront }) : undefined;
  const present = (rec: Parameters<typeof presentJob>[0]) => presentJob(rec, { publicUrl: cfg.publicUrl, auth, linkDays: cfg.linkDays, pricing }, now());
  const costs = monthCosts({ store: d.store, pricing, budgetUsd: cfg.costs.budgetUsd, now, recheckMs: cfg.costs.recheckMs });
  const raise = d.fleet && cfg.fleet
    ? fleetScaler({ fleet: d.fleet, openJobs: () => queueDepth(clients.sqs, cfg.aws.requestsQueueUrl), perBox: cfg.fleet.perBox, maxSeedboxes: cfg.fleet.maxSeedboxes, log })
    : undefined;
  // Over the month's budget the fleet is not raised: running jobs finish on the boxes they have.
  const scaleUp: ScaleUp | undefined = raise && (async () => {
    if ((await costs.decision().catch(() => "open" as const)) === "budget") return log.info("fleet not raised: the month's budget is reached");
    await raise();
  });

  const box = outbox({ store: d.store, sendWebhook, publishUpdate, present, now, log });

  const session = (): Session => {
    const registry = new JobRegistry(d.store);
    // Only the deliveries in flight: a long-lived session (local mode) keeps no settled ones.
    const pending = new Set<Promise<unknown>>();
    const track = (p: Promise<unknown>) => {
      pending.add(p);
      void p.finally(() => pending.delete(p));
    };
    registry.subscribe((rec) => {
      // What the bot and webhooks must hear of leaves through the record's outbox (retried by the sweeper).
      if (freshNotice(rec)) return track(box.flush(rec.job.id, rec));
      // Progress is best effort: the next update, or the outbox's final one, carries it.
      const msg: UpdateMessage = { v: 1, type: "job", job: present(rec) };
      track(publishUpdate(msg).catch((err) => log.warn("could not publish job update", { job: rec.job.id, err })));
    });
    return { registry, flush: () => Promise.all([...pending]) };
  };

  return {
    bucket, auth, guard, publishRequest, scaleUp, costs,
    session,
    /** The HTTP API over a session; `live` is how the page follows changes in this host. */
    api: (s: Session, o: { live: "events" | "changes"; storageOrigin: string | null; links?: "redirect" | "stream" }) => createApi({
      registry: s.registry, bucket, auth, guard, publishRequest, webhooks: sendWebhook !== null, storageOrigin: o.storageOrigin, links: o.links ?? "redirect",
      publicUrl: cfg.publicUrl, linkTtlS: cfg.linkTtlS, linkDays: cfg.linkDays, web: d.web, limiter, log, now, live: o.live, ...(scaleUp ? { scaleUp } : {}),
      streams: new LiveStreams(s.registry, present), pricing, costs, ...(signDownload ? { signDownload } : {}),
    }, qbittorrentRoutes),
    facts: (s: Session) => factsHandler({ registry: s.registry, bucket, publishRequest, log, now, retentionDays: cfg.jobs.retentionDays }),
    /** One delivery attempt per message; null when webhooks are not configured. */
    webhooks: (s: Session) => sendWebhook && webhookHandler({
      registry: s.registry, send: sendWebhook, guard, secret: auth.webhookSecret, log: log.with({ queue: "webhooks" }), retryBaseS: cfg.webhooks.retryBaseS, present,
    }),
    sweeper: { store: d.store, publishRequest, outbox: box, timing: cfg.lease, log: log.with({ part: "sweeper" }), limit: cfg.sweep.limit, stuckMs: cfg.sweep.stuckMs, costs } satisfies SweeperDeps,
  };
}

export type IngestApp = ReturnType<typeof ingestApp>;
