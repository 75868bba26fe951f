// ingest's HTTP API as the bot uses it (lib/api-client.ts), with the service token. Errors carry
// ingest's plain message.
import { ApiClient, type JobPage } from "../lib/api-client.ts";
import type { Job, Requester } from "../lib/job.ts";

export type { JobPage, Submission } from "../lib/api-client.ts";
export type IngestClient = ApiClient;

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

/** The API client with the bot's words for each failure (a redirect counts as no answer). */
export function ingestClient(o: { apiUrl: string; apiToken: string; timeoutMs?: number }): IngestClient {
  return new ApiClient({
    baseUrl: o.apiUrl, token: o.apiToken, timeoutMs: o.timeoutMs ?? 30_000, redirect: "error",
    fail: (f) => {
      if (f.kind === "unreachable") return new IngestError("unavailable", "The torrent service is not reachable right now; try again in a minute.", 0);
      if (f.kind === "unreadable") return new IngestError("internal", "The torrent service gave an answer I could not read.", f.status);
      if (f.code !== undefined && f.message !== undefined) return new IngestError(f.code, f.message, f.status);
      return new IngestError("internal", "The torrent service had a problem; try again later.", f.status);
    },
  });
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
