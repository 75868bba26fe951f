// The Job as callers see it: completed files carry a signed /d/ link that works without a login until it
// expires; once the bucket has expired them, the job shows as expired and its files carry no link.
import { costOf, usageOf, type Pricing } from "../lib/cost.ts";
import { encodeKeyPath } from "../lib/layout.ts";
import { holder, type JobRecord } from "../lib/job-record.ts";
import { filesExpired, type Job } from "../lib/job.ts";
import type { Auth, LinkScope } from "./auth.ts";

export { encodeKeyPath };

/** Where links point and how long they last. */
export interface LinkPolicy {
  publicUrl: string;
  auth: Auth;
  /** Days a link works from the day it is handed out, and never past the files' own expiry. */
  linkDays: number;
  /** How each job's cost is estimated. */
  pricing: Pricing;
}

const dayMs = 86_400_000;

/** The run a record's links belong to: when the job was last queued. */
export const runOf = (rec: JobRecord) => rec.queuedAt ?? rec.job.createdAt;

/**
 * A link handed out now works `linkDays` from the end of today (UTC), or until the files expire if sooner:
 * the same link all day long, so a message that shows it need not change.
 */
export function linkScope(rec: JobRecord, linkDays: number, nowMs: number): LinkScope {
  const filesEnd = rec.job.expiresAt ? Date.parse(rec.job.expiresAt) : Infinity;
  const end = Math.min(filesEnd, Math.ceil(nowMs / dayMs) * dayMs + linkDays * dayMs);
  return { run: runOf(rec), exp: Math.floor(end / 1000) };
}

/** What the zip link's signature covers: no data key starts with "/", so it signs no file's link. */
export const zipLinkKey = "/all.zip";

const signed = (p: LinkPolicy, path: string, id: string, key: string, scope: LinkScope) =>
  `${p.publicUrl}${path}?exp=${scope.exp}&sig=${p.auth.linkSignature(id, key, scope)}`;

export function presentJob(rec: JobRecord, p: LinkPolicy, now: string): Job {
  // Records stored before zips existed have no zip field. Only a queued job waits for a reason.
  const { reason, ...own } = rec.job;
  const job = {
    ...own, ...(reason && own.status === "queued" ? { reason } : {}),
    expiresAt: rec.job.expiresAt ?? null, zip: null, seedbox: holder(rec, Date.parse(now)), cost: costOf(usageOf(rec, Date.parse(now)), p.pricing),
  };
  if (filesExpired(job, now)) return { ...job, status: "expired", files: rec.files.map((f) => ({ path: f.path, size: f.size })) };
  if (job.status !== "completed") return job;
  const scope = linkScope(rec, p.linkDays, Date.parse(now));
  return {
    ...job,
    files: rec.files.map((f) => ({ path: f.path, size: f.size, url: signed(p, `/d/${job.id}/${encodeKeyPath(f.key)}`, job.id, f.key, scope) })),
    zip: rec.zip ? { url: signed(p, `/zip/${job.id}`, job.id, zipLinkKey, scope), size: rec.zip.size } : null,
  };
}
