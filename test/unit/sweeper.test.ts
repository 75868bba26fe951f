import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { takeLease, type JobRecord } from "../../lib/job-record.ts";
import { newJob } from "../../lib/job.ts";
import { createLogger } from "../../lib/log.ts";
import type { RequestMessage } from "../../lib/messages.ts";
import { requestAllOpen, sweepOnce } from "../../ingest/sweeper.ts";
import { MemoryStore } from "../support/memory-store.ts";

const timing = { timeoutMs: 60_000, renewMs: 10_000, requestTimeoutMs: 900_000 };
const t0 = Date.parse("2026-12-01T00:00:00.000Z");
const log = createLogger("test", { level: "error" });
const hex = (n: number) => n.toString(16).padStart(40, "0");
const rec = (n: number): JobRecord => ({
  job: newJob({ id: hex(n), name: `j${n}`, size: 1, requester: { via: "api", user: "u" }, now: new Date(t0).toISOString() }),
  lastFactAt: null, files: [], queuedAt: new Date(t0).toISOString(), source: { kind: "torrent", key: `incoming/${hex(n)}.torrent` },
});
const leased = (n: number, who: string, at: number) => {
  const r = takeLease(rec(n), who, at, timing);
  assert.ok(r.ok);
  return r.rec;
};

async function world(recs: JobRecord[]) {
  const store = new MemoryStore();
  for (const r of recs) await store.put(r, null);
  const sent: RequestMessage[] = [];
  return { store, sent, publishRequest: async (m: object) => void sent.push(m as RequestMessage) };
}

describe("sweeper", () => {
  it("requests again the jobs whose lease ran out, once, and leaves live leases and ended jobs alone", async () => {
    const ended = { ...leased(3, "s1", t0), job: { ...rec(3).job, status: "completed" as const } };
    const w = await world([leased(1, "s1", t0), leased(2, "s2", t0 + 30_000), ended]);
    const d = { ...w, timing, log, limit: 10, nowMs: () => t0 + 60_000 };
    assert.equal(await sweepOnce(d), 1);
    assert.deepEqual(w.sent, [{ v: 1, type: "add", id: hex(1), name: "j1", source: { kind: "torrent", key: `incoming/${hex(1)}.torrent` }, run: new Date(t0).toISOString() }]);
    // Its due time moved on a request timeout: the next run leaves it.
    assert.equal(await sweepOnce(d), 0);
    assert.equal((await w.store.get(hex(1)))!.rec.due, new Date(t0 + 60_000 + 900_000).toISOString());
  });
  it("requests again an untaken job whose request went unanswered", async () => {
    const w = await world([rec(1)]);
    assert.equal(await sweepOnce({ ...w, timing, log, limit: 10, nowMs: () => t0 + 899_000 }), 0);
    assert.equal(await sweepOnce({ ...w, timing, log, limit: 10, nowMs: () => t0 + 900_000 }), 1);
  });
  it("fails a job requested again too often, with a reason, and requests it no more", async () => {
    const w = await world([rec(1)]);
    const t = { ...timing, maxRequests: 3 };
    for (let i = 1; i <= 3; i++) assert.equal(await sweepOnce({ ...w, timing: t, log, limit: 10, nowMs: () => t0 + i * 900_000 }), 1, `request ${i}`);
    assert.equal(await sweepOnce({ ...w, timing: t, log, limit: 10, nowMs: () => t0 + 4 * 900_000 }), 0);
    const { rec: r } = (await w.store.get(hex(1)))!;
    assert.equal(r.job.status, "failed");
    assert.equal(r.job.error?.code, "stalled");
    assert.match(r.job.error!.message, /after 3 requests/);
    assert.equal(w.sent.length, 3, "no request for a job that ends");
    assert.equal(await sweepOnce({ ...w, timing: t, log, limit: 10, nowMs: () => t0 + 9 * 900_000 }), 0, "an ended job leaves the sweeper");
  });
  it("requeues at most `limit` jobs per run", async () => {
    const w = await world([1, 2, 3, 4, 5].map((n) => leased(n, "s1", t0)));
    const d = { ...w, timing, log, limit: 2, nowMs: () => t0 + 61_000 };
    assert.equal(await sweepOnce(d), 2);
    assert.equal(await sweepOnce(d), 2);
    assert.equal(await sweepOnce(d), 1);
    assert.equal(new Set(w.sent.map((m) => m.id)).size, 5);
  });
  it("at start requests every open job, held or not, and no ended one", async () => {
    const ended = { ...rec(9), job: { ...rec(9).job, status: "failed" as const } };
    const recs = [...Array.from({ length: 150 }, (_, i) => (i % 2 ? rec(i + 10) : leased(i + 10, "s1", t0))), ended];
    const w = await world(recs);
    assert.equal(await requestAllOpen({ ...w, log }), 150);
    assert.equal(new Set(w.sent.map((m) => m.id)).size, 150);
  });
});
