// The CLI's client of the HTTP API: one call, one coded error, and plain words for what went wrong.
import { createHash } from "node:crypto";
import type { Job } from "../lib/job.ts";

/** Exit codes: each failure its own, so scripts can tell them apart. */
export const exitCodes = { ok: 0, failed: 1, usage: 2, cancelled: 3, unauthorized: 4, unreachable: 5, api: 6, expired: 7 } as const;

export class CliError extends Error {
  readonly exit: number;
  readonly code: string;
  constructor(code: string, message: string, exit: number) {
    super(message);
    this.code = code;
    this.exit = exit;
  }
}

export type ApiJob = Job & { zip?: { url: string; size: number } | null };

export class Client {
  readonly base: string;
  readonly #token: string;
  constructor(base: string, token: string) {
    this.base = base.replace(/\/+$/, "");
    this.#token = token;
  }

  /** The token, as a header (and again as X-T2S-Token: through CloudFront, Authorization carries its signature). */
  headers(): Record<string, string> {
    return { authorization: `Bearer ${this.#token}`, "x-t2s-token": this.#token };
  }

  /** A call to the qBittorrent API (form in, plain text out): "Ok.", "Fails.", or its refusal's words. */
  async qbt(call: string, form: URLSearchParams | FormData, signal?: AbortSignal): Promise<string> {
    let res: Response;
    try {
      res = await fetch(`${this.base}/qbittorrent/api/v2/${call}`, { method: "POST", headers: this.headers(), body: form, signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(60_000)]) : AbortSignal.timeout(60_000) });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new CliError("unreachable", `Cannot reach ${this.base} (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name}).`, exitCodes.unreachable);
    }
    const text = await res.text();
    if (res.status === 403) throw new CliError("unauthorized", "The server refused the API token. Check T2S_API_TOKEN or --token.", exitCodes.unauthorized);
    // A refusal in qBittorrent's words (400, 404, 409, 415) is an answer; a server error is not.
    if (res.status >= 500) throw new CliError("http_error", `The qBittorrent API answered HTTP ${res.status}.`, exitCodes.api);
    return text;
  }

  async call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    let res: Response;
    try {
      const text = body === undefined ? undefined : JSON.stringify(body);
      res = await fetch(this.base + path, {
        method,
        // Through CloudFront (AWS mode) the Authorization header carries the origin's own signature:
        // the token also goes as X-T2S-Token, and a body names its SHA-256, as the function URL needs.
        headers: {
          ...this.headers(),
          ...(text !== undefined ? { "content-type": "application/json", "x-amz-content-sha256": createHash("sha256").update(text).digest("hex") } : {}),
        },
        body: text,
        signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(60_000)]) : AbortSignal.timeout(60_000),
      });
    } catch (err) {
      const why = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      throw new CliError("unreachable", `Cannot reach ${this.base} (${why}). Check T2S_URL or --url.`, exitCodes.unreachable);
    }
    const text = await res.text();
    let parsed: { error?: { code: string; message: string } } & Record<string, unknown> = {};
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON: say so below */
    }
    if (res.status === 401) throw new CliError("unauthorized", "The server refused the API token. Check T2S_API_TOKEN or --token.", exitCodes.unauthorized);
    if (!res.ok) {
      const e = parsed.error;
      throw new CliError(e?.code ?? "http_error", e?.message ?? `The server answered HTTP ${res.status}.`, exitCodes.api);
    }
    if (!text || parsed.error) throw new CliError("bad_answer", `The server at ${this.base} did not answer like torrent2s3.`, exitCodes.api);
    return parsed as T;
  }

  add(source: Record<string, string>): Promise<{ job: ApiJob }> {
    return this.call("POST", "/api/jobs", source);
  }
  list(limit: number, cursor: string | null): Promise<{ jobs: ApiJob[]; next: string | null }> {
    return this.call("GET", `/api/jobs?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
  }
  get(id: string, signal?: AbortSignal): Promise<{ job: ApiJob }> {
    return this.call("GET", `/api/jobs/${encodeURIComponent(id)}`, undefined, signal);
  }
  cancel(id: string): Promise<{ job: ApiJob }> {
    return this.call("DELETE", `/api/jobs/${encodeURIComponent(id)}`);
  }
  deleteFiles(id: string): Promise<{ job: ApiJob }> {
    return this.call("DELETE", `/api/jobs/${encodeURIComponent(id)}/files`);
  }
}
