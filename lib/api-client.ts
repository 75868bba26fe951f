// The client of ingest's HTTP API (docs/api.md "HTTP API (v1)"), shared by the CLI and the bot. Each caller
// says how a failure reads to its users (`fail`); the calls and the headers are the same for both.
// The token goes in X-T2S-Token as well as Authorization: behind CloudFront's origin access control
// (AWS mode) CloudFront replaces Authorization with its own signature, and a body must carry its SHA-256
// in x-amz-content-sha256, or the function URL refuses it (both harmless elsewhere).
import { createHash } from "node:crypto";
import type { FileSelection } from "./file-selection.ts";
import type { Job, Requester } from "./job.ts";

export type Submission = { magnet: string } | { torrent: string } | { url: string };

/** A submission with the webhook to call when the job ends, and the files to fetch (indexes, globs; absent: all). */
export type SubmitBody = Submission & { callback_url?: string; files?: FileSelection };

export interface JobPage {
  jobs: Job[];
  next: string | null;
}

/** Why a call failed, for the caller to put in its own words. */
export type ApiFailure =
  /** No answer: the network, a timeout, an abort, or (with redirects refused) a redirect. */
  | { kind: "unreachable"; cause: unknown }
  /** An answer other than 2xx; `code` and `message` when it was ingest's coded error. */
  | { kind: "refused"; status: number; code?: string; message?: string }
  /** A 2xx answer that is not what ingest answers. */
  | { kind: "unreadable"; status: number };

export interface ApiClientOptions {
  baseUrl: string;
  token: string;
  timeoutMs: number;
  /** The error a failed call throws. */
  fail: (f: ApiFailure) => Error;
  /** Follow redirects (default), or treat one as no answer. */
  redirect?: "follow" | "error";
}

/** The headers of an API call with an optional JSON body. */
export function apiHeaders(token: string, text: string | undefined): Record<string, string> {
  return {
    authorization: `Bearer ${token}`, "x-t2s-token": token, accept: "application/json",
    ...(text !== undefined ? { "content-type": "application/json", "x-amz-content-sha256": createHash("sha256").update(text).digest("hex") } : {}),
  };
}

const jobPath = (id: string, rest = "") => `/api/jobs/${encodeURIComponent(id)}${rest}`;

export class ApiClient {
  readonly base: string;
  readonly #o: ApiClientOptions;

  constructor(o: ApiClientOptions) {
    this.base = o.baseUrl.replace(/\/+$/, "");
    this.#o = o;
  }

  /** The token as headers, for calls this client does not make itself (an event stream, a form). */
  authHeaders(): Record<string, string> {
    const { authorization, "x-t2s-token": token } = apiHeaders(this.#o.token, undefined);
    return { authorization: authorization!, "x-t2s-token": token! };
  }

  /**
   * A call to the qBittorrent API (a form in, plain text out): "Ok.", "Fails.", or its refusal's words. A 403
   * (the token refused) and a server error are the caller's errors.
   */
  async qbt(call: string, form: URLSearchParams | FormData, signal?: AbortSignal): Promise<string> {
    const timeout = AbortSignal.timeout(this.#o.timeoutMs);
    let res: Response;
    try {
      res = await fetch(`${this.base}/qbittorrent/api/v2/${call}`, {
        method: "POST", headers: this.authHeaders(), body: form, redirect: this.#o.redirect ?? "follow",
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (cause) {
      throw this.#o.fail({ kind: "unreachable", cause });
    }
    const text = await res.text();
    if (res.status === 403 || res.status >= 500) throw this.#o.fail({ kind: "refused", status: res.status === 403 ? 401 : res.status });
    return text;
  }

  /** One call: its status and parsed JSON body, or the caller's error. */
  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<{ status: number; body: T }> {
    const timeout = AbortSignal.timeout(this.#o.timeoutMs);
    let res: Response;
    try {
      const text = body === undefined ? undefined : JSON.stringify(body);
      res = await fetch(this.base + path, {
        method, headers: apiHeaders(this.#o.token, text), body: text,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        redirect: this.#o.redirect ?? "follow",
      });
    } catch (cause) {
      throw this.#o.fail({ kind: "unreachable", cause });
    }
    const text = await res.text().catch(() => "");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const e = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    if (!res.ok) {
      const coded = e && typeof e.code === "string" && typeof e.message === "string" ? { code: e.code, message: e.message } : {};
      throw this.#o.fail({ kind: "refused", status: res.status, ...coded });
    }
    if (typeof parsed !== "object" || parsed === null || e !== undefined) throw this.#o.fail({ kind: "unreadable", status: res.status });
    return { status: res.status, body: parsed as T };
  }

  async #job(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Job> {
    const { status, body: answer } = await this.request<{ job?: Job }>(method, path, body, signal);
    if (typeof answer.job !== "object" || answer.job === null) throw this.#o.fail({ kind: "unreadable", status });
    return answer.job;
  }

  /**
   * Hands a torrent in, for `requester` when a service token acts for a person; `created` is false when
   * the torrent was already known (the requester is added).
   */
  async submit(s: SubmitBody, requester?: Requester): Promise<{ job: Job; created: boolean }> {
    const res = await this.request<{ job: Job }>("POST", "/api/jobs", requester ? { ...s, requester } : s);
    return { job: res.body.job, created: res.status === 202 };
  }

  /** One page of jobs, newest first; `next` is the cursor of the following page (null on the last). */
  async list(limit?: number, cursor?: string | null): Promise<JobPage> {
    const q = new URLSearchParams();
    if (limit !== undefined) q.set("limit", String(limit));
    if (cursor) q.set("cursor", cursor);
    const qs = q.toString();
    const { status, body: page } = await this.request<{ jobs?: unknown; next?: unknown }>("GET", `/api/jobs${qs ? `?${qs}` : ""}`);
    if (!Array.isArray(page.jobs)) throw this.#o.fail({ kind: "unreadable", status });
    return { jobs: page.jobs as Job[], next: typeof page.next === "string" && page.next !== "" ? page.next : null };
  }

  get(id: string, signal?: AbortSignal): Promise<Job> {
    return this.#job("GET", jobPath(id), undefined, signal);
  }

  cancel(id: string): Promise<Job> {
    return this.#job("DELETE", jobPath(id));
  }

  /** Deletes a completed job's files from the bucket; its links answer 410 from then on. */
  deleteFiles(id: string): Promise<Job> {
    return this.#job("DELETE", jobPath(id, "/files"));
  }

  /** Keeps where a service shows a job in the requester's entry (the bot's status message). */
  setRequester(id: string, requester: Requester): Promise<Job> {
    return this.#job("PATCH", jobPath(id, "/requester"), { requester });
  }
}
