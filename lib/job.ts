// The Job: what a person sees of a torrent they handed in, and the rules by which it changes.

export const jobStatuses = ["queued", "downloading", "uploading", "completed", "failed", "cancelled"] as const;
export type JobStatus = (typeof jobStatuses)[number];

export type Via = "web" | "discord" | "api";
export interface Requester {
  via: Via;
  user: string;
  /** Set by the bot: where it shows this job's status (kept so a restarted bot edits the same message). */
  channelId?: string;
  messageId?: string;
}

export interface JobFile {
  path: string;
  size: number;
  url?: string;
}

/** Failure codes of a job (not HTTP codes). */
export type JobErrorCode =
  | "no_peers"
  | "disk_full"
  | "invalid_torrent"
  | "torrent_missing"
  | "deluge_error"
  | "upload_failed"
  | "poison_message";

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
  files: JobFile[];
  error: JobError | null;
  requesters: Requester[];
  createdAt: string;
  updatedAt: string;
}

const terminal: ReadonlySet<JobStatus> = new Set(["completed", "failed", "cancelled"]);
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
    files: [],
    error: null,
    requesters: [init.requester],
    createdAt: init.now,
    updatedAt: init.now,
  };
}

function sameRequester(a: Requester, b: Requester): boolean {
  return a.via === b.via && a.user === b.user;
}

/** Adds a requester unless they already asked; returns whether anything changed. */
export function withRequester(job: Job, r: Requester): Job {
  if (job.requesters.some((x) => sameRequester(x, r))) return job;
  return { ...job, requesters: [...job.requesters, r] };
}

/** A failed or cancelled job handed in again starts over; a live or completed one stays as it is. */
export function requeued(job: Job, now: string): Job {
  if (job.status !== "failed" && job.status !== "cancelled") return job;
  return { ...job, status: "queued", progress: 0, downloaded: 0, rate: 0, eta: null, error: null, files: [], updatedAt: now };
}
