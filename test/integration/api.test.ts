// Bad input through the real ingest: every case gets a coded 4xx, and nothing is lost or crashed.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import bencode from "bencode";
import { JobDb } from "../../lib/sqlite/job-db.ts";
import { jobRecord } from "../support/job-tables.ts";
import { testStack } from "../support/shared.ts";
import type { TestStack } from "../support/stack.ts";

let s: TestStack;
let jobsBefore: string[];
const newestIds = async () => ((await s.call("GET", "/api/jobs?limit=200")).body.jobs as { id: string }[]).map((j) => j.id);
const b64 = (b: Buffer) => b.toString("base64");
const info = { name: "x.bin", "piece length": 16384, length: 10, pieces: Buffer.alloc(20, 7) };
const enc = (v: unknown) => Buffer.from(bencode.encode(v));

before(async () => {
  s = await testStack();
  s.files.put("/not-a-torrent", Buffer.from("<html>hello</html>"));
  jobsBefore = await newestIds();
});

async function expectError(body: unknown, status: number, code: string) {
  const r = await s.call("POST", "/api/jobs", body);
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.error.code, code);
  assert.ok(typeof r.body.error.message === "string" && r.body.error.message.length > 10, "a plain message");
}

describe("bad input", () => {
  const torrents: [string, Buffer, string][] = [
    ["not bencode", Buffer.from("definitely not bencode"), "invalid_torrent"],
    ["truncated", enc({ info }).subarray(0, 25), "invalid_torrent"],
    ["a length prefix beyond the buffer", Buffer.from("d4:info99999999:xe"), "invalid_torrent"],
    ["nested 100 000 deep", Buffer.from("l".repeat(100_000) + "e".repeat(100_000)), "invalid_torrent"],
    ["no info dict", enc({ announce: "http://x/a" }), "invalid_torrent"],
    ["v2-only", enc({ info: { name: "x", "piece length": 16384, "meta version": 2, "file tree": { x: { "": { length: 1 } } } } }), "unsupported_torrent"],
  ];
  for (const [what, buf, code] of torrents) it(`torrent: ${what} → ${code}`, () => expectError({ torrent: b64(buf) }, 400, code));
  it("torrent: not base64 → invalid_torrent", () => expectError({ torrent: "%%% not base64 %%%" }, 400, "invalid_torrent"));

  const magnets: [string, string, string][] = [
    ["no xt", "magnet:?dn=hello", "invalid_magnet"],
    ["a wrong hash length", `magnet:?xt=urn:btih:${"a".repeat(39)}`, "invalid_magnet"],
    ["bad base32", `magnet:?xt=urn:btih:${"1".repeat(32)}`, "invalid_magnet"],
    ["a non-magnet scheme", `https://example.com/?xt=urn:btih:${"a".repeat(40)}`, "invalid_magnet"],
    ["btmh only", `magnet:?xt=urn:btmh:1220${"ab".repeat(32)}`, "unsupported_torrent"],
  ];
  for (const [what, magnet, code] of magnets) it(`magnet: ${what} → ${code}`, () => expectError({ magnet }, 400, code));

  // A loopback port that is not on the tests' allow-list (the file server's is).
  const port = () => s.moto.port;
  const urls: [string, () => string, number, string][] = [
    ["a non-http(s) scheme", () => "ftp://example.com/x.torrent", 400, "invalid_url"],
    ...["localhost", "127.1", "2130706433", "0x7f000001", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0"].map(
      (h): [string, () => string, number, string] => [`loopback in disguise: ${h}`, () => `http://${h}:${port()}/x.torrent`, 403, "url_blocked"]),
    ["a redirect to loopback", () => `${s.files.base}/redirect?to=${encodeURIComponent(`http://127.0.0.1:${s.moto.port}/`)}`, 403, "url_blocked"],
    ["too big", () => `${s.files.base}/huge`, 413, "too_large"],
    ["too slow", () => `${s.files.base}/slow`, 502, "fetch_failed"],
    ["not a torrent", () => `${s.files.base}/not-a-torrent`, 400, "invalid_torrent"],
  ];
  for (const [what, url, status, code] of urls) it(`url: ${what} → ${code}`, () => expectError({ url: url() }, status, code));

  it("body: malformed JSON → invalid_request", () => expectError("{ nope", 400, "invalid_request"));
  it("body: a JSON array → invalid_request", () => expectError([1, 2], 400, "invalid_request"));
  it("body: no source → invalid_request", () => expectError({}, 400, "invalid_request"));
  it("body: two sources → invalid_request", () => expectError({ magnet: `magnet:?xt=urn:btih:${"a".repeat(40)}`, url: "https://example.com/x.torrent" }, 400, "invalid_request"));
  it("body: a source that is not a string → invalid_request", () => expectError({ magnet: 42 }, 400, "invalid_request"));
  it("body: more than 16 MiB → too_large", () => expectError({ torrent: "A".repeat(17 * 1024 * 1024) }, 413, "too_large"));
  it("body: a requester of the wrong shape → invalid_request", () =>
    expectError({ magnet: `magnet:?xt=urn:btih:${"b".repeat(40)}`, requester: { via: "carrier-pigeon", user: "x" } }, 400, "invalid_request"));

  it("unknown job ids → 404 not_found", async () => {
    for (const id of ["f".repeat(40), "not-an-id", "..%2F..%2Fetc"]) {
      const r = await s.call("GET", `/api/jobs/${id}`);
      assert.equal(r.status, 404);
      assert.equal(r.body.error.code, "not_found");
    }
  });
});

describe("auth", () => {
  const id = "e".repeat(40);
  const routes: [string, string][] = [
    ["GET", "/api/jobs"], ["POST", "/api/jobs"], ["GET", `/api/jobs/${id}`], ["DELETE", `/api/jobs/${id}`],
    ["GET", "/api/events"], ["GET", `/d/${id}/file.bin`], ["PATCH", `/api/jobs/${id}/requester`],
  ];
  for (const [method, path] of routes) {
    for (const [what, headers] of [["no token", { authorization: "" }], ["a wrong token", { authorization: "Bearer wrong-token" }]] as const) {
      it(`${method} ${path} with ${what} → 401`, async () => {
        const r = await s.call(method, path, method === "POST" || method === "PATCH" ? { magnet: "x" } : undefined, headers);
        assert.equal(r.status, 401);
        assert.equal(r.body.error.code, "unauthorized");
      });
    }
  }
  it("a forged link signature → 401", async () => {
    const r = await s.call("GET", `/d/${id}/file.bin?sig=${"A".repeat(32)}`, undefined, { authorization: "" });
    assert.equal(r.status, 401);
  });
  it("/healthz and the page need no token, and the page has a strict CSP", async () => {
    assert.equal((await s.call("GET", "/healthz", undefined, { authorization: "" })).status, 200);
    const page = await s.call("GET", "/", undefined, { authorization: "" });
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/);
  });
  it("signing in with the token sets an HttpOnly session cookie that works for the API", async () => {
    const bad = await s.call("POST", "/api/session", { token: "nope" }, { authorization: "" });
    assert.equal(bad.status, 401);
    const ok = await s.call("POST", "/api/session", { token: s.apiToken }, { authorization: "" });
    assert.equal(ok.status, 200);
    const cookie = ok.headers.get("set-cookie") ?? "";
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const r = await s.call("GET", "/api/jobs", undefined, { authorization: "", cookie: cookie.split(";")[0]! });
    assert.equal(r.status, 200);
    assert.deepEqual((await s.call("GET", "/api/session", undefined, { authorization: "", cookie: cookie.split(";")[0]! })).body, { signedIn: true, live: "events" });
    assert.deepEqual((await s.call("GET", "/api/session", undefined, { authorization: "" })).body, { signedIn: false, live: "events" });
  });
  it("refuses a stranger on the headers, before any of the body is read", async () => {
    const { hostname, port } = new URL(s.url);
    const answer = await new Promise<string>((resolve, reject) => {
      // 10 MB declared, none sent: only an answer given on the headers alone can come back.
      const sock = connect(Number(port), hostname, () => sock.write(`POST /api/jobs HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/json\r\ncontent-length: 10000000\r\n\r\n`));
      let got = "";
      sock.on("data", (b) => { got += b.toString(); if (got.includes("\r\n\r\n")) { sock.destroy(); resolve(got); } });
      sock.on("error", reject);
      sock.setTimeout(15_000, () => { sock.destroy(); reject(new Error("no answer before the body: the server waited for it")); });
    });
    assert.match(answer, /^HTTP\/1\.1 401 /);
    // A call anyone may make takes a small body only.
    const big = await s.call("POST", "/api/session", { token: "x".repeat(100 * 1024) }, { authorization: "" });
    assert.equal(big.status, 413);
    assert.equal(big.body.error.code, "too_large");
  });
  it("takes a change with the session cookie only from the page itself (no cross-port CSRF)", async () => {
    const cookie = ((await s.call("POST", "/api/session", { token: s.apiToken }, { authorization: "" })).headers.get("set-cookie") ?? "").split(";")[0]!;
    // A magnet that fails validation: past the origin check it answers 400, so no job is made either way.
    const body = JSON.stringify({ magnet: "magnet:?xt=urn:btih:nothex" });
    const post = (headers: Record<string, string>) => fetch(`${s.url}/api/jobs`, { method: "POST", body, headers: { cookie, ...headers } });
    const evil = `http://127.0.0.1:${new URL(s.url).port === "1" ? 2 : 1}`;
    const own = new URL(s.url).origin;
    // What a page on another port of this host can send: a "simple" text/plain POST, cookie attached.
    const foreign: Record<string, string>[] = [
      { "content-type": "text/plain", origin: evil, "sec-fetch-site": "same-site" },
      { "content-type": "text/plain", origin: evil },
      { "content-type": "application/json", origin: evil },
      { "content-type": "application/json" },
    ];
    for (const headers of foreign) {
      const r = await post(headers);
      assert.equal(r.status, 403, JSON.stringify(headers));
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, "forbidden");
    }
    const plain = await post({ "content-type": "text/plain", origin: own, "sec-fetch-site": "same-origin" });
    assert.equal(((await plain.json()) as { error: { message: string } }).error.message, "Send the request body as application/json.");
    const page = await post({ "content-type": "application/json", origin: own, "sec-fetch-site": "same-origin" });
    assert.equal(((await page.json()) as { error: { code: string } }).error.code, "invalid_magnet", "the page itself gets through");
    const unknown = randomBytes(20).toString("hex");
    assert.equal((await fetch(`${s.url}/api/jobs/${unknown}`, { method: "DELETE", headers: { cookie, origin: evil } })).status, 403);
    // The API token needs neither.
    assert.equal((await s.call("DELETE", `/api/jobs/${unknown}`, undefined, { "content-type": "text/plain" })).status, 404);
  });

});

describe("after the bad input", () => {
  it("lost nothing and crashed nothing", async () => {
    assert.equal(s.ingest.child.exitCode, null, "ingest is still running");
    assert.equal(s.seedbox.child.exitCode, null, "seedbox is still running");
    assert.equal((await s.call("GET", "/healthz")).status, 200);
    assert.deepEqual(await newestIds(), jobsBefore);
    const good = randomBytes(20).toString("hex");
    assert.equal((await s.call("POST", "/api/jobs", { magnet: `magnet:?xt=urn:btih:${good}` })).status, 202);
    assert.equal((await s.call("DELETE", `/api/jobs/${good}`)).body.job.status, "cancelled");
  });
});

describe("events", () => {
  it("streams each change over SSE", async () => {
    const ac = new AbortController();
    const res = await fetch(`${s.url}/api/events`, { headers: { authorization: `Bearer ${s.apiToken}` }, signal: ac.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    const id = randomBytes(20).toString("hex");
    const seen: string[] = [];
    const reader = (async () => {
      const decoder = new TextDecoder();
      let buf = "";
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        for (const m of buf.matchAll(/^data: (.*)$/gm)) {
          const job = JSON.parse(m[1]!).job;
          if (job.id === id) seen.push(job.status);
        }
        buf = buf.slice(buf.lastIndexOf("\n") + 1);
        if (seen.includes("cancelled")) return;
      }
    })();
    assert.equal((await s.call("POST", "/api/jobs", { magnet: `magnet:?xt=urn:btih:${id}&dn=sse` })).status, 202);
    assert.equal((await s.call("DELETE", `/api/jobs/${id}`)).status, 200);
    await Promise.race([reader, new Promise((_, reject) => setTimeout(() => reject(new Error(`events seen: ${seen}`)), 10_000))]);
    ac.abort();
    assert.equal(seen[0], "queued");
    assert.equal(seen.at(-1), "cancelled");
  });
});

describe("requester entries", () => {
  it("lets the token holder record where it shows a job, for a requester of that job only", async () => {
    const id = randomBytes(20).toString("hex");
    const requester = { via: "discord", user: "111", channelId: "222" };
    assert.equal((await s.call("POST", "/api/jobs", { magnet: `magnet:?xt=urn:btih:${id}`, requester })).status, 202);
    const r = await s.call("PATCH", `/api/jobs/${id}/requester`, { requester: { ...requester, messageId: "333" } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.job.requesters, [{ via: "discord", user: "111", channelId: "222", messageId: "333" }]);
    const stranger = await s.call("PATCH", `/api/jobs/${id}/requester`, { requester: { via: "discord", user: "999", messageId: "1" } });
    assert.equal(stranger.status, 404);
    const bad = await s.call("PATCH", `/api/jobs/${id}/requester`, { requester: { via: "discord", user: "111", messageId: "not-a-snowflake" } });
    assert.equal(bad.status, 400);
    assert.equal((await s.call("DELETE", `/api/jobs/${id}`)).status, 200);
  });
});

describe("the job store behind the API", () => {
  let table: JobDb;
  // The file local ingest keeps its jobs in, opened as a second writer would.
  before(() => { table = new JobDb({ path: s.jobsDb, retentionDays: 7 }); });
  after(() => table?.close());

  it("streams a change that another writer made, over SSE", async () => {
    const ac = new AbortController();
    const res = await fetch(`${s.url}/api/events`, { headers: { authorization: `Bearer ${s.apiToken}` }, signal: ac.signal });
    const rec = jobRecord(new Date().toISOString());
    const started = Date.now();
    const found = (async () => {
      let buf = "";
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += Buffer.from(chunk).toString("utf8");
        if (buf.includes(rec.job.id)) return Date.now() - started;
      }
      return -1;
    })();
    // Written straight into the store, as another writer (a seedbox, another ingest) would.
    assert.notEqual(await table.put(rec, null), null);
    const ms = await Promise.race([found, new Promise<number>((_, reject) => setTimeout(() => reject(new Error("not streamed within 5 s")), 5000))]);
    ac.abort();
    assert.ok(ms >= 0);
  });

  it("shows a job whose files have expired as expired, and its links answer 410 expired", async () => {
    const past = new Date(Date.now() - 8 * 24 * 3600 * 1000).toISOString();
    const base = jobRecord(past);
    const rec = {
      ...base,
      files: [{ path: "old.bin", key: "old.bin", size: 3 }],
      job: { ...base.job, status: "completed" as const, progress: 1, files: [{ path: "old.bin", size: 3 }], expiresAt: new Date(Date.now() - 1000).toISOString() },
    };
    await table.put(rec, null);
    const job = (await s.call("GET", `/api/jobs/${rec.job.id}`)).body.job;
    assert.equal(job.status, "expired");
    assert.equal(job.files[0].url, undefined);
    const r = await s.call("GET", `/d/${rec.job.id}/old.bin`);
    assert.equal(r.status, 410);
    assert.equal(r.body.error.code, "expired");
    assert.match(r.body.error.message, /expired/);
  });
});
