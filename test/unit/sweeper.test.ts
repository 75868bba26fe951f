import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { complete, deleteFiles, fail, holdForBudget, stuckJobMessage, submitJob, takeLease, written, type JobRecord } from "../../lib/job-record.ts";
import { newJob } from "../../lib/job.ts";
import { createLogger } from "../../lib/log.ts";
import type { Job } from "../../lib/job.ts";
import type { RequestMessage, UpdateMessage } from "../../lib/messages.ts";
import { outbox } from "../../ingest/outbox.ts";
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

async function world(recs: JobRecord[], o: { refuse?: () => boolean; nowMs?: () => number } = {}) {
  const store = new MemoryStore();
  for (const r of recs) await store.put(r, null);
  const sent: RequestMessage[] = [];
  const updates: Job[] = [];
  const box = outbox({
    store, sendWebhook: null, present: (r) => r.job, log, now: () => new Date((o.nowMs ?? (() => t0))()).toISOString(),
    publishUpdate: async (m) => {
      if (o.refuse?.()) throw new Error("SNS refused");
      updates.push((m as UpdateMessage).job);
    },
  });
  return { store, sent, updates, outbox: box, publishRequest: async (m: object) => void sent.push(m as RequestMessage) };
}

describe("sweeper", () => {
  it("keeps a job held for the budget while the month is over it, and requests it once it is not", async () => {
    const w = await world([holdForBudget(rec(1), t0, 60_000)]);
    let decision: "open" | "budget" = "budget";
    const d = { ...w, timing, log, limit: 10, costs: { decision: async () => decision, recheckMs: 60_000 } };
    assert.equal(await sweepOnce({ ...d, nowMs: () => t0 + 60_000 }), 0);
    assert.deepEqual(w.sent, []);
    const still = (await w.store.get(hex(1)))!.rec;
    assert.equal(still.job.reason, "budget");
    assert.equal(still.requests ?? 0, 0, "waiting for the budget never counts towards failing the job");
    assert.equal(still.due, new Date(t0 + 120_000).toISOString());
    // Not requested at a local start either.
    assert.equal(await requestAllOpen(d), 0);
    decision = "open";
    assert.equal(await sweepOnce({ ...d, nowMs: () => t0 + 120_000 }), 1);
    assert.deepEqual((w.sent as RequestMessage[]).map((m) => m.id), [hex(1)]);
    const out = (await w.store.get(hex(1)))!.rec;
    assert.equal(out.job.reason, undefined);
    assert.equal(out.due, new Date(t0 + 120_000 + timing.requestTimeoutMs).toISOString());
  });
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
  it("logs an overdue job open past the bound with its id, the line the AWS alarm counts; a younger one is not", async () => {
    const w = await world([rec(1)]);
    const lines: string[] = [];
    const seen = createLogger("test", { write: (l) => lines.push(l) });
    const stuck = () => lines.map((l) => JSON.parse(l)).filter((l) => l.msg === stuckJobMessage);
    await sweepOnce({ ...w, timing, log: seen, limit: 10, stuckMs: 3_600_000, nowMs: () => t0 + 900_000 });
    assert.deepEqual(stuck(), [], "15 minutes open is under the bound");
    await sweepOnce({ ...w, timing, log: seen, limit: 10, stuckMs: 3_600_000, nowMs: () => t0 + 2 * 3_600_000 });
    assert.deepEqual(stuck().map((l) => [l.level, l.job, l.openMinutes, l.status]), [["warn", hex(1), 120, "queued"]]);
  });
  it("requeues at most `limit` jobs per run", async () => {
    const w = await world([1, 2, 3, 4, 5].map((n) => leased(n, "s1", t0)));
    const d = { ...w, timing, log, limit: 2, nowMs: () => t0 + 61_000 };
    assert.equal(await sweepOnce(d), 2);
    assert.equal(await sweepOnce(d), 2);
    assert.equal(await sweepOnce(d), 1);
    assert.equal(new Set(w.sent.map((m) => m.id)).size, 5);
  });
  it("hands on an update a failed publish left in the outbox, backing off, until it goes out once", async () => {
    let clock = t0;
    let refusing = true;
    const ended = written(rec(1), fail(rec(1), { code: "x", message: "m" }, new Date(t0).toISOString())!);
    const w = await world([ended], { refuse: () => refusing, nowMs: () => clock });
    const run = (ms: number) => sweepOnce({ ...w, timing, log, limit: 10, nowMs: () => (clock = t0 + ms) });
    await run(5_000);
    assert.equal(w.updates.length, 0, "not due within the writer's grace");
    await run(11_000);
    const tries = (await w.store.get(hex(1)))!.rec.outbox;
    assert.deepEqual(tries, { due: new Date(t0 + 31_000).toISOString(), tries: 1 }, "refused: tried again after 20 s");
    await run(30_000);
    assert.equal((await w.store.get(hex(1)))!.rec.outbox!.tries, 1, "not before it is due");
    await run(31_000);
    assert.equal((await w.store.get(hex(1)))!.rec.outbox!.tries, 2, "refused again: the delay doubles");
    refusing = false;
    await run(71_000);
    assert.deepEqual(w.updates.map((j) => j.status), ["failed"]);
    const after = (await w.store.get(hex(1)))!.rec;
    assert.deepEqual([after.update, after.outbox], [undefined, undefined]);
    await run(10 * 60_000);
    assert.equal(w.updates.length, 1, "delivered, it leaves the index: no repeats");
  });
  it("hands on a run's end even when its files were deleted and the job handed in again before the update went out", async () => {
    // The soak's lost ping: a completion whose publish was refused, then DELETE /files and a resubmit.
    let refusing = true;
    const iso = (ms: number) => new Date(t0 + ms).toISOString();
    const m = { id: hex(1), name: "j1", files: [{ path: "a", key: `files/${hex(1)}/data/a`, size: 1 }] };
    const done = written(rec(1), complete(rec(1), m, iso(1_000), 7)!);
    const w = await world([done], { refuse: () => refusing, nowMs: () => t0 + 2_000 });
    assert.equal(await w.outbox.flush(hex(1), done), false, "the completion's publish refused");
    const write = async (change: (r: JobRecord) => JobRecord | null) => {
      const cur = (await w.store.get(hex(1)))!;
      const next = written(cur.rec, change(cur.rec)!);
      await w.store.put(next, cur.version);
      return next;
    };
    await write((r) => deleteFiles(r, iso(3_000)));
    const again = await write((r) => submitJob(r, { id: hex(1), name: "j1", size: 1, source: r.source!, requester: { via: "api", user: "u" }, callback: null }, iso(4_000)).rec);
    assert.equal(again.job.status, "queued");
    refusing = false;
    assert.equal(await w.outbox.flush(hex(1), again), true);
    assert.deepEqual(w.updates.map((j) => [j.status, j.expiresAt]), [["completed", done.job.expiresAt], ["queued", null]], "run 1's end, then the job as it is now");
    const after = (await w.store.get(hex(1)))!.rec;
    assert.deepEqual([after.update, after.ended, after.outbox], [undefined, undefined, undefined]);
  });
  it("sends the update of a job it ends as stalled", async () => {
    const w = await world([rec(1)]);
    const t = { ...timing, maxRequests: 1 };
    await sweepOnce({ ...w, timing: t, log, limit: 10, nowMs: () => t0 + 900_000 });
    await sweepOnce({ ...w, timing: t, log, limit: 10, nowMs: () => t0 + 1_800_000 });
    assert.deepEqual(w.updates.map((j) => [j.status, j.error?.code]), [["failed", "stalled"]]);
  });
  it("at start requests every open job, held or not, and no ended one", async () => {
    const ended = { ...rec(9), job: { ...rec(9).job, status: "failed" as const } };
    const recs = [...Array.from({ length: 150 }, (_, i) => (i % 2 ? rec(i + 10) : leased(i + 10, "s1", t0))), ended];
    const w = await world(recs);
    assert.equal(await requestAllOpen({ ...w, log }), 150);
    assert.equal(new Set(w.sent.map((m) => m.id)).size, 150);
  });
});
