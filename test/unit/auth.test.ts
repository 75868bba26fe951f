import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Auth, secretEquals } from "../../ingest/auth.ts";
import { linkScope } from "../../ingest/present.ts";
import type { Job } from "../../lib/job.ts";

const auth = new Auth({ apiToken: "tok-123", signingSecret: "s3cret", secureCookie: false });
const id = "c".repeat(40);

describe("Auth", () => {
  it("accepts the bearer token and nothing else", () => {
    assert.deepEqual(auth.caller({ authorization: "Bearer tok-123" }), { via: "api", user: "api" });
    assert.equal(auth.caller({ authorization: "Bearer tok-124" }), null);
    assert.equal(auth.caller({ authorization: "Basic dG9rLTEyMw==" }), null);
    assert.equal(auth.caller({}), null);
  });

  it("takes the token from X-T2S-Token, and the cookie under CloudFront's SigV4 Authorization", () => {
    // Behind CloudFront's origin access control, Authorization carries CloudFront's signature.
    const sigv4 = "AWS4-HMAC-SHA256 Credential=AKIA/20261201/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=abc";
    assert.deepEqual(auth.caller({ authorization: sigv4, "x-t2s-token": "tok-123" }), { via: "api", user: "api" });
    assert.equal(auth.caller({ authorization: sigv4, "x-t2s-token": "tok-124" }), null);
    assert.equal(auth.caller({ authorization: sigv4 }), null);
    const value = auth.newSessionCookie(Date.now()).split(";")[0]!;
    assert.deepEqual(auth.caller({ authorization: sigv4, cookie: value }), { via: "web", user: "web" });
    // A wrong token is refused even with a valid cookie beside it.
    assert.equal(auth.caller({ "x-t2s-token": "nope", cookie: value }), null);
  });

  it("issues HttpOnly, SameSite=Strict session cookies that verify and expire", () => {
    const cookie = auth.newSessionCookie(Date.now());
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const value = cookie.split(";")[0]!;
    assert.deepEqual(auth.caller({ cookie: value }), { via: "web", user: "web" });
    assert.equal(auth.caller({ cookie: value }, Date.now() + 8 * 86400_000), null);
    assert.equal(auth.caller({ cookie: value.replace(/.$/, (c) => (c === "A" ? "B" : "A")) }), null);
  });

  it("signs links per job, file, run and expiry, and refuses them once expired", () => {
    const now = Date.parse("2026-12-01T12:00:00Z");
    const scope = { run: "2026-12-01T10:00:00.000Z", exp: now / 1000 + 3600 };
    const sig = auth.linkSignature(id, "a/b.mkv", scope);
    assert.ok(auth.linkValid(id, "a/b.mkv", sig, scope, now));
    assert.ok(!auth.linkValid(id, "a/c.mkv", sig, scope, now));
    assert.ok(!auth.linkValid(id, "a/b.mkv", sig, { ...scope, exp: scope.exp + 86400 }, now), "an expiry moved by hand");
    assert.ok(!auth.linkValid(id, "a/b.mkv", sig, { ...scope, run: "2026-12-02T10:00:00.000Z" }, now), "a link of an earlier run");
    assert.ok(!auth.linkValid(id, "a/b.mkv", sig, scope, now + 3601_000), "expired");
    assert.ok(!new Auth({ apiToken: "t", signingSecret: "other", secureCookie: false }).linkValid(id, "a/b.mkv", sig, scope, now));
  });

  it("hands out one link all day, ending with the files or after the link days, whichever comes first", () => {
    const rec = (expiresAt: string | null) => ({ job: { id, createdAt: "2026-11-30T00:00:00.000Z", expiresAt } as Job, lastFactAt: null, files: [], queuedAt: "2026-12-01T10:00:00.000Z" });
    const morning = Date.parse("2026-12-01T08:00:00Z"), evening = Date.parse("2026-12-01T23:00:00Z");
    const files = "2026-12-08T10:00:00.000Z";
    assert.deepEqual(linkScope(rec(files), 7, morning), { run: "2026-12-01T10:00:00.000Z", exp: Date.parse(files) / 1000 });
    assert.deepEqual(linkScope(rec(files), 2, morning), linkScope(rec(files), 2, evening));
    assert.equal(linkScope(rec(files), 2, morning).exp, Date.parse("2026-12-04T00:00:00Z") / 1000);
    assert.equal(linkScope(rec(null), 1, morning).exp, Date.parse("2026-12-03T00:00:00Z") / 1000);
  });

  it("compares secrets of any length", () => {
    assert.ok(secretEquals("abc", "abc"));
    assert.ok(!secretEquals("abc", "abcd"));
    assert.ok(!secretEquals("", "abc"));
  });
});
