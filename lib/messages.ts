// The messages that cross the queues, and their strict parsers. Every message carries v: 1.
import { parseSelection, type FileSelection } from "./file-selection.ts";
import { isJobId, type Job, type JobError, type JobStatus } from "./job.ts";
import { idFromManifestKey, zipKey } from "./layout.ts";

export type Source = { kind: "torrent"; key: string } | { kind: "magnet"; uri: string };

/** ingest → seedbox, over the requests topic and queue. */
export type RequestMessage =
  /** `files`: the files to fetch (lib/file-selection.ts); absent in older messages: every file. */
  /** `run`: when this run of the job was queued; the seedbox writes it into the manifest. */
  | { v: 1; type: "add"; id: string; name: string; source: Source; files?: FileSelection; run?: string }
  | { v: 1; type: "cancel"; id: string };

export type ProgressStatus = Extract<JobStatus, "queued" | "downloading" | "uploading">;

/** seedbox → ingest, over the facts topic and queue. `at` orders facts that arrive out of order. */
/** How far a job has got, as the seedbox sees it. */
export interface Progress {
  status: ProgressStatus;
  name: string;
  progress: number;
  size: number | null;
  downloaded: number;
  rate: number;
  eta: number | null;
}

export type Fact =
  | ({ v: 1; type: "progress"; id: string; at: string } & Progress)
  | { v: 1; type: "failed"; id: string; at: string; error: JobError }
  | { v: 1; type: "cancelled"; id: string; at: string };

/** seedbox → ingest: the manifest is written. It reads as the S3 notification does; the stores without one need it. */
export interface UploadedFact {
  v: 1;
  type: "uploaded";
  id: string;
  at: string;
}

/** ingest → bot and others, over the updates topic. */
export interface UpdateMessage {
  v: 1;
  type: "job";
  job: Job;
}

export interface Manifest {
  id: string;
  name: string;
  files: { path: string; key: string; size: number; sha256?: string }[];
  /** The zip of all the files (files/<id>/all.zip), when the job has more than one and zips are on. */
  zip?: { key: string; size: number };
  /** The run it belongs to (the request's `run`); absent when the seedbox did not know it. */
  run?: string;
  /**
   * The file selection its files were chosen by (the request's `files`; null: every file); absent when the
   * seedbox did not know it. A manifest made before a requester widened the choice does not complete the job.
   */
  chosen?: FileSelection | null;
}

/** A message that can never be handled; `id` is set when the job it concerns is known. */
export class PoisonMessage extends Error {
  readonly id: string | null;
  constructor(message: string, id: string | null) {
    super(message);
    this.name = "PoisonMessage";
    this.id = id;
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isNumOrNull = (v: unknown): v is number | null => v === null || isNum(v);

function parseJsonObject(text: string): Obj {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new PoisonMessage("message is not JSON", null);
  }
  if (!isObj(v)) throw new PoisonMessage("message is not a JSON object", null);
  return v;
}

function idOf(m: Obj): string | null {
  return typeof m.id === "string" && isJobId(m.id) ? m.id : null;
}

export function parseRequestMessage(text: string): RequestMessage {
  const m = parseJsonObject(text);
  const id = idOf(m);
  if (m.v !== 1) throw new PoisonMessage(`unknown message version ${JSON.stringify(m.v)}`, id);
  if (!id) throw new PoisonMessage("message has no valid job id", null);
  if (m.type === "cancel") return { v: 1, type: "cancel", id };
  if (m.type !== "add") throw new PoisonMessage(`unknown request type ${JSON.stringify(m.type)}`, id);
  const name = typeof m.name === "string" ? m.name : id;
  const files = { ...selectionIn(m, id), ...(typeof m.run === "string" ? { run: m.run } : {}) };
  const s = m.source;
  if (isObj(s) && s.kind === "torrent" && typeof s.key === "string") return { v: 1, type: "add", id, name, source: { kind: "torrent", key: s.key }, ...files };
  if (isObj(s) && s.kind === "magnet" && typeof s.uri === "string") return { v: 1, type: "add", id, name, source: { kind: "magnet", uri: s.uri }, ...files };
  throw new PoisonMessage("request has no valid source", id);
}

function selectionIn(m: Obj, id: string): { files?: FileSelection } {
  try {
    const files = parseSelection(m.files);
    return files ? { files } : {};
  } catch {
    throw new PoisonMessage("request has a malformed file selection", id);
  }
}

const progressStatuses: ReadonlySet<string> = new Set(["queued", "downloading", "uploading"]);

function parseFact(m: Obj): Fact {
  const id = idOf(m);
  if (m.v !== 1) throw new PoisonMessage(`unknown message version ${JSON.stringify(m.v)}`, id);
  if (!id) throw new PoisonMessage("fact has no valid job id", null);
  const at = typeof m.at === "string" && !Number.isNaN(Date.parse(m.at)) ? m.at : null;
  if (!at) throw new PoisonMessage("fact has no valid time", id);
  switch (m.type) {
    case "cancelled":
      return { v: 1, type: "cancelled", id, at };
    case "failed": {
      const e = m.error;
      if (!isObj(e) || typeof e.code !== "string" || typeof e.message !== "string") throw new PoisonMessage("failed fact has no error", id);
      return { v: 1, type: "failed", id, at, error: { code: e.code, message: e.message } };
    }
    case "progress": {
      const ok =
        typeof m.status === "string" && progressStatuses.has(m.status) && typeof m.name === "string" &&
        isNum(m.progress) && isNumOrNull(m.size) && isNum(m.downloaded) && isNum(m.rate) && isNumOrNull(m.eta);
      if (!ok) throw new PoisonMessage("progress fact is malformed", id);
      return {
        v: 1, type: "progress", id, at, status: m.status as ProgressStatus, name: m.name as string,
        progress: Math.min(1, Math.max(0, m.progress as number)), size: m.size as number | null,
        downloaded: m.downloaded as number, rate: m.rate as number, eta: m.eta as number | null,
      };
    }
    default:
      throw new PoisonMessage(`unknown fact type ${JSON.stringify(m.type)}`, id);
  }
}

export type FactsQueueMessage =
  | { kind: "fact"; fact: Fact }
  | { kind: "manifest"; id: string }
  | { kind: "ignore"; why: string };

/** The facts queue carries seedbox facts and S3 notifications (both raw from SNS). */
export function parseFactsQueueMessage(text: string): FactsQueueMessage {
  const m = parseJsonObject(text);
  if (m.Event === "s3:TestEvent") return { kind: "ignore", why: "s3 test event" };
  if (Array.isArray(m.Records)) {
    for (const r of m.Records) {
      const raw = isObj(r) && isObj(r.s3) && isObj(r.s3.object) ? r.s3.object.key : undefined;
      if (typeof raw !== "string") continue;
      // Keys in S3 notifications are URL-encoded, with '+' for spaces.
      const key = decodeURIComponent(raw.replace(/\+/g, " "));
      const id = idFromManifestKey(key);
      if (id) return { kind: "manifest", id };
    }
    return { kind: "ignore", why: "s3 event for a key that is not a manifest" };
  }
  if (m.type === "uploaded" && m.v === 1) {
    const id = idOf(m);
    if (!id) throw new PoisonMessage("fact has no valid job id", null);
    return { kind: "manifest", id };
  }
  return { kind: "fact", fact: parseFact(m) };
}

export function parseManifest(text: string, id: string): Manifest {
  const m = parseJsonObject(text);
  if (m.id !== id || typeof m.name !== "string" || !Array.isArray(m.files)) throw new PoisonMessage("manifest is malformed", id);
  const files = m.files.map((f) => {
    if (!isObj(f) || typeof f.path !== "string" || typeof f.key !== "string" || !isNum(f.size)) {
      throw new PoisonMessage("manifest lists a malformed file", id);
    }
    return { path: f.path, key: f.key, size: f.size, ...(typeof f.sha256 === "string" ? { sha256: f.sha256 } : {}) };
  });
  const z = m.zip;
  // Only the one key the layout names: a manifest cannot point a link at any other object.
  const zip = isObj(z) && z.key === zipKey(id) && isNum(z.size) && z.size >= 0 ? { zip: { key: z.key, size: z.size } } : {};
  return { id, name: m.name, files, ...zip, ...(typeof m.run === "string" ? { run: m.run } : {}), ...chosenIn(m) };
}

/** A manifest's `chosen`, if it holds a selection (or null, every file); anything else counts as unknown. */
function chosenIn(m: Obj): { chosen?: FileSelection | null } {
  if (m.chosen === null) return { chosen: null };
  try {
    const chosen = parseSelection(m.chosen);
    return chosen ? { chosen } : {};
  } catch {
    return {};
  }
}

/** Reads an update from the queue; anything else is skipped (null). */
export function parseUpdate(body: string): Job | null {
  let m: unknown;
  try {
    m = JSON.parse(body);
  } catch {
    return null;
  }
  const u = m as { v?: unknown; type?: unknown; job?: Partial<Job> } | null;
  if (!u || u.v !== 1 || u.type !== "job" || typeof u.job !== "object" || u.job === null) return null;
  const j = u.job;
  if (typeof j.id !== "string" || typeof j.name !== "string" || typeof j.status !== "string" || !Array.isArray(j.requesters) || !Array.isArray(j.files)) return null;
  if (typeof j.updatedAt !== "string") return null;
  return j as Job;
}
