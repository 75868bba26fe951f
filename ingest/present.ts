// The Job as callers see it: completed files carry a signed /d/ link that works without a login; once
// the bucket has expired them, the job shows as expired and its files carry no link.
import { holder, type JobRecord } from "../lib/job-record.ts";
import { filesExpired, type Job } from "../lib/job.ts";
import type { Auth } from "./auth.ts";

export const encodeKeyPath = (key: string) => key.split("/").map(encodeURIComponent).join("/");

export function downloadUrl(publicUrl: string, auth: Auth, id: string, key: string): string {
  return `${publicUrl}/d/${id}/${encodeKeyPath(key)}?sig=${auth.linkSignature(id, key)}`;
}

/** What the zip link's signature covers: no data key starts with "/", so it signs no file's link. */
export const zipLinkKey = "/all.zip";

export const zipUrl = (publicUrl: string, auth: Auth, id: string) => `${publicUrl}/zip/${id}?sig=${auth.linkSignature(id, zipLinkKey)}`;

export function presentJob(rec: JobRecord, publicUrl: string, auth: Auth, now: string): Job {
  // Records stored before zips existed have no zip field.
  const job = { ...rec.job, expiresAt: rec.job.expiresAt ?? null, zip: null, seedbox: holder(rec, Date.parse(now)) };
  if (filesExpired(job, now)) return { ...job, status: "expired", files: rec.files.map((f) => ({ path: f.path, size: f.size })) };
  if (job.status !== "completed") return job;
  return {
    ...job,
    files: rec.files.map((f) => ({ path: f.path, size: f.size, url: downloadUrl(publicUrl, auth, job.id, f.key) })),
    zip: rec.zip ? { url: zipUrl(publicUrl, auth, job.id), size: rec.zip.size } : null,
  };
}
