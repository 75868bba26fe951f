// ingest's HTTP API as the bot uses it, with the service token. Errors carry ingest's plain message.
// The token goes in X-T2S-Token as well as Authorization: behind CloudFront's origin access control
// (AWS mode) CloudFront replaces Authorization with its own signature, and a body must carry its SHA-256
// in x-amz-content-sha256 (harmless elsewhere).
import { createHash } from "node:crypto";
import type { Job, Requester } from "../lib/job.ts";

export type Submission = { magnet: string } | { torrent: string } | { url: string };

/** An answer of ingest that the bot can show as it is (`message`) or a failure to reach it. */
export class IngestError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status: number) {
    super(message);
    this.name = "IngestError";
    this.code = code;
    this.status = status;
  }
}

export interface DiscordRequester extends Requester {
  via: "discord";
}

export interface JobPage {
  jobs: Job[];
  next: string | null;
}

export class IngestClient {
  readonly #base: string;
  readonly #token: string;
  readonly #timeoutMs: number;

  constructor(o: { apiUrl: string; apiToken: string; timeoutMs?: number }) {
    this.#base = o.apiUrl.replace(/\/+$/, "");
    this.#token = o.apiToken;
    this.#timeoutMs = o.timeoutMs ?? 30_000;
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.#request<T>(method, path, body)).body;
  }

  async #request<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    let res: Response;
    try {
      const text = body === undefined ? undefined : JSON.stringify(body);
      res = await fetch(this.#base + path, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`, "x-t2s-token": this.#token, accept: "application/json",
          ...(text !== undefined ? { "content-type": "application/json", "x-amz-content-sha256": createHash("sha256").update(text).digest("hex") } : {}),
        },
        body: text,
        signal: AbortSignal.timeout(this.#timeoutMs),
        redirect: "error",
      });
    } catch {
      throw new IngestError("unavailable", "The torrent service is not reachable right now; try again in a minute.", 0);
    }
    const text = await res.text().catch(() => "");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const e = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      if (e && typeof e.code === "string" && typeof e.message === "string") throw new IngestError(e.code, e.message, res.status);
      throw new IngestError("internal", "The torrent service had a problem; try again later.", res.status);
    }
    if (parsed === undefined) throw new IngestError("internal", "The torrent service gave an answer I could not read.", res.status);
    return { status: res.status, body: parsed as T };
  }

  /** Submits a torrent for a Discord user; `created` is false when the torrent was already known. */
  async submit(s: Submission, requester: DiscordRequester): Promise<{ job: Job; created: boolean }> {
    const res = await this.#request<{ job: Job }>("POST", "/api/jobs", { ...s, requester });
    return { job: res.body.job, created: res.status === 202 };
  }

  /** One page of jobs, newest first; `next` is the cursor of the following page (null on the last). */
  async list(limit?: number, cursor?: string | null): Promise<JobPage> {
    const q = new URLSearchParams();
    if (limit !== undefined) q.set("limit", String(limit));
    if (cursor) q.set("cursor", cursor);
    const qs = q.toString();
    const page = await this.#call<{ jobs?: unknown; next?: unknown }>("GET", `/api/jobs${qs ? `?${qs}` : ""}`);
    if (!Array.isArray(page.jobs)) throw new IngestError("internal", "The torrent service gave an answer I could not read.", 200);
    return { jobs: page.jobs as Job[], next: typeof page.next === "string" && page.next !== "" ? page.next : null };
  }

  async get(id: string): Promise<Job> {
    return (await this.#call<{ job: Job }>("GET", `/api/jobs/${encodeURIComponent(id)}`)).job;
  }

  async cancel(id: string): Promise<Job> {
    return (await this.#call<{ job: Job }>("DELETE", `/api/jobs/${encodeURIComponent(id)}`)).job;
  }

  /** Deletes a completed job's files from the bucket; its links answer 410 from then on. */
  async deleteFiles(id: string): Promise<Job> {
    return (await this.#call<{ job: Job }>("DELETE", `/api/jobs/${encodeURIComponent(id)}/files`)).job;
  }

  /** Keeps where the bot shows a job in the requester's entry, so a restarted bot edits the same message. */
  async setRequester(id: string, requester: DiscordRequester): Promise<Job> {
    return (await this.#call<{ job: Job }>("PATCH", `/api/jobs/${encodeURIComponent(id)}/requester`, { requester })).job;
  }
}

/** The jobs a Discord user asked for. */
export function jobsOf(jobs: Job[], userId: string): Job[] {
  return jobs.filter((j) => j.requesters.some((r) => r.via === "discord" && r.user === userId));
}

/** How far a search through the pages may go: each page is one call to ingest. */
export const walkLimits = { pageSize: 200, maxPages: 5, enough: 25 } as const;

/**
 * A user's jobs, newest first, found by walking the pages until `enough` of them match or `maxPages`
 * pages were read: the cost is bounded however many jobs exist. `more` says jobs may be left unread.
 */
export async function findJobsOf(
  ingest: Pick<IngestClient, "list">,
  userId: string,
  o: { match?: (j: Job) => boolean; enough?: number; maxPages?: number; pageSize?: number } = {},
): Promise<{ jobs: Job[]; more: boolean }> {
  const enough = o.enough ?? walkLimits.enough;
  const maxPages = o.maxPages ?? walkLimits.maxPages;
  const match = o.match ?? (() => true);
  const found: Job[] = [];
  const seen = new Set<string>();
  let cursor: string | null = null;
  for (let page = 0; page < maxPages; page++) {
    const p: JobPage = await ingest.list(o.pageSize ?? walkLimits.pageSize, cursor);
    for (const j of jobsOf(p.jobs, userId)) {
      // A job may move between pages while they are read; each is listed once.
      if (seen.has(j.id) || !match(j)) continue;
      seen.add(j.id);
      found.push(j);
      if (found.length >= enough) return { jobs: found, more: true };
    }
    if (p.next === null) return { jobs: found, more: false };
    cursor = p.next;
  }
  return { jobs: found, more: true };
}
