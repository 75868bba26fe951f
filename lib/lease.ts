// Leases: which seedbox works on a job, until when, and under which epoch. Pure rules; the seedbox,
// the sweeper and ingest write their results through the job store's conditional writes.
//
// A seedbox takes a free or expired lease (epoch + 1), renews it while it works, and releases it when it
// is done with the job or hands it back. A renewal by anyone but the holder of the current epoch is
// Fenced: another seedbox took over, and the loser drops the job. Open jobs carry a `due` time (the
// lease's end, or when an unheld job's request counts as lost) that the sweeper queries by.
import type { JobRecord } from "./apply-fact.ts";
import { ConfigError, num, type Env } from "./config.ts";
import { isTerminal } from "./job.ts";
import type { RequestMessage } from "./messages.ts";

export interface Lease {
  seedbox: string;
  /** Goes up by one with every take; a holder's writes name the epoch it took. */
  epoch: number;
  /** ISO time; the lease is free from then on (a released lease ends at its release). */
  until: string;
}

export interface LeaseTiming {
  /** A lease not renewed for this long is free for another seedbox. */
  timeoutMs: number;
  /** How often a holder renews (and so how soon it hears of a cancel or a takeover). */
  renewMs: number;
  /** How long an unheld open job waits for a seedbox before its request counts as lost and goes out again. */
  requestTimeoutMs: number;
}

/**
 * 60 s, renewed every 10 s: six renewals per timeout, so a store call that stalls for most of a minute
 * (SDK retries, throttling, a busy SQLite file) costs nothing, while a dead host's jobs are free again a
 * minute later (plus the sweeper's period). A cancel reaches the holder within one renewal.
 */
export const leaseDefaults = { timeoutS: 60, renewS: 10, requestTimeoutS: 900 } as const;

export function leaseTiming(env: Env): LeaseTiming {
  const timeoutMs = num(env, "T2S_LEASE_TIMEOUT_S", leaseDefaults.timeoutS) * 1000;
  const renewMs = num(env, "T2S_LEASE_RENEW_S", leaseDefaults.renewS) * 1000;
  const requestTimeoutMs = num(env, "T2S_REQUEST_TIMEOUT_S", leaseDefaults.requestTimeoutS) * 1000;
  // At least three renewals per timeout, or one slow call loses the lease.
  if (renewMs <= 0 || renewMs * 3 > timeoutMs) throw new ConfigError("T2S_LEASE_RENEW_S must be above 0 and at most a third of T2S_LEASE_TIMEOUT_S");
  if (requestTimeoutMs < timeoutMs) throw new ConfigError("T2S_REQUEST_TIMEOUT_S must be at least T2S_LEASE_TIMEOUT_S");
  return { timeoutMs, renewMs, requestTimeoutMs };
}

/** A write under a lease that is no longer the writer's: another seedbox took the job over. */
export class Fenced extends Error {
  override name = "Fenced";
}

const at = (nowMs: number, plusMs = 0) => new Date(nowMs + plusMs).toISOString();

export function expired(lease: Lease, nowMs: number): boolean {
  return Date.parse(lease.until) <= nowMs;
}

/** The seedbox holding the job now, or null (no lease, an expired or released one, or an ended job). */
export function holder(rec: JobRecord, nowMs: number): string | null {
  if (isTerminal(rec.job.status) || !rec.lease || expired(rec.lease, nowMs)) return null;
  return rec.lease.seedbox;
}

/**
 * When the sweeper should look at the job again; null for ended jobs (they leave the sweeper's index).
 * A job nobody has taken yet waits the default request timeout from when it was queued.
 */
export function dueOf(rec: JobRecord): string | null {
  if (isTerminal(rec.job.status)) return null;
  return rec.due ?? rec.lease?.until ?? new Date(Date.parse(rec.queuedAt ?? rec.job.createdAt) + leaseDefaults.requestTimeoutS * 1000).toISOString();
}

export type TakeResult =
  | { ok: true; rec: JobRecord; lease: Lease }
  | { ok: false; why: "ended" | "held" };

/** Takes a free or expired lease, or the seedbox's own (a restarted seedbox with a stable id). */
export function take(rec: JobRecord, seedbox: string, nowMs: number, t: LeaseTiming): TakeResult {
  if (isTerminal(rec.job.status)) return { ok: false, why: "ended" };
  const cur = rec.lease;
  if (cur && !expired(cur, nowMs) && cur.seedbox !== seedbox) return { ok: false, why: "held" };
  const lease: Lease = { seedbox, epoch: (cur?.epoch ?? 0) + 1, until: at(nowMs, t.timeoutMs) };
  return { ok: true, lease, rec: { ...rec, lease, due: lease.until } };
}

export type RenewResult =
  | { kind: "renewed"; rec: JobRecord }
  | { kind: "fenced" }
  | { kind: "cancelled" }
  | { kind: "ended" };

/**
 * Renews the holder's lease. The epoch decides, not the clock: a late renewal still wins if nobody took
 * the job meanwhile. A cancelled or otherwise ended job is reported to the holder, which lets it go.
 */
export function renew(rec: JobRecord | null, seedbox: string, epoch: number, nowMs: number, t: LeaseTiming): RenewResult {
  if (!rec) return { kind: "ended" };
  const cur = rec.lease;
  if (!cur || cur.seedbox !== seedbox || cur.epoch !== epoch) return { kind: "fenced" };
  if (rec.job.status === "cancelled") return { kind: "cancelled" };
  if (isTerminal(rec.job.status)) return { kind: "ended" };
  const lease: Lease = { ...cur, until: at(nowMs, t.timeoutMs) };
  return { kind: "renewed", rec: { ...rec, lease, due: lease.until } };
}

/**
 * Releases the holder's lease (null: it is not the holder's any more, or the job ended: nothing to write). An open job then
 * waits a request timeout for a seedbox; a hand-back also counts towards the job's limit of hand-backs.
 */
export function release(rec: JobRecord | null, seedbox: string, epoch: number, nowMs: number, t: LeaseTiming, o: { handBack?: boolean } = {}): JobRecord | null {
  const cur = rec?.lease;
  if (!rec || !cur || cur.seedbox !== seedbox || cur.epoch !== epoch) return null;
  // An ended job's lease means nothing any more (nobody may take it): no write.
  if (isTerminal(rec.job.status)) return null;
  return {
    ...rec,
    lease: { ...cur, until: at(nowMs) },
    due: at(nowMs, t.requestTimeoutMs),
    ...(o.handBack ? { handBacks: (rec.handBacks ?? 0) + 1 } : {}),
  };
}

/** A job given back without being held (no room here): counts the hand-back, and the request goes out again. */
export function handedBack(rec: JobRecord, nowMs: number, t: LeaseTiming): JobRecord {
  return { ...rec, handBacks: (rec.handBacks ?? 0) + 1, due: at(nowMs, t.requestTimeoutMs) };
}

/** The sweeper's rule: an open job whose lease ran out, or whose request went unanswered, is requested again. */
export function sweep(rec: JobRecord, nowMs: number, t: LeaseTiming): JobRecord | null {
  const due = dueOf(rec);
  if (due === null || Date.parse(due) > nowMs) return null;
  if (rec.lease && !expired(rec.lease, nowMs)) return null;
  return { ...rec, due: at(nowMs, t.requestTimeoutMs) };
}

/** The request that (re)starts a job; records from before sources were kept get a bare magnet. */
export function requestOf(rec: JobRecord): RequestMessage {
  const { id, name } = rec.job;
  const source = rec.source ?? { kind: "magnet" as const, uri: `magnet:?xt=urn:btih:${id}&dn=${encodeURIComponent(name)}` };
  return { v: 1, type: "add", id, name, source };
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
