// CloudFront's check of a signed URL on a behaviour with trusted key groups, as the CloudFront Developer
// Guide describes it ("Create a signed URL using a canned policy" / "... a custom policy"): the policy
// (the canned one rebuilt from Expires and the URL, or the custom one from Policy) is verified against
// the Key-Pair-Id's public key with RSA-SHA1 (RSA-SHA256 with Hash-Algorithm=SHA256), then its resource,
// dates and source IP are checked. Pure: the rehearsal's CloudFront stand-in (cloudfront.ts) applies it.
import { createPublicKey, verify, type KeyObject } from "node:crypto";
import { BlockList, isIPv4 } from "node:net";

/** The query parameters a signed URL adds, which CloudFront removes before the origin request. */
export const signingParams = ["Expires", "Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm"] as const;

export type SignedUrlVerdict =
  | { ok: true; /** The path and the query without the signing parameters: what goes on to the origin. */ target: string }
  | { ok: false; code: "MissingKey" | "InvalidKey" | "MalformedPolicy" | "AccessDenied"; message: string };

/** CloudFront's URL-safe base64: "+" "=" "/" written as "-" "_" "~". */
export const fromCloudfrontBase64 = (s: string): Buffer => Buffer.from(s.replace(/-/g, "+").replace(/_/g, "=").replace(/~/g, "/"), "base64");

/** The canned policy CloudFront rebuilds for a URL and its Expires: this JSON, without whitespace, is what was signed. */
export const cannedPolicy = (resource: string, expires: number): string =>
  JSON.stringify({ Statement: [{ Resource: resource, Condition: { DateLessThan: { "AWS:EpochTime": expires } } }] });

/** A policy resource with wildcards ("*": any run, none included; "?": exactly one character) against a URL. */
export function resourceMatches(resource: string, url: string): boolean {
  const re = resource.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[\\s\\S]*").replace(/\?/g, "[\\s\\S]");
  return new RegExp(`^${re}$`).test(url);
}

/** Whether `ip` (a viewer's address; IPv4-mapped IPv6 taken as IPv4) is in `cidr` (IPv4, "/32" if none). */
function inCidr(ip: string, cidr: string): boolean {
  const [net, bits = "32"] = cidr.split("/");
  const v4 = ip.replace(/^::ffff:/i, "");
  if (!net || !isIPv4(net) || !isIPv4(v4)) return false;
  const list = new BlockList();
  list.addSubnet(net, Number(bits), "ipv4");
  return list.check(v4, "ipv4");
}

interface Statement {
  Resource?: unknown;
  Condition?: { DateLessThan?: { "AWS:EpochTime"?: unknown }; DateGreaterThan?: { "AWS:EpochTime"?: unknown }; IpAddress?: { "AWS:SourceIp"?: unknown } };
}

const refuse = (code: Exclude<SignedUrlVerdict, { ok: true }>["code"], message: string): SignedUrlVerdict => ({ ok: false, code, message });
const denied = () => refuse("AccessDenied", "Access denied");

/**
 * CloudFront's verdict on a viewer request to a behaviour that trusts `keys` (public key id → PEM or
 * key). `url` is the request as CloudFront sees it: https://<domain><path>?<query>, the query as sent.
 * `now` in ms; `sourceIp` for a policy's IpAddress condition.
 */
export function checkSignedUrl(o: { url: string; keys: Record<string, string | KeyObject>; now: number; sourceIp?: string }): SignedUrlVerdict {
  const q = o.url.indexOf("?");
  const base = q < 0 ? o.url : o.url.slice(0, q);
  const pairs = q < 0 ? [] : o.url.slice(q + 1).split("&").filter((p) => p !== "");
  // A malformed escape stays as it was: it is then no signing parameter, or a value that fails.
  const decode = (v: string) => {
    try {
      return decodeURIComponent(v.replace(/\+/g, " "));
    } catch {
      return v;
    }
  };
  const nameOf = (p: string) => decode(p.split("=", 1)[0]!);
  const valueOf = (name: string) => {
    const p = pairs.find((x) => nameOf(x) === name);
    return p === undefined ? undefined : decode(p.slice(p.indexOf("=") + 1 || p.length));
  };
  // The signed resource is the URL with the viewer's own query parameters, as they were sent.
  const own = pairs.filter((p) => !(signingParams as readonly string[]).includes(nameOf(p)));
  const resource = own.length ? `${base}?${own.join("&")}` : base;
  const path = base.replace(/^[a-z]+:\/\/[^/]*/i, "") || "/";
  const target = own.length ? `${path}?${own.join("&")}` : path;

  const keyId = valueOf("Key-Pair-Id");
  if (!keyId) return refuse("MissingKey", "Missing Key-Pair-Id query parameter or cookie value");
  const key = o.keys[keyId];
  if (!key) return refuse("InvalidKey", "Unknown Key");
  const signature = valueOf("Signature");
  if (!signature) return denied();
  const hash = valueOf("Hash-Algorithm") ?? "SHA1";
  if (hash !== "SHA1" && hash !== "SHA256") return denied();

  const encoded = valueOf("Policy");
  const expires = valueOf("Expires");
  let policy: string;
  if (encoded !== undefined) policy = fromCloudfrontBase64(encoded).toString("utf8");
  else if (expires !== undefined && /^\d+$/.test(expires)) policy = cannedPolicy(resource, Number(expires));
  else return denied();
  const publicKey = typeof key === "string" ? createPublicKey(key) : key;
  if (!verify(`RSA-${hash}`, Buffer.from(policy), publicKey, fromCloudfrontBase64(signature))) return denied();

  let statement: Statement;
  try {
    const parsed = JSON.parse(policy) as { Statement?: unknown };
    if (!Array.isArray(parsed.Statement) || parsed.Statement.length !== 1) return refuse("MalformedPolicy", "Malformed Policy");
    statement = parsed.Statement[0] as Statement;
  } catch {
    return refuse("MalformedPolicy", "Malformed Policy");
  }
  const c = statement.Condition ?? {};
  const lessThan = c.DateLessThan?.["AWS:EpochTime"];
  if (typeof lessThan !== "number") return refuse("MalformedPolicy", "Malformed Policy");
  const nowS = o.now / 1000;
  // A custom policy without Resource covers every file the key group may sign for.
  if (statement.Resource !== undefined && (typeof statement.Resource !== "string" || !resourceMatches(statement.Resource, resource))) return denied();
  if (nowS >= lessThan) return denied();
  const greaterThan = c.DateGreaterThan?.["AWS:EpochTime"];
  if (greaterThan !== undefined && (typeof greaterThan !== "number" || nowS < greaterThan)) return denied();
  const cidr = c.IpAddress?.["AWS:SourceIp"];
  if (cidr !== undefined && (typeof cidr !== "string" || !o.sourceIp || !inCidr(o.sourceIp, cidr))) return denied();
  return { ok: true, target };
}

/** CloudFront's 403 body for a refused signed URL. */
export const refusalXml = (v: Exclude<SignedUrlVerdict, { ok: true }>): string =>
  `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${v.code}</Code><Message>${v.message}</Message></Error>`;
