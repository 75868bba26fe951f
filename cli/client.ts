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

const loopback = (host: string) => host === "localhost" || host === "[::1]" || /^127(\.\d{1,3}){3}$/.test(host);

/**
 * The server URL, checked before the token goes anywhere: http or https only, and plain http only to this
 * machine unless `allowHttp` (a LAN install without TLS, knowingly).
 */
export function serverUrl(raw: string, allowHttp: boolean): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new CliError("usage", `"${raw}" is not a URL. Give the server as https://host or http://127.0.0.1:port.`, exitCodes.usage);
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") throw new CliError("usage", `The server URL must start with https:// or http://, not ${u.protocol}//.`, exitCodes.usage);
  if (u.username || u.password) throw new CliError("usage", "Put the API token in T2S_API_TOKEN or a token file, not in the URL.", exitCodes.usage);
  if (u.protocol === "http:" && !loopback(u.hostname) && !allowHttp) {
    throw new CliError("insecure", `Not sending the API token over plain http to ${u.host}: use https, or pass --allow-http on a network you trust.`, exitCodes.usage);
  }
  return u.origin + u.pathname.replace(/\/+$/, "");
}

/**
 * The API client with the CLI's words for each failure, and its exit codes. It follows no redirect: fetch
 * would drop Authorization on another origin but still send X-T2S-Token.
 */
export function cliClient(base: string, token: string): ApiClient {
  const shown = base.replace(/\/+$/, "");
  return new ApiClient({
    baseUrl: base, token, timeoutMs: 60_000, redirect: "error",
    fail: (f) => {
      if (f.kind === "unreachable") {
        const err = f.cause as { cause?: { code?: string; message?: string }; name?: string };
        if (/redirect/i.test(err.cause?.message ?? "")) {
          return new CliError("redirected", `The server at ${shown} answered with a redirect; t2s follows none, so the token goes nowhere else. Use the URL it redirects to.`, exitCodes.unreachable);
        }
        return new CliError("unreachable", `Cannot reach ${shown} (${err.cause?.code ?? err.name}). Check T2S_URL or --url.`, exitCodes.unreachable);
      }
      if (f.kind === "unreadable") return new CliError("bad_answer", `The server at ${shown} did not answer like torrent2s3.`, exitCodes.api);
      if (f.status === 401) return new CliError("unauthorized", "The server refused the API token. Check T2S_API_TOKEN or --token.", exitCodes.unauthorized);
      return new CliError(f.code ?? "http_error", f.message ?? `The server answered HTTP ${f.status}.`, exitCodes.api);
    },
  });
}
