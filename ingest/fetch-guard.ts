// Fetches a user's .torrent URL without letting it reach anything private: every hop's address is
// checked when resolved and again on the socket actually connected, with caps on size, time and redirects.
import { lookup as dnsLookup } from "node:dns/promises";
import type { LookupAddress } from "node:dns";
import type { Socket } from "node:net";
import ipaddr from "ipaddr.js";
import { Agent, buildConnector, request } from "undici";
import { AppError } from "../lib/errors.ts";

export type Resolve = (hostname: string) => Promise<LookupAddress[]>;

export interface FetchGuardOptions {
  /** `host:port` pairs let through unchecked: for tests only, off by default. */
  allowHosts: ReadonlySet<string>;
  timeoutMs: number;
  maxBytes: number;
  maxRedirects: number;
  resolve?: Resolve;
}

/** Why an address is not public, or null when it is a public unicast address. */
export function blockedReason(address: string): string | null {
  if (!ipaddr.isValid(address)) return "not an IP address";
  let ip = ipaddr.parse(address);
  if (ip.kind() === "ipv6" && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
  const range = ip.range();
  return range === "unicast" ? null : range;
}

const blocked = (what: string, why: string) =>
  new AppError("url_blocked", `That URL points to a non-public address (${what} is ${why}); only public http(s) servers can be fetched.`);

class BlockedAddress extends Error {
  readonly appError: AppError;
  constructor(e: AppError) {
    super(e.message);
    this.appError = e;
  }
}

function checkUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new AppError("invalid_url", "That is not a valid URL.");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new AppError("invalid_url", "Only http and https URLs can be fetched.");
  if (url.username || url.password) throw new AppError("invalid_url", "URLs with a user name or password are not accepted.");
  return url;
}

const hostKey = (hostname: string, port: string, protocol: string) => `${hostname}:${port || (protocol === "https:" ? "443" : "80")}`;
const bareHost = (hostname: string) => hostname.replace(/^\[|\]$/g, "");

export class FetchGuard {
  private readonly o: FetchGuardOptions;
  private readonly agent: Agent;
  private readonly resolve: Resolve;

  constructor(o: FetchGuardOptions) {
    this.o = o;
    const resolve: Resolve = o.resolve ?? ((h) => dnsLookup(h, { all: true, verbatim: true }));
    this.resolve = resolve;
    // Resolution answers only public addresses; a name with any non-public address is refused whole.
    const lookup = (hostname: string, options: { all?: boolean }, cb: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
      resolve(hostname).then((addrs) => {
        if (addrs.length === 0) throw new Error(`no address for ${hostname}`);
        for (const a of addrs) {
          const why = blockedReason(a.address);
          if (why) throw new BlockedAddress(blocked(hostname, why));
        }
        if (options.all) cb(null, addrs);
        else cb(null, addrs[0]!.address, addrs[0]!.family);
      }).catch((err: Error) => cb(err, ""));
    };
    const checked = buildConnector({ lookup: lookup as never, timeout: Math.min(o.timeoutMs, 10_000) });
    const open = buildConnector({ timeout: Math.min(o.timeoutMs, 10_000) });
    this.agent = new Agent({
      connect: (opts, cb) => {
        if (o.allowHosts.has(hostKey(bareHost(opts.hostname), opts.port, opts.protocol))) return open(opts, cb);
        checked(opts, (err, socket) => {
          if (err || !socket) return cb(err ?? new Error("connect failed"), null);
          // The address actually connected to: catches IP literals and anything the lookup did not see.
          const why = blockedReason((socket as Socket).remoteAddress ?? "");
          if (why) {
            socket.destroy();
            return cb(new BlockedAddress(blocked((socket as Socket).remoteAddress ?? opts.hostname, why)), null);
          }
          cb(null, socket);
        });
      },
    });
  }

  /** The refusal for a URL whose host alone shows it is not public, before any connection. */
  private precheck(url: URL): void {
    if (this.o.allowHosts.has(hostKey(bareHost(url.hostname), url.port, url.protocol))) return;
    const host = bareHost(url.hostname).toLowerCase();
    if (host === "localhost" || host.endsWith(".localhost")) throw blocked(host, "loopback");
    if (ipaddr.isValid(host)) {
      const why = blockedReason(host);
      if (why) throw blocked(host, why);
    }
  }

  /**
   * Checks a URL that will be fetched later (a webhook callback_url): http(s), and every address its
   * host resolves to now is public. Delivery checks again on every hop and socket.
   */
  async checkTarget(raw: string): Promise<URL> {
    if (raw.length > 2048) throw new AppError("invalid_url", "That URL is longer than 2048 characters.");
    const url = checkUrl(raw);
    this.precheck(url);
    const host = bareHost(url.hostname);
    if (this.o.allowHosts.has(hostKey(host, url.port, url.protocol)) || ipaddr.isValid(host)) return url;
    let addrs: LookupAddress[];
    try {
      addrs = await this.resolve(host);
    } catch {
      throw new AppError("invalid_url", `The host ${host} of that URL cannot be resolved.`);
    }
    if (addrs.length === 0) throw new AppError("invalid_url", `The host ${host} of that URL has no address.`);
    for (const a of addrs) {
      const why = blockedReason(a.address);
      if (why) throw blocked(host, why);
    }
    return url;
  }

  /**
   * Sends one request and follows the redirects `follows` accepts, each hop checked; at most
   * maxRedirects of them. Answers the last response, and whether it is a redirect left unfollowed.
   */
  private async send(raw: string, signal: AbortSignal | undefined, init: { method: "GET" | "POST"; headers: Record<string, string>; body?: string }, follows: (status: number) => boolean) {
    const timeout = AbortSignal.timeout(this.o.timeoutMs);
    const sig = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let url = checkUrl(raw);
    for (let hop = 0; ; hop++) {
      this.precheck(url);
      let res;
      try {
        res = await request(url, { dispatcher: this.agent, ...init, signal: sig });
      } catch (err) {
        throw this.explain(err, timeout);
      }
      const redirect = follows(res.statusCode) && res.headers.location !== undefined;
      if (!redirect || hop >= this.o.maxRedirects) return { res, timeout, tooManyRedirects: redirect };
      await res.body.dump().catch(() => {});
      url = checkUrl(new URL(String(res.headers.location), url).toString());
    }
  }

  /**
   * POSTs a body (a webhook delivery) and answers the status. Follows only 307/308, which keep the
   * method and body, each hop checked like any other; any other redirect is answered as it is.
   */
  async post(raw: string, body: string, headers: Record<string, string>, signal?: AbortSignal): Promise<number> {
    const { res } = await this.send(raw, signal, { method: "POST", headers: { "user-agent": "torrent2s3-webhook", ...headers }, body }, (c) => c === 307 || c === 308);
    await res.body.dump({ limit: 64 * 1024 }).catch(() => {});
    return res.statusCode;
  }

  /** The body of a .torrent URL, following at most maxRedirects redirects, each checked. */
  async fetch(raw: string, signal?: AbortSignal): Promise<Buffer> {
    const { res, timeout, tooManyRedirects } = await this.send(raw, signal, {
      method: "GET", headers: { accept: "application/x-bittorrent, */*;q=0.5", "user-agent": "torrent2s3" },
    }, (c) => c >= 300 && c < 400);
    if (tooManyRedirects) {
      await res.body.dump().catch(() => {});
      throw new AppError("fetch_failed", `The URL redirected more than ${this.o.maxRedirects} times.`);
    }
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => {});
      throw new AppError("fetch_failed", `The server answered HTTP ${res.statusCode} for that URL.`);
    }
    const declared = Number(res.headers["content-length"] ?? NaN);
    if (declared > this.o.maxBytes) {
      res.body.destroy();
      throw new AppError("too_large", "The file at that URL is larger than 10 MiB; it is not a .torrent.");
    }
    const chunks: Buffer[] = [];
    let n = 0;
    try {
      for await (const c of res.body as AsyncIterable<Buffer>) {
        n += c.length;
        if (n > this.o.maxBytes) {
          res.body.destroy();
          throw new AppError("too_large", "The file at that URL is larger than 10 MiB; it is not a .torrent.");
        }
        chunks.push(c);
      }
    } catch (err) {
      throw this.explain(err, timeout);
    }
    return Buffer.concat(chunks);
  }

  private explain(err: unknown, timeout: AbortSignal): AppError {
    if (err instanceof AppError) return err;
    for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
      if (e instanceof BlockedAddress) return e.appError;
    }
    if (timeout.aborted) return new AppError("fetch_failed", `Fetching that URL took longer than ${Math.round(this.o.timeoutMs / 1000)} s.`);
    const code = (err as { code?: string })?.code ?? (err as { cause?: { code?: string } })?.cause?.code;
    return new AppError("fetch_failed", `Could not fetch that URL${code ? ` (${code})` : ""}.`, { cause: err });
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
