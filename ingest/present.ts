// The Job as callers see it: completed files carry a signed /d/ link that works without a login.
import type { JobRecord } from "../lib/apply-fact.ts";
import type { Job } from "../lib/job.ts";
import type { Auth } from "./auth.ts";

export const encodeKeyPath = (key: string) => key.split("/").map(encodeURIComponent).join("/");

export function downloadUrl(publicUrl: string, auth: Auth, id: string, key: string): string {
  return `${publicUrl}/d/${id}/${encodeKeyPath(key)}?sig=${auth.linkSignature(id, key)}`;
}

export function presentJob(rec: JobRecord, publicUrl: string, auth: Auth): Job {
  const job = rec.job;
  if (job.status !== "completed") return job;
  return { ...job, files: rec.files.map((f) => ({ path: f.path, size: f.size, url: downloadUrl(publicUrl, auth, job.id, f.key) })) };
}
