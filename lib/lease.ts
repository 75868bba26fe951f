// Leases: which seedbox works on a job, until when, and under which epoch: the lease, its timing and the
// seedbox's admission rule. The changes to a job's lease are in lib/job-record.ts (takeLease, renewLease,
// releaseLease, countHandBack, requestAgain).
//
// A seedbox takes a free or expired lease (epoch + 1), renews it while it works, and releases it when it
// is done with the job or hands it back. A renewal by anyone but the holder of the current epoch is
// Fenced: another seedbox took over, and the loser drops the job. Open jobs carry a `due` time (the
// lease's end, or when an unheld job's request counts as lost) that the sweeper queries by.
import { ConfigError, num, type Env } from "./config.ts";

export interface Lease {
  seedbox: string;
  /** Goes up by one with every take; a holder's writes name the epoch it took. */
  epoch: number;
  /** ISO time; the lease is free from then on (a released lease ends at its release). */
  until: string;
  /** Given up by its holder: a renewal that raced the release cannot bring it back. */
  released?: true;
}

export interface LeaseTiming {
  /** A lease not renewed for this long is free for another seedbox. */
  timeoutMs: number;
  /** How often a holder renews (and so how soon it hears of a cancel or a takeover). */
  renewMs: number;
  /** How long an unheld open job waits for a seedbox before its request counts as lost and goes out again. */
  requestTimeoutMs: number;
  /** Times the sweeper requests one job again before the job fails (default leaseDefaults.maxRequests). */
  maxRequests?: number;
}

/**
 * 60 s, renewed every 10 s: six renewals per timeout, so a store call that stalls for most of a minute
 * (SDK retries, throttling, a busy SQLite file) costs nothing, while a dead host's jobs are free again a
 * minute later (plus the sweeper's period). A cancel reaches the holder within one renewal.
 */
export const leaseDefaults = { timeoutS: 60, renewS: 10, requestTimeoutS: 900, maxRequests: 24 } as const;

export function leaseTiming(env: Env): LeaseTiming {
  const timeoutMs = num(env, "T2S_LEASE_TIMEOUT_S", leaseDefaults.timeoutS) * 1000;
  const renewMs = num(env, "T2S_LEASE_RENEW_S", leaseDefaults.renewS) * 1000;
  const requestTimeoutMs = num(env, "T2S_REQUEST_TIMEOUT_S", leaseDefaults.requestTimeoutS) * 1000;
  // At least three renewals per timeout, or one slow call loses the lease.
  if (renewMs <= 0 || renewMs * 3 > timeoutMs) throw new ConfigError("T2S_LEASE_RENEW_S must be above 0 and at most a third of T2S_LEASE_TIMEOUT_S");
  if (requestTimeoutMs < timeoutMs) throw new ConfigError("T2S_REQUEST_TIMEOUT_S must be at least T2S_LEASE_TIMEOUT_S");
  const maxRequests = Math.max(1, num(env, "T2S_MAX_REQUESTS", leaseDefaults.maxRequests));
  return { timeoutMs, renewMs, requestTimeoutMs, maxRequests };
}

export function expired(lease: Lease, nowMs: number): boolean {
  return Date.parse(lease.until) <= nowMs;
}

export interface AdmissionInput {
  /** Jobs this seedbox holds (or is taking) now, this one not counted. */
  held: number;
  maxTorrents: number;
  /** Bytes still to download; null while unknown (a magnet before its metadata). */
  size: number | null;
  /** Free bytes on the download volume, less the reserve and what admitted torrents still need. */
  room: number;
  /** The largest download volume of any seedbox, less the reserve: a job bigger than this fits nowhere. */
  maxRoom: number;
  handBacks: number;
  maxHandBacks: number;
}

export type Admission =
  | { kind: "take" }
  /** Not here, not now: another seedbox (or this one, later) may. `count`: it counts towards the limit. */
  | { kind: "hand_back"; why: "busy" | "no_room"; count: boolean }
  | { kind: "fail"; code: "too_big" | "disk_full"; message: string };

const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;

export function admit(i: AdmissionInput): Admission {
  if (i.size !== null && i.size > i.maxRoom) {
    return { kind: "fail", code: "too_big", message: `This torrent needs ${gib(i.size)}, more than any seedbox's disk can hold (${gib(i.maxRoom)}).` };
  }
  if (i.held >= i.maxTorrents) return { kind: "hand_back", why: "busy", count: false };
  if (i.size !== null && i.size > i.room) {
    if (i.handBacks + 1 >= i.maxHandBacks) {
      return { kind: "fail", code: "disk_full", message: `No seedbox had room for this torrent (${gib(i.size)}) after ${i.maxHandBacks} tries; try again later.` };
    }
    return { kind: "hand_back", why: "no_room", count: true };
  }
  return { kind: "take" };
}
