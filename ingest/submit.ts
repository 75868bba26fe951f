// Turns a submission (magnet, base64 .torrent, or URL) into a job: validate, claim-check, record, request.
import { AppError } from "../lib/errors.ts";
import type { Bucket } from "../lib/aws/bucket.ts";
import type { Publish } from "../lib/aws/topic.ts";
import { holdForBudget, submitJob, type JobRecord } from "../lib/job-record.ts";
import type { Costs } from "./costs.ts";
import type { Requester } from "../lib/job.ts";
import { incomingKey, manifestKey } from "../lib/layout.ts";
import { formatMagnet, parseMagnet } from "../lib/magnet.ts";
import type { RequestMessage, Source } from "../lib/messages.ts";
import { maxTorrentBytes, parseTorrent } from "../lib/torrent.ts";
import type { FetchGuard } from "./fetch-guard.ts";
import type { JobRegistry } from "./registry.ts";
import type { ScaleUp } from "./scale-up.ts";

export interface Submission {
  magnet?: unknown;
  torrent?: unknown;
  url?: unknown;
  callback_url?: unknown;
}

interface Resolved {
  id: string;
  name: string;
  size: number | null;
  source: Source;
  torrent?: Buffer;
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
  return { id: t.infoHash, name: t.name, size: t.size, source: { kind: "torrent", key: incomingKey(t.infoHash) }, torrent: bytes };
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

export async function submit(body: Submission, requester: Requester, deps: SubmitDeps, signal: AbortSignal): Promise<{ rec: JobRecord; created: boolean }> {
  const callback = await callbackUrl(body, deps);
  const r = await resolve(body, deps, signal);
  // The claim check goes first: the seedbox must find the torrent once the request is out.
  if (r.torrent) await deps.bucket.put(r.source.kind === "torrent" ? r.source.key : incomingKey(r.id), r.torrent, "application/x-bittorrent");
  let created = false;
  let request = false;
  const held = deps.costs !== undefined && (await deps.costs.decision()) === "budget";
  // May run again after a conflict with another writer: every flag is set from `cur` alone.
  const rec = await deps.registry.update(r.id, (cur) => {
    const now = deps.now();
    const s = submitJob(cur, { id: r.id, name: r.name, size: r.size, source: r.source, requester, callback }, now);
    ({ created, request } = s);
    if (held && s.request && s.rec) {
      request = false;
      return holdForBudget(s.rec, Date.parse(now), deps.costs!.recheckMs);
    }
    return s.rec;
  });
  const current = rec ?? (await deps.registry.record(r.id))!;
  if (request) {
    // A manifest belongs to one run: an earlier run's (the bucket removes expired files only at its next
    // lifecycle pass) must not complete this one.
    await deps.bucket.delete(manifestKey(r.id));
    const msg: RequestMessage = { v: 1, type: "add", id: r.id, name: r.name, source: r.source };
    await deps.publishRequest(msg);
    await deps.scaleUp?.();
  }
  return { rec: current, created };
}
