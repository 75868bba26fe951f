// Drives the rehearsed AWS mode as a person would, through the CloudFront stand-in: hands torrents in
// with the project's own API client, follows each job to its end, and fetches its links.
import { createHash } from "node:crypto";
import { ApiClient } from "../../lib/api-client.ts";
import type { Job } from "../../lib/job.ts";
import { isTerminal } from "../../lib/job.ts";
import { sleep } from "../../lib/time.ts";

export function rehearsalClient(baseUrl: string, token: string): ApiClient {
  return new ApiClient({
    baseUrl, token, timeoutMs: 60_000,
    fail: (f) => new Error(`the API through CloudFront: ${f.kind === "refused" ? `HTTP ${f.status}${f.code ? ` ${f.code}` : ""}${f.message ? `: ${f.message}` : ""}` : f.kind}`),
  });
}

export interface Followed {
  job: Job;
  /** When the job first showed downloaded bytes (ms since the epoch), if it did. */
  firstByteAt: number | null;
}

/** Polls a job until it ends, or `stopWhen` says so (or `timeoutMs`), noting when its first bytes showed. */
export async function follow(api: ApiClient, id: string, o: { timeoutMs: number; signal: AbortSignal; onChange?: (job: Job) => void; trouble?: () => string | null; stopWhen?: (job: Job) => boolean }): Promise<Followed> {
  const until = Date.now() + o.timeoutMs;
  let firstByteAt: number | null = null;
  let last = "";
  for (;;) {
    o.signal.throwIfAborted();
    const why = o.trouble?.();
    if (why) throw new Error(`job ${id}: ${why}`);
    const job = await api.get(id, o.signal);
    if (firstByteAt === null && job.downloaded > 0) firstByteAt = Date.now();
    const seen = `${job.status} ${job.progress}`;
    if (seen !== last) o.onChange?.(job);
    last = seen;
    if (o.stopWhen?.(job)) return { job, firstByteAt };
    if (isTerminal(job.status)) return { job, firstByteAt: firstByteAt ?? (job.status === "completed" ? Date.now() : null) };
    if (Date.now() > until) throw new Error(`job ${id} still ${job.status} after ${Math.round(o.timeoutMs / 1000)} s`);
    await sleep(500, o.signal);
  }
}

/**
 * The sha256 of what a link gives, following its redirects (a signed S3 or CloudFront URL), and the final
 * status. `via` maps each URL first: one naming the distribution goes to its stand-in.
 */
export async function fetchLink(url: string, via: (url: string) => string = (u) => u): Promise<{ status: number; sha256: string; bytes: number; said?: string }> {
  let res = await fetch(via(url), { redirect: "manual" });
  for (let hops = 0; res.status >= 300 && res.status < 400 && res.headers.get("location") && hops < 5; hops++) {
    await res.body?.cancel();
    res = await fetch(via(new URL(res.headers.get("location")!, res.url).href), { redirect: "manual" });
  }
  if (!res.ok) return { status: res.status, sha256: "", bytes: 0, said: `${new URL(res.url).pathname.slice(0, 60)}: ${(await res.text()).slice(0, 300)}` };
  const h = createHash("sha256");
  let bytes = 0;
  if (res.body) {
    for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
      h.update(c);
      bytes += c.length;
    }
  }
  return { status: res.status, sha256: h.digest("hex"), bytes };
}
