// What a job costs the owner, and the monthly budget guard: pure rules over what a job used.
// A job's usage is derived from its record (usageOf); the store keeps each month's totals, to which every
// write adds the change in its job's usage (lib/job-update.ts), so a month is one read however many jobs ran.
import { ConfigError, optional, type Env } from "./config.ts";

/** us-east-1 list prices, as published on `date`. Override any of them with T2S_PRICES (JSON). */
export const defaultPrices = {
  date: "2026-12-01",
  /** A seedbox hour on demand: t4g.small $0.0168, gp3 16 + 50 GiB $0.0072, public IPv4 $0.005 (README's table). */
  seedboxHourUsd: 0.029,
  /** S3 Standard, first 50 TB. */
  storageGbMonthUsd: 0.023,
  putPer1000Usd: 0.005,
  getPer1000Usd: 0.0004,
  /** Transfer out to the internet per GB, and each path's free GB a month (account-wide). */
  servedGbUsd: { s3: 0.09, cloudfront: 0.085 },
  freeServedGb: { s3: 100, cloudfront: 1024 },
};
export type Prices = typeof defaultPrices;

/** Where downloads leave AWS: S3 presigned URLs, or CloudFront signed URLs (AWS mode). */
export type ServedBy = keyof Prices["servedGbUsd"];

export interface Pricing {
  prices: Prices;
  /** Torrents one seedbox holds at once: a job pays for this share of a box while it runs. */
  perBox: number;
  servedBy: ServedBy;
}

/** What a job (or a month) used. */
export interface Usage {
  /** Seconds a job was held by a seedbox (a whole box's time; the share is applied when priced). */
  seedboxSeconds: number;
  /** Bytes stored × days they are kept, as committed at completion (shortened when files are deleted early). */
  byteDays: number;
  puts: number;
  gets: number;
  /** Redirects at /d/ and /zip/ × the file's size: an upper bound (a client may stop early or use ranges). */
  servedBytes: number;
}
export const usageKeys = ["seedboxSeconds", "byteDays", "puts", "gets", "servedBytes"] as const satisfies readonly (keyof Usage)[];
export const noUsage: Usage = { seedboxSeconds: 0, byteDays: 0, puts: 0, gets: 0, servedBytes: 0 };

/** What the record keeps of its usage; the rest (storage, uploads) is derived from its files. */
export interface RecordUsage {
  /** When a seedbox first took the current run; cleared (into seedboxSeconds) when the job ends. */
  startedAt?: string;
  /** When the last run ended (for a completed job: when its files began to be stored). */
  endedAt?: string;
  seedboxSeconds?: number;
  redirects?: number;
  servedBytes?: number;
  /** Earlier runs of a job handed in again: their files are gone from the record, their cost is not. */
  prior?: Usage;
}

/** What the usage rules read of a job's record (lib/job-record.ts's JobRecord has it; kept structural so the
 * record's module can use these rules without an import circle). */
export interface UsageRecord {
  job: { status: string; updatedAt: string; expiresAt?: string | null };
  files: readonly { size: number }[];
  zip?: { size: number } | undefined;
  usage?: RecordUsage;
}

export interface Cost {
  usd: number;
  parts: { seedbox: number; storage: number; requests: number; served: number };
}

const gb = 1024 ** 3;
const dayMs = 86_400_000;
/** The seedbox's default upload part (T2S_UPLOAD_PART_MB): each part is one PUT. */
export const estimatePartBytes = 8 * 1024 * 1024;

export const addUsage = (a: Usage, b: Usage): Usage => Object.fromEntries(usageKeys.map((k) => [k, a[k] + b[k]])) as unknown as Usage;
export const subUsage = (a: Usage, b: Usage): Usage => Object.fromEntries(usageKeys.map((k) => [k, a[k] - b[k]])) as unknown as Usage;
export const isNoUsage = (u: Usage): boolean => usageKeys.every((k) => u[k] === 0);

const putsFor = (size: number) => Math.max(1, Math.ceil(size / estimatePartBytes));

/**
 * The usage of a job as its record says. `nowMs`: also count a running seedbox's time so far (shown on
 * the page); without it only ended runs count (what the month totals are built from, so they never drift).
 */
export function usageOf(rec: UsageRecord | null, nowMs?: number): Usage {
  if (!rec) return noUsage;
  const u = rec.usage ?? {};
  const running = u.startedAt && nowMs !== undefined ? Math.max(0, nowMs - Date.parse(u.startedAt)) / 1000 : 0;
  const job = rec.job;
  const stored = rec.files.reduce((n, f) => n + f.size, 0) + (rec.zip?.size ?? 0);
  // Files are stored from completion until they expire (or are deleted).
  const keptDays = job.status === "completed" && job.expiresAt && u.endedAt
    ? Math.max(0, Date.parse(job.expiresAt) - Date.parse(u.endedAt)) / dayMs
    : 0;
  // The .torrent and the manifest, each file's parts, the zip's parts.
  const puts = job.status === "completed" ? 2 + rec.files.reduce((n, f) => n + putsFor(f.size), 0) + (rec.zip ? putsFor(rec.zip.size) : 0) : 0;
  const run: Usage = {
    seedboxSeconds: (u.seedboxSeconds ?? 0) + running,
    byteDays: stored * keptDays,
    puts,
    gets: u.redirects ?? 0,
    servedBytes: u.servedBytes ?? 0,
  };
  return u.prior ? addUsage(u.prior, run) : run;
}

/** A run ends (the job reached a terminal state): its seedbox time is added up, and storage counts from now. */
export function endRun<R extends UsageRecord>(rec: R): R {
  const { startedAt, ...u } = rec.usage ?? {};
  const end = rec.job.updatedAt;
  const seconds = startedAt ? Math.max(0, Date.parse(end) - Date.parse(startedAt)) / 1000 : 0;
  return { ...rec, usage: { ...u, endedAt: end, seedboxSeconds: (u.seedboxSeconds ?? 0) + seconds } };
}

/** A seedbox took the job: its run's time counts from the first take (a takeover continues the run). */
export function startRun<R extends UsageRecord>(rec: R, now: string): R {
  return rec.usage?.startedAt ? rec : { ...rec, usage: { ...rec.usage, startedAt: now } };
}

/** A job handed in again: the ended run's usage is kept as prior, and a new run starts. */
export function newRun(rec: UsageRecord): RecordUsage {
  return { prior: usageOf(rec) };
}

/** One more redirect to a file of `size` bytes. */
export function served<R extends UsageRecord>(rec: R, size: number): R {
  const u = rec.usage ?? {};
  return { ...rec, usage: { ...u, redirects: (u.redirects ?? 0) + 1, servedBytes: (u.servedBytes ?? 0) + size } };
}

const round = (usd: number) => Math.round(usd * 1e6) / 1e6;

/** Prices a usage at list rates (a job's own cost: no free tier, which is the account's, not a job's). */
export function costOf(u: Usage, p: Pricing, o: { freeServedBytes?: number } = {}): Cost {
  const pr = p.prices;
  const parts = {
    seedbox: round((u.seedboxSeconds / 3600) * pr.seedboxHourUsd / Math.max(1, p.perBox)),
    storage: round((u.byteDays / gb) * pr.storageGbMonthUsd * 12 / 365),
    requests: round((u.puts / 1000) * pr.putPer1000Usd + (u.gets / 1000) * pr.getPer1000Usd),
    served: round((Math.max(0, u.servedBytes - (o.freeServedBytes ?? 0)) / gb) * pr.servedGbUsd[p.servedBy]),
  };
  return { usd: round(parts.seedbox + parts.storage + parts.requests + parts.served), parts };
}

/** A month's cost from its totals: the downloads' free tier applies once, to the month. */
export function monthCost(u: Usage, p: Pricing): Cost {
  return costOf(u, p, { freeServedBytes: p.prices.freeServedGb[p.servedBy] * gb });
}

/** "2026-12" of an ISO time (UTC): the month a change is counted in. */
export const monthOf = (iso: string): string => iso.slice(0, 7);
export const monthPattern = /^\d{4}-(0[1-9]|1[0-2])$/;

export type BudgetDecision = "open" | "budget";

/**
 * The guard: once the month's estimate reaches the budget, new jobs wait (reason "budget") and the fleet is
 * not raised. null budget: no guard. A new month starts from zero, so it releases them, as a raised budget does.
 */
export function budgetDecision(monthUsd: number, budgetUsd: number | null): BudgetDecision {
  return budgetUsd !== null && monthUsd >= budgetUsd ? "budget" : "open";
}

/** T2S_PRICES: a JSON object over the default table (nested maps merge key by key). */
export function pricesFromEnv(env: Env): Prices {
  const raw = optional(env, "T2S_PRICES");
  if (!raw) return defaultPrices;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new ConfigError("T2S_PRICES must be a JSON object of prices");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ConfigError("T2S_PRICES must be a JSON object of prices");
  const o = v as Partial<Prices>;
  return {
    ...defaultPrices, ...o,
    servedGbUsd: { ...defaultPrices.servedGbUsd, ...o.servedGbUsd },
    freeServedGb: { ...defaultPrices.freeServedGb, ...o.freeServedGb },
  };
}

/** T2S_MONTHLY_BUDGET_USD: unset (or empty) means no guard. */
export function budgetFromEnv(env: Env): number | null {
  const raw = optional(env, "T2S_MONTHLY_BUDGET_USD");
  if (raw === undefined) return null;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new ConfigError(`T2S_MONTHLY_BUDGET_USD must be a non-negative number of dollars, got ${JSON.stringify(raw)}`);
  return n;
}
