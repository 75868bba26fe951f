// Webhooks through the real ingest, queue and seedbox: a receiver on loopback (allow-listed) that
// fails on purpose, signatures checked with the key from the API, and hostile callback URLs refused.
import assert from "node:assert/strict";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { before, describe, it } from "node:test";
import { sleep } from "../../lib/time.ts";
import type { HookCall } from "../support/files.ts";
import { testStack } from "../support/shared.ts";
import { clientOptions, type TestStack } from "../support/stack.ts";

let s: TestStack;
let secret: string;
const b64 = (b: Buffer) => b.toString("base64");

before(async () => {
  s = await testStack();
  const r = await s.call("GET", "/api/webhook-secret");
  assert.equal(r.status, 200);
  secret = r.body.secret;
});

/** The verification docs/api.md gives, as a receiver would write it. */
function verify(h: HookCall, key: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(h.headers["t2s-signature"] ?? ""));
  if (!m) return false;
  if (Math.abs(Date.now() / 1000 - Number(m[1])) > 300) return false;
  const want = createHmac("sha256", key).update(`${m[1]}.${h.body}`).digest();
  return timingSafeEqual(want, Buffer.from(m[2]!, "hex"));
}

async function waitForHook(path: string, done: (calls: HookCall[]) => boolean, timeoutMs = 60_000): Promise<HookCall[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const calls = s.files.hooks.filter((h) => h.path === path);
    if (done(calls)) return calls;
    if (Date.now() > deadline) throw new Error(`hook ${path} got ${JSON.stringify(calls.map((c) => [c.answered, JSON.parse(c.body).event]))}`);
    await sleep(200);
  }
}
const delivered = (event: string) => (calls: HookCall[]) => calls.some((c) => c.answered === "200" && JSON.parse(c.body).event === event);

describe("webhooks", () => {
  it("delivers completed after a 500 and a dropped connection, signed, each try with the same event id", async () => {
    const path = `/hook/done-${randomBytes(3).toString("hex")}`;
    s.files.script(path, ["500", "drop"]);
    const made = await s.seed({ name: `hook-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 300_000 } });
    const r = await s.call("POST", "/api/jobs", { torrent: b64(made.torrent), callback_url: `${s.files.base}${path}` });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(JSON.stringify(r.body).includes(path), false, "the callback URL is not shown in the job");
    const job = await s.waitForJob(made.infoHash, (j) => j.status === "completed");
    const calls = await waitForHook(path, delivered("completed"));
    assert.deepEqual(calls.map((c) => c.answered), ["500", "drop", "200"]);
    const ids = new Set(calls.map((c) => c.headers["t2s-event-id"]));
    assert.equal(ids.size, 1, "one event, retried under one id");
    for (const c of calls) {
      assert.ok(verify(c, secret), "signature verifies");
      assert.equal(verify(c, "not the key"), false);
      assert.equal(c.headers["content-type"], "application/json");
    }
    const body = JSON.parse(calls[2]!.body);
    assert.equal(body.event, "completed");
    assert.equal(body.id, [...ids][0]);
    assert.equal(body.job.id, job.id);
    assert.equal(body.job.status, "completed");
    assert.ok(body.job.files[0].url.includes("/d/"), "links in the payload");
    // Deduplicable: a receiver keeping ids sees completed once; and nothing more arrives for it.
    await sleep(2500);
    assert.equal(s.files.hooks.filter((h) => h.path === path && h.answered === "200").length, 1);
    const logged = s.logs.filter((l) => l.job === job.id && typeof l.msg === "string" && String(l.msg).startsWith("webhook"));
    assert.ok(logged.length >= 3);
    assert.ok(!JSON.stringify(logged).includes(path), "the URL is never logged");
  });

  it("deleting a completed job's files removes its objects, answers 410 on its links, and sends expired", async () => {
    const path = `/hook/rm-${randomBytes(3).toString("hex")}`;
    const made = await s.seed({ name: `hook-rm-${randomBytes(3).toString("hex")}`, files: [{ path: ["a.bin"], size: 50_000 }, { path: ["sub", "b.txt"], data: Buffer.from("b") }] });
    const r = await s.call("POST", "/api/jobs", { torrent: b64(made.torrent), callback_url: `${s.files.base}${path}` });
    assert.equal(r.status, 202);
    const job = await s.waitForJob(made.infoHash, (j) => j.status === "completed");
    await waitForHook(path, delivered("completed"));
    const running = await s.call("POST", "/api/jobs", { magnet: `magnet:?xt=urn:btih:${randomBytes(20).toString("hex")}` });
    const refused = await s.call("DELETE", `/api/jobs/${running.body.job.id}/files`);
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, "conflict");
    for (const [id, status, code, auth] of [["f".repeat(40), 404, "not_found", undefined], ["nope", 404, "not_found", undefined], [job.id, 401, "unauthorized", "Bearer wrong"]] as const) {
      const x = await s.call("DELETE", `/api/jobs/${id}/files`, undefined, auth ? { authorization: auth } : {});
      assert.deepEqual([x.status, x.body.error.code], [status, code]);
    }
    const del = await s.call("DELETE", `/api/jobs/${job.id}/files`);
    assert.equal(del.status, 200, JSON.stringify(del.body));
    assert.equal(del.body.job.status, "expired");
    assert.ok(del.body.job.files.every((f: { url?: string }) => f.url === undefined));
    assert.equal((await fetch(job.files[0]!.url!, { redirect: "manual" })).status, 410);
    assert.equal((await s.call("DELETE", `/api/jobs/${job.id}/files`)).status, 200, "again: harmless");
    const calls = await waitForHook(path, delivered("expired"));
    assert.ok(verify(calls.at(-1)!, secret));
    assert.equal(JSON.parse(calls.at(-1)!.body).job.status, "expired");
    const { S3Client, ListObjectsV2Command } = await import("@aws-sdk/client-s3");
    const s3 = new S3Client(clientOptions(s).s3);
    const left = await s3.send(new ListObjectsV2Command({ Bucket: s.outputs.bucket, Prefix: `files/${job.id}/` }));
    assert.equal(left.KeyCount ?? 0, 0, "no object left under files/<id>/");
    s3.destroy();
  });

  it("delivers cancelled, and a second callback URL on a known job gets its own copy", async () => {
    const a = `/hook/cancel-a-${randomBytes(3).toString("hex")}`;
    const b = `/hook/cancel-b-${randomBytes(3).toString("hex")}`;
    // No peers: the job stays queued/downloading until cancelled.
    const magnet = `magnet:?xt=urn:btih:${randomBytes(20).toString("hex")}&dn=nobody-seeds-this`;
    const r1 = await s.call("POST", "/api/jobs", { magnet, callback_url: `${s.files.base}${a}` });
    assert.equal(r1.status, 202);
    const r2 = await s.call("POST", "/api/jobs", { magnet, callback_url: `${s.files.base}${b}` });
    assert.equal(r2.status, 200);
    const del = await s.call("DELETE", `/api/jobs/${r1.body.job.id}`);
    assert.equal(del.body.job.status, "cancelled");
    const [ca, cb] = await Promise.all([waitForHook(a, delivered("cancelled")), waitForHook(b, delivered("cancelled"))]);
    assert.equal(ca[0]!.headers["t2s-event-id"], cb[0]!.headers["t2s-event-id"]);
    assert.ok(verify(ca[0]!, secret));
  });

  it("refuses hostile callback URLs with a coded 4xx, before anything is stored", async () => {
    const magnet = () => `magnet:?xt=urn:btih:${randomBytes(20).toString("hex")}`;
    const cases: [string, unknown, number, string][] = [
      ["file:", "file:///etc/passwd", 400, "invalid_url"],
      ["ftp:", "ftp://example.com/x", 400, "invalid_url"],
      ["not a URL", "::::", 400, "invalid_url"],
      ["not a string", 42, 400, "invalid_url"],
      ["loopback without the allow-list", `http://127.0.0.1:${s.moto.port}/hook`, 403, "url_blocked"],
      ["localhost", "http://localhost:9/hook", 403, "url_blocked"],
      ["a private range", "http://10.1.2.3/hook", 403, "url_blocked"],
      ["mapped loopback", "http://[::ffff:127.0.0.1]:9/hook", 403, "url_blocked"],
      ["credentials", "https://user:pw@example.com/hook", 400, "invalid_url"],
    ];
    for (const [what, url, status, code] of cases) {
      const m = magnet();
      const r = await s.call("POST", "/api/jobs", { magnet: m, callback_url: url });
      assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, code, what);
      assert.ok(r.body.error.message.length > 10, "a plain message");
      const id = /btih:([0-9a-f]{40})/.exec(m)![1];
      assert.equal((await s.call("GET", `/api/jobs/${id}`)).status, 404, `${what}: no job was made`);
    }
  });

  it("keeps the webhook key behind the token", async () => {
    const r = await s.call("GET", "/api/webhook-secret", undefined, { authorization: "Bearer wrong" });
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, "unauthorized");
  });
});
