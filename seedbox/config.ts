// The seedbox's configuration, from the environment.
import { hostname } from "node:os";
import { join } from "node:path";
import { awsConfig, flag, num, optional, str, type AwsConfig, type Env } from "../lib/config.ts";
import { leaseTiming, type LeaseTiming } from "../lib/lease.ts";
import { levelFromEnv, type Level } from "../lib/log.ts";
import { jobStoreConfig, type JobStoreConfig } from "../lib/open-job-store.ts";
import { defaultIdleMinutes, defaultMaxTorrents } from "../lib/scaling.ts";
import { defaultImdsUrl } from "./imds.ts";
import type { MonitorPolicy } from "./monitor.ts";

export interface SeedboxConfig {
  aws: AwsConfig;
  deluge: { url: string; password: string; daemonPort: number | undefined; timeoutMs: number };
  downloadDir: string;
  policy: MonitorPolicy;
  upload: { partSizeMin: number; queueSize: number };
  /** Upload checked parts while the torrent still downloads (and ask Deluge for pieces in order). */
  overlapUpload: boolean;
  /** Store a zip of each multi-file job next to its files (T2S_ZIP). */
  zip: boolean;
  maxDownloadKiBs: number | undefined;
  /** AWS mode: the Auto Scaling group this seedbox belongs to (T2S_FLEET_GROUP); unset elsewhere. */
  fleet: { group: string; idleMinutes: number; imdsUrl: string } | undefined;
  logLevel: Level;
  /** This seedbox's stable id in leases (T2S_SEEDBOX_ID; the instance id in AWS, seedbox-N locally). */
  seedboxId: string;
  /** The job store, where leases live. */
  jobs: JobStoreConfig;
  lease: LeaseTiming;
  /** Jobs held at once at most. */
  maxTorrents: number;
  /** Hand-backs for want of room before a job fails. */
  maxHandBacks: number;
  /** The largest download volume of any seedbox (null: this one's). */
  fleetMaxDiskBytes: number | null;
  /** Watch for spot interruption notices (IMDSv2): on by default in AWS mode. */
  spot: { enabled: boolean; imdsUrl: string; pollMs: number };
}

/** Part size and parts in flight for S3 uploads. */
export const uploadTunables = (env: Env) => ({
  partSizeMin: num(env, "T2S_UPLOAD_PART_MB", 8) * 1024 * 1024,
  queueSize: num(env, "T2S_UPLOAD_QUEUE_SIZE", 4),
});

export function seedboxConfig(env: Env): SeedboxConfig {
  const dataDir = str(env, "T2S_DATA_DIR", join(process.cwd(), ".t2s"));
  const daemonPort = optional(env, "T2S_DELUGE_DAEMON_PORT");
  const maxDown = optional(env, "T2S_MAX_DOWNLOAD_KIBS");
  const fleetDisk = optional(env, "T2S_FLEET_MAX_DISK_MB");
  const fleetGroup = optional(env, "T2S_FLEET_GROUP");
  const aws = awsConfig(env);
  return {
    aws,
    deluge: {
      url: str(env, "T2S_DELUGE_URL", "http://127.0.0.1:8112/json"),
      password: str(env, "T2S_DELUGE_PASSWORD"),
      daemonPort: daemonPort ? num(env, "T2S_DELUGE_DAEMON_PORT", 0) : undefined,
      timeoutMs: num(env, "T2S_DELUGE_TIMEOUT_MS", 15_000),
    },
    downloadDir: str(env, "T2S_DOWNLOAD_DIR", join(dataDir, "downloading")),
    policy: {
      magnetTimeoutS: num(env, "T2S_MAGNET_TIMEOUT_S", 600),
      diskReserveBytes: num(env, "T2S_DISK_RESERVE_MB", 1024) * 1024 * 1024,
      seedRatio: num(env, "T2S_SEED_RATIO", 0),
      seedTimeS: num(env, "T2S_SEED_TIME_S", 0),
      progressIntervalMs: num(env, "T2S_PROGRESS_INTERVAL_MS", 2000),
      pollMs: num(env, "T2S_POLL_MS", 1000),
    },
    upload: uploadTunables(env),
    overlapUpload: flag(env, "T2S_OVERLAP_UPLOAD", true),
    zip: flag(env, "T2S_ZIP", true),
    maxDownloadKiBs: maxDown ? num(env, "T2S_MAX_DOWNLOAD_KIBS", 0) : undefined,
    fleet: fleetGroup ? { group: fleetGroup, idleMinutes: num(env, "T2S_IDLE_MINUTES", defaultIdleMinutes), imdsUrl: str(env, "T2S_IMDS_URL", defaultImdsUrl) } : undefined,
    logLevel: levelFromEnv(env.T2S_LOG_LEVEL),
    seedboxId: str(env, "T2S_SEEDBOX_ID", hostname()),
    jobs: jobStoreConfig(env),
    lease: leaseTiming(env),
    maxTorrents: Math.max(1, num(env, "T2S_MAX_TORRENTS", defaultMaxTorrents)),
    maxHandBacks: Math.max(1, num(env, "T2S_MAX_HANDBACKS", 5)),
    fleetMaxDiskBytes: fleetDisk ? num(env, "T2S_FLEET_MAX_DISK_MB", 0) * 1024 * 1024 : null,
    // No endpoint override means real AWS, where an instance may be spot; a metadata service named
    // explicitly (the rehearsal's stand-in) is watched too.
    spot: { enabled: flag(env, "T2S_SPOT", aws.endpoint === undefined || env.T2S_IMDS_URL !== undefined), imdsUrl: str(env, "T2S_IMDS_URL", defaultImdsUrl).replace(/\/+$/, ""), pollMs: num(env, "T2S_SPOT_POLL_MS", 5000) },
  };
}
