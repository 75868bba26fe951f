// The CLI's client of the HTTP API: one call, one coded error, and plain words for what went wrong.
import { ApiClient } from "../lib/api-client.ts";

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

/** The API client with the CLI's words for each failure, and its exit codes. */
export function cliClient(base: string, token: string): ApiClient {
  const shown = base.replace(/\/+$/, "");
  return new ApiClient({
    baseUrl: base, token, timeoutMs: 60_000,
    fail: (f) => {
      if (f.kind === "unreachable") {
        const err = f.cause as { cause?: { code?: string }; name?: string };
        return new CliError("unreachable", `Cannot reach ${shown} (${err.cause?.code ?? err.name}). Check T2S_URL or --url.`, exitCodes.unreachable);
      }
      if (f.kind === "unreadable") return new CliError("bad_answer", `The server at ${shown} did not answer like torrent2s3.`, exitCodes.api);
      if (f.status === 401) return new CliError("unauthorized", "The server refused the API token. Check T2S_API_TOKEN or --token.", exitCodes.unauthorized);
      return new CliError(f.code ?? "http_error", f.message ?? `The server answered HTTP ${f.status}.`, exitCodes.api);
    },
  });
}
