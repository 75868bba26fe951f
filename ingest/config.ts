// ingest's configuration, from the environment.
import { join } from "node:path";
import { awsConfig, ConfigError, list, num, optional, str, type AwsConfig, type Env } from "../lib/config.ts";
import { leaseTiming, type LeaseTiming } from "../lib/lease.ts";
import { jobStoreConfig, type JobStoreConfig } from "../lib/open-job-store.ts";
import { levelFromEnv, type Level } from "../lib/log.ts";
import { defaultMaxTorrents } from "../lib/scaling.ts";
import { budgetFromEnv, pricesFromEnv, type Pricing } from "../lib/cost.ts";
import { maxTorrentBytes } from "../lib/torrent.ts";
import { serviceEnvNames } from "../lib/service-env.ts";

/** The API's limits and its job store, the same under node:http and Lambda. */
export interface ApiTunables {
  fetch: { allowHosts: Set<string>; timeoutMs: number; maxRedirects: number; maxBytes: number };
  linkTtlS: number;
  /** Days a handed-out /d/ or /zip/ link works (default: the retention period, so as long as the files). */
  linkDays: number;
  rate: { perMinute: number; burst: number };
  /** The job store (a DynamoDB table, or a SQLite file in local mode), and the days after which the bucket expires a job's files. */
  jobs: JobStoreConfig;
  /** Leases: how long they last, so the sweeper knows when a job's request counts as lost. */
  lease: LeaseTiming;
  /** The sweeper: how often it runs (local mode; a schedule in AWS mode) and how many jobs it requeues per run. */
  sweep: { intervalMs: number; limit: number; stuckMs: number };
  /** The webhook delivery queue (absent: callback_url is refused) and the first retry's delay. */
  webhooks: { queueUrl: string | undefined; retryBaseS: number };
  /** AWS mode: the seedbox fleet's group (T2S_FLEET_GROUP), its cap and torrents per seedbox; unset: no fleet. */
  fleet?: { group: string; maxSeedboxes: number; perBox: number } | undefined;
  /**
   * Each job's cost estimate, the monthly budget (T2S_MONTHLY_BUDGET_USD; null: no guard), and how often a
   * job held for it is looked at again (T2S_BUDGET_RECHECK_S): each look is a write, so not every sweep.
   */
  costs: { pricing: Pricing; budgetUsd: number | null; recheckMs: number };
}

/** `allowHosts` comes only from the caller: the test allow-list is never read in AWS mode. */
export function apiTunables(env: Env, allowHosts: Set<string>): ApiTunables {
  return {
    fetch: {
      allowHosts,
      timeoutMs: num(env, "T2S_FETCH_TIMEOUT_MS", 15_000),
      maxRedirects: num(env, "T2S_FETCH_MAX_REDIRECTS", 5),
      maxBytes: maxTorrentBytes,
    },
    linkTtlS: num(env, "T2S_LINK_TTL_S", 300),
    linkDays: Math.max(1, num(env, "T2S_LINK_DAYS", jobStoreConfig(env).retentionDays)),
    rate: { perMinute: num(env, "T2S_RATE_PER_MIN", 30), burst: num(env, "T2S_RATE_BURST", 20) },
    jobs: jobStoreConfig(env),
    lease: leaseTiming(env),
    sweep: { intervalMs: num(env, "T2S_SWEEP_S", 60) * 1000, limit: num(env, "T2S_SWEEP_LIMIT", 100), stuckMs: num(env, "T2S_STUCK_HOURS", 2) * 3_600_000 },
    webhooks: { queueUrl: optional(env, serviceEnvNames.webhooksQueueUrl), retryBaseS: Math.max(1, num(env, "T2S_WEBHOOK_RETRY_BASE_S", 10)) },
    fleet: fleetConfig(env),
    costs: {
      pricing: { prices: pricesFromEnv(env), perBox: perBox(env), servedBy: "s3" },
      budgetUsd: budgetFromEnv(env),
      recheckMs: Math.max(1, num(env, "T2S_BUDGET_RECHECK_S", 600)) * 1000,
    },
  };
}

/** Torrents one seedbox holds at once: the fleet's size, and each job's share of a box. */
const perBox = (env: Env) => Math.max(1, num(env, "T2S_MAX_TORRENTS", defaultMaxTorrents));

function fleetConfig(env: Env): ApiTunables["fleet"] {
  const group = optional(env, "T2S_FLEET_GROUP");
  if (!group) return undefined;
  return { group, maxSeedboxes: num(env, "T2S_MAX_SEEDBOXES", Number.MAX_SAFE_INTEGER), perBox: perBox(env) };
}

export interface IngestConfig extends ApiTunables {
  aws: AwsConfig;
  host: string;
  port: number;
  apiToken: string;
  signingSecret: string;
  publicUrl: string;
  webDir: string;
  logLevel: Level;
  /** How /d/ and /zip/ answer (ApiDeps.links). */
  links: "redirect" | "stream";
}

/**
 * The local store listens on 127.0.0.1 only, so a redirect to it works on this machine alone. Bound to
 * any other address (a LAN's), ingest streams the files itself. T2S_LINKS=stream|redirect overrides.
 */
export function linkMode(env: Env, host: string): "redirect" | "stream" {
  const told = optional(env, "T2S_LINKS");
  if (told !== undefined && told !== "stream" && told !== "redirect") throw new ConfigError(`T2S_LINKS must be "stream" or "redirect", not ${JSON.stringify(told)}`);
  return told ?? (["127.0.0.1", "localhost", "::1"].includes(host) ? "redirect" : "stream");
}

export function ingestConfig(env: Env): IngestConfig {
  const host = str(env, "T2S_HOST", "127.0.0.1");
  const port = num(env, "T2S_PORT", 8080);
  return {
    aws: awsConfig(env),
    host,
    port,
    apiToken: str(env, "T2S_API_TOKEN"),
    signingSecret: str(env, "T2S_SIGNING_SECRET"),
    publicUrl: str(env, "T2S_PUBLIC_URL", `http://${host}:${port}`).replace(/\/+$/, ""),
    webDir: str(env, "T2S_WEB_DIR", join(import.meta.dirname, "..", "dist", "web")),
    ...apiTunables(env, new Set(list(env, "T2S_FETCH_ALLOW_HOSTS"))),
    logLevel: levelFromEnv(env.T2S_LOG_LEVEL),
    links: linkMode(env, host),
  };
}
