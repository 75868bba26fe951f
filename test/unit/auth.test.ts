import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Auth, secretEquals } from "../../ingest/auth.ts";

const auth = new Auth({ apiToken: "tok-123", signingSecret: "s3cret", secureCookie: false });
const id = "c".repeat(40);

describe("Auth", () => {
  it("accepts the bearer token and nothing else", () => {
    assert.deepEqual(auth.caller({ authorization: "Bearer tok-123" }), { via: "api", user: "api" });
    assert.equal(auth.caller({ authorization: "Bearer tok-124" }), null);
    assert.equal(auth.caller({ authorization: "Basic dG9rLTEyMw==" }), null);
    assert.equal(auth.caller({}), null);
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

  it("signs links per job and file", () => {
    const sig = auth.linkSignature(id, "a/b.mkv");
    assert.ok(auth.linkValid(id, "a/b.mkv", sig));
    assert.ok(!auth.linkValid(id, "a/c.mkv", sig));
    assert.ok(!new Auth({ apiToken: "t", signingSecret: "other", secureCookie: false }).linkValid(id, "a/b.mkv", sig));
  });

  it("compares secrets of any length", () => {
    assert.ok(secretEquals("abc", "abc"));
    assert.ok(!secretEquals("abc", "abcd"));
    assert.ok(!secretEquals("", "abc"));
  });
});
