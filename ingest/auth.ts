// Who is calling: the API token (Bearer), the page's session cookie, or a signed download link.
import { createHmac, createHash, timingSafeEqual } from "node:crypto";
import type { Requester } from "../lib/job.ts";

export const sessionCookie = "t2s_session";
const sessionDays = 7;

/** Compares secrets in constant time (hashing first makes the lengths equal). */
export function secretEquals(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

export class Auth {
  private readonly token: string;
  private readonly sessionKey: Buffer;
  private readonly linkKey: Buffer;
  private readonly secureCookie: boolean;
  /** The key webhook receivers verify signatures with (GET /api/webhook-secret): verify-only, not the token. */
  readonly webhookSecret: string;

  constructor(o: { apiToken: string; signingSecret: string; secureCookie: boolean }) {
    this.token = o.apiToken;
    // Separate keys per use, derived from one secret.
    this.sessionKey = createHmac("sha256", o.signingSecret).update("t2s session").digest();
    this.linkKey = createHmac("sha256", o.signingSecret).update("t2s link").digest();
    this.secureCookie = o.secureCookie;
    this.webhookSecret = createHmac("sha256", o.signingSecret).update("t2s webhook").digest("hex");
  }

  tokenValid(token: string): boolean {
    return secretEquals(token, this.token);
  }

  /** The caller of an API request, or null. */
  caller(headers: Record<string, string | undefined>, now = Date.now()): Requester | null {
    // Behind CloudFront (AWS mode) Authorization holds CloudFront's own SigV4 signature (origin access
    // control), so the token may come in X-T2S-Token instead; an Authorization that is not Bearer is not ours.
    const m = /^Bearer\s+(.+)$/i.exec(headers["authorization"]?.trim() ?? "");
    const token = m?.[1] ?? headers["x-t2s-token"]?.trim();
    if (token) return this.tokenValid(token) ? { via: "api", user: "api" } : null;
    const cookie = parseCookies(headers["cookie"])[sessionCookie];
    return cookie && this.sessionValid(cookie, now) ? { via: "web", user: "web" } : null;
  }

  private sign(key: Buffer, data: string): string {
    return createHmac("sha256", key).update(data).digest("base64url");
  }

  /** `name`: the page's cookie, or qBittorrent's SID for the qBittorrent API (same signed value). */
  newSessionCookie(now = Date.now(), name = sessionCookie): string {
    const exp = Math.floor(now / 1000) + sessionDays * 86400;
    const value = `${exp}.${this.sign(this.sessionKey, String(exp))}`;
    return `${name}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${sessionDays * 86400}${this.secureCookie ? "; Secure" : ""}`;
  }

  clearedSessionCookie(): string {
    return `${sessionCookie}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${this.secureCookie ? "; Secure" : ""}`;
  }

  sessionValid(value: string, now = Date.now()): boolean {
    const [exp, sig] = value.split(".");
    if (!exp || !sig || !/^\d+$/.test(exp) || Number(exp) * 1000 < now) return false;
    return secretEquals(sig, this.sign(this.sessionKey, exp));
  }

  /** The signature that lets a /d/ or /zip/ link open without a login, within its scope. */
  linkSignature(id: string, key: string, scope: LinkScope): string {
    return this.sign(this.linkKey, `${id}\n${key}\n${scope.run}\n${scope.exp}`).slice(0, 32);
  }

  linkValid(id: string, key: string, sig: string, scope: LinkScope, nowMs: number): boolean {
    return scope.exp * 1000 > nowMs && secretEquals(sig, this.linkSignature(id, key, scope));
  }
}

/**
 * What a link is bound to: the job's run (when it was last queued), so a link of an earlier run dies with
 * it, and the time it stops working (unix seconds).
 */
export interface LinkScope {
  run: string;
  exp: number;
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}
