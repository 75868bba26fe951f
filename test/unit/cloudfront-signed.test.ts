// CloudFront's check of signed URLs (scripts/rehearse/cloudfront-signed.ts), against URLs made by
// @aws-sdk/cloudfront-signer as ingest makes them: canned and custom policies, expiry, tampering, keys.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, it } from "node:test";
import { getSignedUrl } from "@aws-sdk/cloudfront-signer";
import { cannedPolicy, checkSignedUrl, refusalXml, resourceMatches } from "../../scripts/rehearse/cloudfront-signed.ts";

const pair = () => {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { pub: publicKey.export({ type: "spki", format: "pem" }).toString(), priv: privateKey.export({ type: "pkcs1", format: "pem" }).toString() };
};
const [mine, other] = [pair(), pair()];
const keyPairId = "K2JCJMDEHXQW5F";
const keys = { [keyPairId]: mine.pub };
const now = Date.UTC(2026, 11, 7, 12, 0, 0);
const at = (s: number) => new Date(now + s * 1000);
const base = "https://d111111abcdef8.cloudfront.net/files/0123/data/Album%20%C3%BC/01.flac";
const canned = (o: { url?: string; expiresS?: number; privateKey?: string; keyPairId?: string } = {}) =>
  getSignedUrl({ url: o.url ?? base, keyPairId: o.keyPairId ?? keyPairId, privateKey: o.privateKey ?? mine.priv, dateLessThan: at(o.expiresS ?? 300) });
const check = (url: string, more: { now?: number; sourceIp?: string } = {}) => checkSignedUrl({ url, keys, now: more.now ?? now, ...(more.sourceIp ? { sourceIp: more.sourceIp } : {}) });
const codeOf = (url: string, more: { now?: number; sourceIp?: string } = {}) => {
  const v = check(url, more);
  return v.ok ? "ok" : `${v.code}: ${v.message}`;
};
/** The URL with one character of its signature changed. */
const tampered = (url: string) => url.replace(/Signature=(.)/, (_, c: string) => `Signature=${c === "A" ? "B" : "A"}`);

describe("CloudFront signed URLs, checked as CloudFront does", () => {
  it("accept a canned-policy URL until it expires, and forward it without the signing parameters", () => {
    const url = canned();
    assert.deepEqual(check(url), { ok: true, target: "/files/0123/data/Album%20%C3%BC/01.flac" });
    assert.equal(codeOf(url, { now: now + 299_000 }), "ok");
    assert.equal(codeOf(url, { now: now + 300_000 }), "AccessDenied: Access denied", "expired: DateLessThan is not passed");
  });

  it("keep the viewer's own query parameters in the signed resource and in what is forwarded", () => {
    const url = canned({ url: `${base}?response-content-type=audio%2Fflac` });
    assert.deepEqual(check(url), { ok: true, target: "/files/0123/data/Album%20%C3%BC/01.flac?response-content-type=audio%2Fflac" });
    assert.equal(codeOf(url.replace("audio%2Fflac", "text%2Fhtml")), "AccessDenied: Access denied");
  });

  it("refuse a tampered signature, path, expiry or key, with CloudFront's messages", () => {
    const url = canned();
    assert.equal(codeOf(tampered(url)), "AccessDenied: Access denied");
    assert.equal(codeOf(url.replace("01.flac", "02.flac")), "AccessDenied: Access denied", "another object");
    const later = new URL(url);
    later.searchParams.set("Expires", String(now / 1000 + 86_400));
    assert.equal(codeOf(later.href), "AccessDenied: Access denied", "a longer expiry");
    assert.equal(codeOf(canned({ privateKey: other.priv })), "AccessDenied: Access denied", "signed with a key the group does not hold");
    assert.equal(codeOf(canned({ keyPairId: "KUNKNOWN" })), "InvalidKey: Unknown Key");
    const bare = new URL(url);
    bare.searchParams.delete("Key-Pair-Id");
    assert.equal(codeOf(bare.href), "MissingKey: Missing Key-Pair-Id query parameter or cookie value");
    assert.equal(codeOf(base), "MissingKey: Missing Key-Pair-Id query parameter or cookie value", "unsigned");
    const unsigned = new URL(url);
    unsigned.searchParams.delete("Signature");
    assert.equal(codeOf(unsigned.href), "AccessDenied: Access denied");
    assert.equal(codeOf(`${url}&x=%E0%A4%A`), "AccessDenied: Access denied", "a malformed escape in another parameter");
  });

  it("take a custom policy with a wildcard resource, a start date and a source address", () => {
    const policy = JSON.stringify({ Statement: [{
      Resource: "https://d111111abcdef8.cloudfront.net/files/0123/*",
      Condition: { DateLessThan: { "AWS:EpochTime": now / 1000 + 600 }, DateGreaterThan: { "AWS:EpochTime": now / 1000 - 10 }, IpAddress: { "AWS:SourceIp": "127.0.0.0/8" } },
    }] });
    const url = getSignedUrl({ url: base, keyPairId, privateKey: mine.priv, policy });
    assert.ok(new URL(url).searchParams.has("Policy") && !new URL(url).searchParams.has("Expires"));
    assert.equal(codeOf(url, { sourceIp: "127.0.0.1" }), "ok");
    assert.equal(codeOf(url, { sourceIp: "::ffff:127.0.0.1" }), "ok", "an IPv4-mapped address");
    assert.equal(codeOf(url.replace("/files/0123/", "/files/0124/"), { sourceIp: "127.0.0.1" }), "AccessDenied: Access denied", "outside the wildcard");
    assert.equal(codeOf(url.replace("01.flac", "sub/02.flac"), { sourceIp: "127.0.0.1" }), "ok", "the same signature for any file under the wildcard");
    assert.equal(codeOf(url, { sourceIp: "10.0.0.1" }), "AccessDenied: Access denied", "another address");
    assert.equal(codeOf(url, { sourceIp: "127.0.0.1", now: now - 11_000 }), "AccessDenied: Access denied", "before DateGreaterThan");
    assert.equal(codeOf(url, { sourceIp: "127.0.0.1", now: now + 600_000 }), "AccessDenied: Access denied", "after DateLessThan");
    const edited = new URL(url);
    edited.searchParams.set("Policy", Buffer.from(policy.replace("0123/*", "*")).toString("base64").replace(/\+/g, "-").replace(/=/g, "_").replace(/\//g, "~"));
    assert.equal(codeOf(edited.href, { sourceIp: "127.0.0.1" }), "AccessDenied: Access denied", "a widened policy no longer matches its signature");
  });

  it("take the signer's custom policy for a start date, and SHA-256 signatures", () => {
    const url = getSignedUrl({ url: base, keyPairId, privateKey: mine.priv, dateLessThan: at(60), dateGreaterThan: at(-5) });
    assert.equal(codeOf(url), "ok");
    assert.equal(codeOf(url, { now: now - 6_000 }), "AccessDenied: Access denied");
    const sha256 = getSignedUrl({ url: base, keyPairId, privateKey: mine.priv, dateLessThan: at(60), algorithm: "SHA256" });
    assert.equal(new URL(sha256).searchParams.get("Hash-Algorithm"), "SHA256");
    assert.equal(codeOf(sha256), "ok");
    assert.equal(codeOf(sha256.replace("Hash-Algorithm=SHA256", "Hash-Algorithm=SHA1")), "AccessDenied: Access denied");
  });

  it("sign exactly the canned policy's compact JSON", () => {
    assert.equal(cannedPolicy("https://d.net/a", 5), '{"Statement":[{"Resource":"https://d.net/a","Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}');
    const malformed = new URL(canned());
    malformed.searchParams.delete("Expires");
    malformed.searchParams.set("Policy", "bm90IGpzb24_");
    assert.equal(codeOf(malformed.href), "AccessDenied: Access denied", "a policy the key did not sign fails before it is read");
  });

  it("match wildcards as CloudFront does", () => {
    assert.ok(resourceMatches("https://d.net/files/*", "https://d.net/files/a/b?x=1"));
    assert.ok(resourceMatches("https://d.net/f?le", "https://d.net/file"));
    assert.ok(!resourceMatches("https://d.net/f?le", "https://d.net/fle"));
    assert.ok(!resourceMatches("https://d.net/files/a", "https://d.net/files/a.b"));
    assert.ok(resourceMatches("https://d.net/a.b", "https://d.net/a.b") && !resourceMatches("https://d.net/a.b", "https://d.net/axb"), "a dot is a dot");
  });

  it("answer a refusal with CloudFront's XML", () => {
    assert.equal(refusalXml({ ok: false, code: "AccessDenied", message: "Access denied" }),
      '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access denied</Message></Error>');
  });
});
