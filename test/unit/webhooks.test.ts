// Webhooks without a network: which writes make events, the outbox, the retry schedule, the signature,
// and the delivery handler's decisions (deliver, wait, retry, give up) with a fake sender.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, it } from "node:test";
import { addCallback, noteTransition, type JobRecord } from "../../lib/job-record.ts";
import { AppError } from "../../lib/errors.ts";
import { newJob } from "../../lib/job.ts";
import { createLogger } from "../../lib/log.ts";
import {
  eventId, parseWebhookMessage, retryDelayS, retryWindowMs, signatureHeader, type WebhookMessage,
} from "../../lib/webhook.ts";
import { JobRegistry } from "../../ingest/registry.ts";
import { outbox } from "../../ingest/outbox.ts";
import { webhookHandler } from "../../ingest/webhooks.ts";
import { MemoryStore } from "../support/memory-store.ts";

const id = "a".repeat(40);
const t0 = "2026-01-01T00:00:00.000Z";
const log = createLogger("test", { level: "error" });
const rec = (status: JobRecord["job"]["status"], extra: Partial<JobRecord["job"]> = {}): JobRecord => ({
  job: { ...newJob({ id, name: "x", size: 1, requester: { via: "api", user: "api" }, now: t0 }), status, ...extra },
  lastFactAt: null, files: [],
});
const hooked = (r: JobRecord, urls = ["https://example.com/h"]): JobRecord => ({ ...r, hooks: { urls, pending: [] } });

describe("events", () => {
  it("a write that ends a job queues one event; later writes do not repeat it", () => {
    const prev = hooked(rec("downloading"));
    const next = noteTransition(prev, { ...prev, job: { ...prev.job, status: "completed", updatedAt: "2026-01-01T01:00:00.000Z" } });
    assert.deepEqual(next.hooks!.pending.map((p) => p.event), ["completed"]);
    assert.equal(next.hooks!.pending[0]!.id, eventId(id, "completed", "2026-01-01T01:00:00.000Z"));
    assert.equal(noteTransition(next, { ...next, job: { ...next.job } }).hooks!.pending.length, 1, "same status: nothing new");
    for (const s of ["failed", "cancelled"] as const) {
      assert.deepEqual(noteTransition(prev, { ...prev, job: { ...prev.job, status: s } }).hooks!.pending.map((p) => p.event), [s]);
    }
    assert.equal(noteTransition(prev, { ...prev, job: { ...prev.job, progress: 0.5 } }).hooks!.pending.length, 0);
  });

  it("a job without callback URLs keeps no webhook state", () => {
    const prev = rec("downloading");
    const next = noteTransition(prev, { ...prev, job: { ...prev.job, status: "completed" } });
    assert.equal(next.hooks, undefined);
  });

  it("deleting files (expiresAt moved to now) is an expired event", () => {
    const prev = hooked(rec("completed", { expiresAt: "2026-01-08T00:00:00.000Z" }));
    const now = "2026-01-02T00:00:00.000Z";
    const next = noteTransition(prev, { ...prev, job: { ...prev.job, expiresAt: now, updatedAt: now } });
    assert.deepEqual(next.hooks!.pending.map((p) => [p.event, p.at]), [["expired", now]]);
  });

  it("a callback added to an ended job gets that job's event, for that URL only; URLs stay few", () => {
    const done = hooked(rec("completed"), ["https://a.example/"]);
    const next = addCallback(done, "https://b.example/");
    assert.deepEqual(next.hooks!.pending.map((p) => [p.event, p.url]), [["completed", "https://b.example/"]]);
    assert.equal(addCallback(next, "https://b.example/"), next, "deduplicated");
    let r = hooked(rec("queued"), []);
    for (let i = 0; i < 10; i++) r = addCallback(r, `https://h${i}.example/`);
    assert.equal(r.hooks!.urls.length, 3);
    assert.equal(r.hooks!.pending.length, 0, "a running job has no event yet");
  });

  it("retries for 24 h with delays doubling to an hour", () => {
    assert.deepEqual([1, 2, 3, 4, 5].map((a) => retryDelayS(a, 10)), [10, 20, 40, 80, 160]);
    assert.equal(retryDelayS(40, 10), 3600);
    let t = 0;
    let n = 1;
    while (t + retryDelayS(n, 10) * 1000 <= retryWindowMs) t += retryDelayS(n++, 10) * 1000;
    assert.ok(n >= 25 && n <= 35, `${n} tries in 24 h`);
  });

  it("signs t + '.' + body with HMAC-SHA256", () => {
    const h = signatureHeader("sekrit", 1700000000, '{"a":1}');
    assert.equal(h, `t=1700000000,v1=${createHmac("sha256", "sekrit").update('1700000000.{"a":1}').digest("hex")}`);
  });

  it("refuses malformed queue messages as poison", () => {
    for (const body of ["nope", "{}", JSON.stringify({ v: 1, type: "webhook", job: id, event: "exploded" })]) {
      assert.throws(() => parseWebhookMessage(body), { name: "PoisonMessage" });
    }
  });
});

describe("outbox and delivery", () => {
  const setup = async (r: JobRecord) => {
    const store = new MemoryStore();
    await store.put(r, null);
    const registry = new JobRegistry(store);
    const sent: { m: WebhookMessage; delayS: number }[] = [];
    const send = async (m: object, delayS: number) => void sent.push({ m: m as WebhookMessage, delayS });
    return { store, registry, sent, send };
  };

  it("queues a completed event and the scheduled expiry, then clears the outbox", async () => {
    const now = "2026-01-01T02:00:00.000Z";
    const r = hooked(rec("completed", { expiresAt: "2026-01-08T02:00:00.000Z" }));
    const w = await setup({ ...r, hooks: { ...r.hooks!, pending: [{ id: "e1", event: "completed", at: now }] } });
    const box = outbox({ store: w.store, sendWebhook: w.send, publishUpdate: async () => {}, present: (x) => x.job, now: () => now, log });
    assert.equal(await box.flush(id, null), true);
    assert.deepEqual(w.sent.map((x) => [x.m.event, x.m.attempt, x.m.due, x.delayS]), [
      ["completed", 1, now, 0],
      ["expired", 1, "2026-01-08T02:00:00.000Z", 900],
    ]);
    assert.equal((await w.store.get(id))!.rec.hooks!.pending.length, 0);
  });

  const msg = (over: Partial<WebhookMessage> = {}): WebhookMessage => ({
    v: 1, type: "webhook", job: id, event: "completed", eventId: "e1", at: t0, url: "https://example.com/h", attempt: 1, firstAt: t0, due: t0, ...over,
  });
  const run = async (m: WebhookMessage, post: () => Promise<number>, clockMs = Date.parse(t0)) => {
    const w = await setup(hooked(rec("completed", { expiresAt: "2026-01-08T00:00:00.000Z" })));
    const calls: { body: string; headers: Record<string, string> }[] = [];
    const handle = webhookHandler({
      registry: w.registry, send: w.send, secret: "k", log, retryBaseS: 10, clock: () => clockMs,
      guard: { post: async (_u, body, headers) => (calls.push({ body, headers }), post()) },
      present: (x) => x.job,
    });
    await handle({ messageId: "m", body: JSON.stringify(m), receiveCount: 1 }, new AbortController().signal);
    return { calls, sent: w.sent };
  };

  it("delivers once on 2xx, signed, with the event id", async () => {
    const { calls, sent } = await run(msg(), async () => 204);
    assert.equal(calls.length, 1);
    assert.equal(sent.length, 0);
    const h = calls[0]!.headers;
    assert.equal(h["t2s-event-id"], "e1");
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(h["t2s-signature"]!)!;
    assert.equal(v1, createHmac("sha256", "k").update(`${t}.${calls[0]!.body}`).digest("hex"));
    assert.deepEqual(Object.keys(JSON.parse(calls[0]!.body)).sort(), ["at", "event", "id", "job"]);
  });

  it("re-queues the next try after a 500, a reset or a timeout; not after a 404 or a blocked address", async () => {
    for (const post of [async () => 500, async () => { throw new AppError("fetch_failed", "reset (ECONNRESET)"); }, async () => 429]) {
      const { sent } = await run(msg(), post);
      assert.deepEqual(sent.map((x) => [x.m.attempt, x.delayS]), [[2, 10]]);
    }
    for (const post of [async () => 404, async () => { throw new AppError("url_blocked", "private"); }]) {
      assert.equal((await run(msg(), post)).sent.length, 0);
    }
  });

  it("gives up 24 h after the first try", async () => {
    const first = Date.parse(t0);
    const { sent } = await run(msg({ attempt: 30 }), async () => 503, first + retryWindowMs - 60_000);
    assert.equal(sent.length, 0);
  });

  it("sends a message that is not due yet back to the queue, at most 15 min at a time, without calling out", async () => {
    const { calls, sent } = await run(msg({ due: "2026-01-01T05:00:00.000Z" }), async () => 200);
    assert.equal(calls.length, 0);
    assert.deepEqual(sent.map((x) => x.delayS), [900]);
  });

  it("drops a scheduled expiry that no longer holds", async () => {
    const { calls } = await run(msg({ event: "expired", at: "2025-12-31T00:00:00.000Z" }), async () => 200);
    assert.equal(calls.length, 0);
  });
});
