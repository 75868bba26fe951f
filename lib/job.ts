// The Job: what a person sees of a torrent they handed in, and the rules by which it changes.
import type { Cost } from "./cost.ts";
import { widen, type FileSelection } from "./file-selection.ts";

export const jobStatuses = ["queued", "downloading", "uploading", "completed", "failed", "cancelled", "expired"] as const;
export type JobStatus = (typeof jobStatuses)[number];

export type Via = "web" | "discord" | "api";
export interface Requester {
  via: Via;
  user: string;
  /** Set by the bot: where it shows this job's status (kept so a restarted bot edits the same message). */
  channelId?: string;
  messageId?: string;
  /** Set by the bot once it pinged this requester about the job's end, so a repeated update pings no more. */
  pinged?: boolean;
  /** The files this requester chose (lib/file-selection.ts); absent: every file. */
  files?: FileSelection;
}

/** The zip of all of a completed job's files, when it has more than one: one signed link. */
export interface JobZip {
  url: string;
  size: number;
}

export interface JobFile {
  path: string;
  size: number;
  url?: string;
}

/** Failure codes of a job (not HTTP codes). */
export type JobErrorCode =
  | "no_peers"
  | "stalled"
  | "disk_full"
  | "invalid_torrent"
  | "torrent_missing"
  | "deluge_error"
  | "upload_failed"
  | "poison_message"
  | "too_many_files"
  | "too_big"
  | "no_files_chosen";

export interface JobError {
  code: string;
  message: string;
}

export interface Job {
  id: string;
  name: string;
  status: JobStatus;
  progress: number;
  size: number | null;
  downloaded: number;
  rate: number;
  eta: number | null;
  /** The seedbox holding the job's lease, or null (set as the job is shown). */
  seedbox: string | null;
  files: JobFile[];
  /** Set as the job is shown (a completed multi-file job whose files are kept); null otherwise. */
  zip: JobZip | null;
  error: JobError | null;
  requesters: Requester[];
  /** When a completed job's files expire (the bucket's lifecycle rule); null until then. */
  expiresAt: string | null;
  createdAt: string;
  updatedAt: string;
  /** Set through the qBittorrent API: where `t2s sync` files the job (DIR/<category>/<name>). */
  category?: string;
  tags?: string[];
  /** `t2s sync` has the job on its disk at `path` (POST /api/jobs/:id/delivered). */
  delivered?: JobDelivery;
  /** Why a queued job waits: "budget", the month's estimate reached the owner's budget (lib/cost.ts). */
  reason?: "budget";
  /** Set as the job is shown: what it cost so far (lib/cost.ts), in USD. */
  cost?: Cost;
  /** Removed through the qBittorrent API (torrents/delete): hidden there; `files`: the agent deletes its copy too. */
  removed?: { at: string; files: boolean };
}

export interface JobDelivery {
  path: string;
  at: string;
}

const day = 24 * 3600 * 1000;
/** How long a record outlives its files (or its end), so that the job can still say it has expired. */
export const recordGraceDays = 30;

const terminal: ReadonlySet<JobStatus> = new Set(["completed", "failed", "cancelled", "expired"]);
export function isTerminal(status: JobStatus): boolean {
  return terminal.has(status);
}

export const infoHashPattern = /^[0-9a-f]{40}$/;
export function isJobId(s: string): boolean {
  return infoHashPattern.test(s);
}

export function newJob(init: { id: string; name: string; size: number | null; requester: Requester; now: string }): Job {
  return {
    id: init.id,
    name: init.name,
    status: "queued",
    progress: 0,
    size: init.size,
    downloaded: 0,
    rate: 0,
    eta: null,
    seedbox: null,
    files: [],
    zip: null,
    error: null,
    requesters: [init.requester],
    expiresAt: null,
    createdAt: init.now,
    updatedAt: init.now,
  };
}

function sameRequester(a: Requester, b: Requester): boolean {
  return a.via === b.via && a.user === b.user;
}

/** Adds a requester, or widens the files of one who already asked; the same job when nothing changes. */
export function withRequester(job: Job, r: Requester): Job {
  const i = job.requesters.findIndex((x) => sameRequester(x, r));
  if (i < 0) return { ...job, requesters: [...job.requesters, r] };
  const q = job.requesters[i]!;
  const files = widen(q.files ?? null, r.files ?? null);
  if (files === null ? q.files === undefined : files.length === q.files?.length) return job;
  const { files: _f, ...rest } = q;
  const next = files === null ? rest : { ...rest, files };
  return { ...job, requesters: job.requesters.map((x, j) => (j === i ? next : x)) };
}

export function addDays(iso: string, days: number): string {
  return new Date(Date.parse(iso) + days * day).toISOString();
}

/** A completed job whose files have expired: stored as completed, shown as expired. */
export function filesExpired(job: Job, now: string): boolean {
  return job.status === "completed" && job.expiresAt !== null && job.expiresAt <= now;
}

/** A failed, cancelled or expired job handed in again starts over; a live or completed one stays as it is. */
export function requeued(job: Job, now: string): Job {
  if (job.status !== "failed" && job.status !== "cancelled" && !filesExpired(job, now)) return job;
  return restarted(job, now);
}

/** The job run again from the start (a completed one, for files it lacks). */
export function restarted(job: Job, now: string): Job {
  const { delivered: _d, removed: _r, reason: _w, ...rest } = job;
  // A new run ends anew: its end is pinged again.
  const requesters = rest.requesters.map(({ pinged: _p, ...q }) => q);
  return { ...rest, requesters, status: "queued", progress: 0, downloaded: 0, rate: 0, eta: null, error: null, files: [], zip: null, expiresAt: null, updatedAt: now };
}

/** When the store may forget an ended job: a while after its files expire, or after it ended. Live jobs stay. */
export function recordExpiry(job: Job, retentionDays: number): Date | null {
  if (!isTerminal(job.status)) return null;
  const base = job.expiresAt ?? addDays(job.updatedAt, retentionDays);
  return new Date(Date.parse(base) + recordGraceDays * day);
}
