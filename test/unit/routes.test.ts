// Walks the router's own route table: a new route that forgets auth fails here.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createApi, type ApiDeps } from "../../ingest/api.ts";
import { Auth } from "../../ingest/auth.ts";
import { RateLimiter } from "../../ingest/rate-limit.ts";
import { createLogger } from "../../lib/log.ts";

const unreachable = new Proxy({}, { get: () => () => { throw new Error("a handler ran without auth"); } });
const deps = {
  registry: unreachable, bucket: unreachable, guard: unreachable, publishRequest: async () => {},
  auth: new Auth({ apiToken: "right-token", signingSecret: "s", secureCookie: false }),
  publicUrl: "http://x", linkTtlS: 60, log: createLogger("test", { level: "error" }), now: () => "now",
  limiter: new RateLimiter({ perMinute: 60, burst: 10 }),
  web: new Map([["/", { body: Buffer.from("<!doctype html>"), type: "text/html" }]]),
} as unknown as ApiDeps;
const api = createApi(deps);
const example = (path: string) => path.replace(/:[a-z]+/g, "a".repeat(40)).replace("*", "file.bin");
const request = (method: string, path: string, headers: Record<string, string> = {}) =>
  api.handle({ method, path, query: new URLSearchParams(), headers, body: Buffer.from("{}"), signal: new AbortController().signal });

describe("every route", () => {
  const guarded = api.routes.filter((r) => r.access !== "public");
  it("has guarded routes to check", () => assert.ok(guarded.length >= 6));
  for (const r of guarded) {
    for (const [what, headers] of [["no credentials", {}], ["a wrong token", { authorization: "Bearer wrong" }], ["a forged cookie", { cookie: "t2s_session=9999999999.forged" }]] as const) {
      it(`${r.method} ${r.path} refuses ${what} with 401`, async () => {
        const res = await request(r.method, example(r.path), headers);
        assert.equal(res.status, 401);
        assert.equal(JSON.parse(String(res.body)).error.code, "unauthorized");
      });
    }
  }
  it("leaves only /healthz, the page, the session calls and the qBittorrent API (which checks its own) public", () => {
    const open = api.routes.filter((r) => r.access === "public").map((r) => `${r.method} ${r.path}`).sort();
    assert.deepEqual(open, ["DELETE /api/session", "GET /", "GET /api/session", "GET /healthz", "GET /qbittorrent/api/v2/*", "POST /api/session", "POST /qbittorrent/api/v2/*"]);
  });
  const qbtCalls = ["app/version", "app/webapiVersion", "app/buildInfo", "app/preferences", "app/setPreferences", "app/defaultSavePath", "auth/logout",
    "torrents/info", "torrents/properties", "torrents/files", "torrents/add", "torrents/delete", "torrents/categories", "torrents/createCategory",
    "torrents/setCategory", "torrents/addTags", "torrents/setShareLimits", "torrents/topPrio", "torrents/setForceStart", "torrents/filePrio", "no/such"];
  for (const call of qbtCalls) {
    for (const [what, headers] of [["no credentials", {}], ["a wrong token", { authorization: "Bearer wrong" }], ["wrong Basic credentials", { authorization: `Basic ${Buffer.from("t2s:wrong").toString("base64")}` }],
      ["a forged SID", { cookie: "SID=9999999999.forged" }]] as const) {
      it(`qBittorrent ${call} refuses ${what} with 403 Forbidden`, async () => {
        for (const method of ["GET", "POST"]) {
          const res = await request(method, `/qbittorrent/api/v2/${call}`, headers);
          assert.deepEqual([res.status, String(res.body)], [403, "Forbidden"]);
        }
      });
    }
  }
});

describe("RateLimiter", () => {
  it("allows a burst, then answers with the wait until the next token", () => {
    let now = 0;
    const l = new RateLimiter({ perMinute: 6, burst: 2, now: () => now });
    assert.deepEqual(l.take("a"), { ok: true });
    assert.deepEqual(l.take("a"), { ok: true });
    assert.deepEqual(l.take("a"), { ok: false, retryAfterS: 10 });
    assert.deepEqual(l.take("b"), { ok: true }, "keys are separate");
    now = 10_000;
    assert.deepEqual(l.take("a"), { ok: true });
  });
});
