// How facts from the seedbox and manifests from S3 change a job record. Pure: ingest persists the result.
import { isTerminal, type Job } from "./job.ts";
import type { Lease } from "./lease.ts";
import type { Fact, Manifest, Source } from "./messages.ts";
import type { WebhookState } from "./webhook.ts";

export interface StoredFile {
  /** The original path, for display. */
  path: string;
  /** The safe path under files/<id>/data/. */
  key: string;
  size: number;
}

/** What the job store keeps of a job: the job and what ingest needs to order facts and serve links. */
export interface JobRecord {
  job: Job;
  lastFactAt: string | null;
  files: StoredFile[];
  /** The zip of all the files (files/<id>/all.zip), when the manifest lists one. */
  zip?: { size: number };
  /** When the job was last (re)queued: its files are created from then on, and expire from then. */
  queuedAt?: string;
  /** callback_urls and the outbox of events not yet queued for delivery (absent: no webhooks). */
  hooks?: WebhookState;
  /** The seedbox working on the job (lib/lease.ts); absent until one takes it. */
  lease?: Lease;
  /** When the sweeper looks at the open job again (lib/lease.ts dueOf). */
  due?: string;
  /** How often seedboxes gave the job back for want of room. */
  handBacks?: number;
  /** Where the torrent comes from, so the job can be requested again (sweeper, hand-backs, restarts). */
  source?: Source;
}

/** The record after a fact, or null when the fact changes nothing (stale, or the job has ended). */
export function applyFact(rec: JobRecord, fact: Fact, now: string): JobRecord | null {
  const job = rec.job;
  if (isTerminal(job.status)) return null;
  if (rec.lastFactAt && fact.at < rec.lastFactAt) return null;
  let next: Job;
  switch (fact.type) {
    case "progress":
      next = {
        ...job,
        status: fact.status,
        name: fact.name || job.name,
        progress: fact.progress,
        size: fact.size ?? job.size,
        downloaded: fact.downloaded,
        rate: fact.rate,
        eta: fact.eta,
      };
      break;
    case "failed":
      next = { ...job, status: "failed", rate: 0, eta: null, error: fact.error };
      break;
    case "cancelled":
      next = { ...job, status: "cancelled", rate: 0, eta: null };
      break;
  }
  return { ...rec, job: { ...next, updatedAt: now }, lastFactAt: fact.at };
}

/** The record once its manifest exists: the job is complete, with its files, which expire at `expiresAt`. */
export function applyManifest(rec: JobRecord, m: Manifest, now: string, expiresAt: string): JobRecord | null {
  if (rec.job.status === "completed" || rec.job.status === "cancelled") return null;
  const prefix = `files/${m.id}/data/`;
  const files = m.files.filter((f) => f.key.startsWith(prefix)).map((f) => ({ path: f.path, key: f.key.slice(prefix.length), size: f.size }));
  const size = files.reduce((n, f) => n + f.size, 0);
  const { zip: _old, ...base } = rec;
  return {
    ...base,
    files,
    ...(m.zip ? { zip: { size: m.zip.size } } : {}),
    job: {
      ...rec.job,
      name: m.name || rec.job.name,
      status: "completed",
      progress: 1,
      size,
      downloaded: size,
      rate: 0,
      eta: 0,
      error: null,
      files: files.map((f) => ({ path: f.path, size: f.size })),
      expiresAt,
      updatedAt: now,
    },
  };
}
