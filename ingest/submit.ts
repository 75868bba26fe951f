// Turns a submission (magnet, base64 .torrent, or URL) into a job: validate, claim-check, record, request.
import { AppError } from "../lib/errors.ts";
import type { Bucket } from "../lib/aws/bucket.ts";
import type { Publish } from "../lib/aws/topic.ts";
import { checkSelection, parseSelection, type FileSelection } from "../lib/file-selection.ts";
import { holdForBudget, requestOf, setChoice, submitJob, type JobRecord } from "../lib/job-record.ts";
import type { Costs } from "./costs.ts";
import type { Requester } from "../lib/job.ts";
import { incomingKey, manifestKey } from "../lib/layout.ts";
import { formatMagnet, parseMagnet } from "../lib/magnet.ts";
import type { Source } from "../lib/messages.ts";
import { maxTorrentBytes, parseTorrent } from "../lib/torrent.ts";
import type { FetchGuard } from "./fetch-guard.ts";
import type { JobRegistry } from "./registry.ts";
import type { ScaleUp } from "./scale-up.ts";

export interface Submission {
  magnet?: unknown;
  torrent?: unknown;
  url?: unknown;
  callback_url?: unknown;
  /** File indexes and globs (lib/file-selection.ts); absent: every file. */
  files?: unknown;
}

interface Resolved {
  id: string;
  name: string;
  size: number | null;
  source: Source;
  torrent?: Buffer;
  /** A .torrent's files (path, torrent folder first, and size), so a selection is checked at once. */
  files?: { path: string; size: number }[];
}

export interface SubmitDeps {
  bucket: Bucket;
  registry: JobRegistry;
  guard: FetchGuard;
  publishRequest: Publish;
  now: () => string;
  /** false: webhooks are not configured, and callback_url is refused. */
  webhooks: boolean;
  /** AWS mode: asks the fleet for seedboxes once a request is out; never throws. */
  scaleUp?: ScaleUp;
  /** The budget guard: over the month's budget, a job that would start waits (reason "budget") unrequested. Absent: no guard. */
  costs?: Pick<Costs, "decision" | "recheckMs">;
}

const base64Pattern = /^[A-Za-z0-9+/_-]*={0,2}$/;

function fromTorrent(bytes: Buffer): Resolved {
  const t = parseTorrent(bytes);
  const files = t.files.map((f) => ({ path: f.path.join("/"), size: f.length }));
  return { id: t.infoHash, name: t.name, size: t.size, source: { kind: "torrent", key: incomingKey(t.infoHash) }, torrent: bytes, files };
}

async function resolve(body: Submission, deps: SubmitDeps, signal: AbortSignal): Promise<Resolved> {
  const given = (["magnet", "torrent", "url"] as const).filter((k) => body[k] !== undefined && body[k] !== null);
  if (given.length !== 1) {
    throw new AppError("invalid_request", 'Send exactly one of "magnet", "torrent" (base64) or "url".');
  }
  const kind = given[0]!;
  const value = body[kind];
  if (typeof value !== "string" || value.trim() === "") throw new AppError("invalid_request", `"${kind}" must be a non-empty string.`);
  switch (kind) {
    case "magnet": {
      const m = parseMagnet(value.trim());
      return { id: m.infoHash, name: m.name ?? m.infoHash, size: null, source: { kind: "magnet", uri: formatMagnet(m) } };
    }
    case "torrent": {
      const b64 = value.replace(/\s+/g, "");
      if (!base64Pattern.test(b64)) throw new AppError("invalid_torrent", '"torrent" must be the .torrent file encoded as base64.');
      if ((b64.length * 3) / 4 > maxTorrentBytes + 3) throw new AppError("too_large", "The .torrent file is larger than 10 MiB.");
      return fromTorrent(Buffer.from(b64, "base64"));
    }
    case "url":
      return fromTorrent(await deps.guard.fetch(value.trim(), signal));
  }
}

/** The callback_url of a submission, checked before anything is fetched or stored. */
async function callbackUrl(body: Submission, deps: SubmitDeps): Promise<string | null> {
  const v = body.callback_url;
  if (v === undefined || v === null) return null;
  if (typeof v !== "string" || v.trim() === "") throw new AppError("invalid_url", '"callback_url" must be an http(s) URL.');
  if (!deps.webhooks) throw new AppError("invalid_request", "Webhooks are not configured on this server.");
  return (await deps.guard.checkTarget(v.trim())).toString();
}

/**
 * The requester with the files they chose: a .torrent's are checked and kept as indexes, so the size is
 * known; a magnet's wait for its metadata (the seedbox resolves them then).
 */
function choose(chosen: ReturnType<typeof parseSelection>, r: Resolved, requester: Requester): { requester: Requester; size: number | null } {
  if (!chosen) return { requester, size: r.size };
  if (!r.files) return { requester: { ...requester, files: chosen }, size: null };
  const indexes = checkSelection(chosen, r.files.map((f) => f.path));
  return { requester: { ...requester, files: indexes }, size: indexes.reduce((n, i) => n + r.files![i]!.size, 0) };
}

export async function submit(body: Submission, asker: Requester, deps: SubmitDeps, signal: AbortSignal): Promise<{ rec: JobRecord; created: boolean }> {
  const chosen = parseSelection(body.files);
  const callback = await callbackUrl(body, deps);
  const r = await resolve(body, deps, signal);
  const { requester, size } = choose(chosen, r, asker);
  // The claim check goes first: the seedbox must find the torrent once the request is out.
  if (r.torrent) await deps.bucket.put(r.source.kind === "torrent" ? r.source.key : incomingKey(r.id), r.torrent, "application/x-bittorrent");
  let created = false;
  let flags = { request: false, reselect: false };
  const sub = { id: r.id, name: r.name, size, source: r.source, requester, callback };
  const held = deps.costs !== undefined && (await deps.costs.decision()) === "budget";
  await dropOldManifest(r.id, (cur) => submitJob(cur, sub, deps.now()).request, deps);
  // May run again after a conflict with another writer: every flag is set from `cur` alone.
  const rec = await deps.registry.update(r.id, (cur) => {
    const now = deps.now();
    const s = submitJob(cur, sub, now);
    ({ created } = s);
    flags = s;
    if (held && s.request && s.rec) {
      // Over the month's budget: it waits, unrequested, until the sweeper releases it.
      flags = { request: false, reselect: false };
      return holdForBudget(s.rec, Date.parse(now), deps.costs!.recheckMs);
    }
    return s.rec;
  });
  return { rec: await announce(r.id, rec, flags, deps), created };
}

/**
 * One requester's files set exactly (qBittorrent's filePrio): the job runs again or its holder hears, as
 * for a submission. Null: the job is gone.
 */
export async function chooseFiles(id: string, requester: Requester, files: FileSelection | null, deps: SubmitDeps): Promise<JobRecord | null> {
  let flags = { request: false, reselect: false };
  await dropOldManifest(id, (cur) => !!cur.source && setChoice(cur, requester, files, cur.source, deps.now()).request, deps);
  const rec = await deps.registry.update(id, (cur) => {
    if (!cur?.source) return null;
    const s = setChoice(cur, requester, files, cur.source, deps.now());
    flags = s;
    return s.rec;
  });
  if (!rec && !(await deps.registry.record(id))) return null;
  return announce(id, rec, flags, deps);
}

/**
 * A completed job about to run again loses its manifest first: a late notice of it (delivery is at least
 * once) must not complete the new run with the old files. (announce deletes it again after the write,
 * for a job that ended meanwhile.)
 */
async function dropOldManifest(id: string, restarts: (cur: JobRecord) => boolean, deps: SubmitDeps): Promise<void> {
  const cur = await deps.registry.record(id);
  if (cur?.job.status === "completed" && restarts(cur)) await deps.bucket.delete(manifestKey(id));
}

/** What follows a written submission: the request when the job (re)starts or its files changed. */
async function announce(id: string, rec: JobRecord | null, f: { request: boolean; reselect: boolean }, deps: SubmitDeps): Promise<JobRecord> {
  const current = rec ?? (await deps.registry.record(id))!;
  if (f.request) {
    // A manifest belongs to one run: an earlier run's (the bucket removes expired files only at its next
    // lifecycle pass) must not complete this one.
    await deps.bucket.delete(manifestKey(id));
    await deps.publishRequest(requestOf(current));
    await deps.scaleUp?.();
  } else if (f.reselect) {
    // The seedbox holding the job fetches the new selection.
    await deps.publishRequest(requestOf(current));
  }
  return current;
}
