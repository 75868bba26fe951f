// Walks the router's own route table: a new route that forgets auth fails here.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RateLimiter } from "../../ingest/rate-limit.ts";
import { ingestPathOf, ingestPaths, methodsOf, pageFiles } from "../../ingest/public-paths.ts";
import { examplePath as example, ingestRoutes, routeTableApi } from "../support/api-routes.ts";
import { originOf } from "../support/cloudfront.ts";
import { qbtPrefix } from "../../ingest/qbittorrent.ts";

const { api } = routeTableApi();
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

describe("ingest's public paths (the front door's routing)", () => {
  const routes = ingestRoutes();
  it("has routes to check, /zip/:id among them", () => assert.ok(routes.some((r) => r.path === "/zip/:id")));
  for (const r of routes) {
    it(`${r.method} ${r.path} falls under a declared path that takes ${r.method}`, () => {
      const p = ingestPathOf(example(r.path));
      assert.ok(p, `no public path covers ${r.path}: add it to ingest/public-paths.ts`);
      assert.ok(methodsOf[p.methods].includes(r.method), `${p.pattern} does not take ${r.method}`);
    });
  }
  it("declares no path that no route answers", () => {
    for (const p of ingestPaths) assert.ok(routes.some((r) => ingestPathOf(example(r.path)) === p), `nothing answers ${p.pattern}`);
  });
  it("leaves the page's files to the page, and matches as CloudFront does", () => {
    for (const [key] of pageFiles) assert.equal(ingestPathOf(`/${key}`), undefined, key);
    assert.equal(ingestPathOf("/"), undefined);
    assert.equal(ingestPathOf("/api/"), ingestPaths[0], "\"*\" matches nothing too");
    assert.equal(ingestPathOf("/healthz/x"), undefined);
    assert.equal(ingestPathOf("/API/jobs"), undefined, "patterns are case-sensitive");
    assert.equal(ingestPathOf("/zipper"), undefined);
  });
  it("the CloudFront stand-in sends every route, /zip/* too, to ingest (the qBittorrent API to its public function), and the page's files to the page", () => {
    for (const r of routes) assert.equal(originOf(example(r.path)), r.path.startsWith(qbtPrefix) ? "qbittorrent" : "ingest", r.path);
    assert.ok(routes.some((r) => r.path.startsWith(qbtPrefix)), "the qBittorrent routes are among them");
    assert.equal(originOf(`/zip/${"a".repeat(40)}`), "ingest");
    for (const path of ["/", ...pageFiles.map(([key]) => `/${key}`)]) assert.equal(originOf(path), "page", path);
  });
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
