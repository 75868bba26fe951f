import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { JobRecord } from "../../lib/job-record.ts";
import { newJob } from "../../lib/job.ts";
import { createLogger } from "../../lib/log.ts";
import type { RequestMessage } from "../../lib/messages.ts";
import { Leases } from "../../seedbox/leases.ts";
import { MemoryStore } from "../support/memory-store.ts";

const timing = { timeoutMs: 60_000, renewMs: 10_000, requestTimeoutMs: 900_000 };
const id = "b".repeat(40);
const log = createLogger("test", { level: "error" });
const rec = (): JobRecord => ({
  job: newJob({ id, name: "n", size: 1, requester: { via: "api", user: "u" }, now: "2026-12-01T00:00:00.000Z" }),
  lastFactAt: null, files: [], source: { kind: "torrent", key: `incoming/${id}.torrent` },
});

async function fleet() {
  const store = new MemoryStore();
  await store.put(rec(), null);
  let now = Date.parse("2026-12-01T00:00:00.000Z");
  const sent: RequestMessage[] = [];
  const events: string[] = [];
  let engine: Set<string> | null = null;
  const box = (me: string) => new Leases({
    store, me, timing, log, nowMs: () => now,
    inEngine: async () => engine,
    publishRequest: async (m) => void sent.push(m as RequestMessage),
    drop: async (j) => void events.push(`${me} drop ${j.slice(0, 4)}`),
    cancelled: async (j) => void events.push(`${me} cancelled ${j.slice(0, 4)}`),
    taken: async (j) => void events.push(`${me} taken ${j.slice(0, 4)}`),
  });
  /** Another writer (ingest) sets the job's status. */
  const setStatus = async (status: JobRecord["job"]["status"]) => {
    const cur = (await store.get(id))!;
    await store.put({ ...cur.rec, job: { ...cur.rec.job, status } }, cur.version);
  };
  return { store, sent, events, box, setStatus, tick: (ms: number) => (now += ms), setEngine: (ids: string[] | null) => (engine = ids && new Set(ids)) };
}

describe("seedbox leases", () => {
  it("hands back a held job whose torrent is gone from Deluge (after the time an add takes), and renews the rest", async () => {
    const f = await fleet();
    const a = f.box("s1");
    assert.equal(await a.take(id), "taken");
    f.setEngine([]);
    f.tick(10_000);
    await a.renewAll();
    assert.equal(a.count(), 1, "a torrent just taken is still being added");
    f.setEngine([id]);
    f.tick(30_000);
    await a.renewAll();
    assert.equal(a.count(), 1, "there: renewed");
    f.setEngine([]);
    f.tick(10_000);
    await a.renewAll();
    assert.equal(a.count(), 0, "gone: not renewed for ever");
    assert.deepEqual(f.events, ["s1 taken bbbb", "s1 drop bbbb"]);
    assert.deepEqual(f.sent.map((m) => m.id), [id], "requested again at once");
    const r = (await f.store.get(id))!.rec;
    assert.equal(r.lease?.released, true);
    assert.equal(await f.box("s2").take(id), "taken", "another seedbox may take it");
  });
  it("renews as before when Deluge cannot say what it holds", async () => {
    const f = await fleet();
    const a = f.box("s1");
    await a.take(id);
    f.setEngine(null);
    f.tick(60_000);
    await a.renewAll();
    assert.equal(a.count(), 1);
  });
  it("one seedbox takes the job; another is refused while the lease lives, and takes it once it ran out", async () => {
    const f = await fleet();
    const [a, b] = [f.box("s1"), f.box("s2")];
    assert.equal(await a.take(id), "taken");
    assert.equal(await b.take(id), "held");
    assert.equal(a.count(), 1);
    f.tick(60_000);
    assert.equal(await b.take(id), "taken");
    // The loser hears of it at its next renewal and drops the job; the winner renews on.
    await a.renewAll();
    await b.renewAll();
    assert.deepEqual(f.events, ["s1 taken bbbb", "s2 taken bbbb", "s1 drop bbbb"]);
    assert.equal(a.holds(id), false);
    assert.equal((await f.store.get(id))!.rec.lease!.seedbox, "s2");
  });

  it("takes one job once, however many requests race for it", async () => {
    const f = await fleet();
    const a = f.box("s1");
    assert.deepEqual(await Promise.all([a.take(id), a.take(id), a.take(id)]), ["taken", "taken", "taken"]);
    assert.equal((await f.store.get(id))!.rec.lease!.epoch, 1);
  });

  it("hears of a cancel at its renewal", async () => {
    const f = await fleet();
    const a = f.box("s1");
    await a.take(id);
    await f.setStatus("cancelled");
    await a.renewAll();
    assert.deepEqual(f.events, ["s1 taken bbbb", "s1 cancelled bbbb"]);
    assert.equal(a.count(), 0);
  });

  it("removes a job cancelled while it was held, when it lets go before the next renewal", async () => {
    const f = await fleet();
    const a = f.box("s1");
    await a.take(id);
    await f.setStatus("cancelled");
    await a.release(id);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(f.events, ["s1 taken bbbb", "s1 cancelled bbbb"]);
    await a.renewAll();
    assert.equal(f.events.length, 2, "removed once");
  });

  it("after a restart holds its job again, keeps a finished torrent of a completed job to seed, and drops the rest", async () => {
    const f = await fleet();
    assert.equal(await f.box("s1").ensure(id, { done: false }), "held");
    await f.setStatus("completed");
    assert.equal(await f.box("s1").ensure(id, { done: true }), "seed");
    assert.equal(await f.box("s1").ensure(id, { done: false }), "drop", "an unfinished copy of a completed job");
  });

  it("releases when done, and hands back with the request published again", async () => {
    const f = await fleet();
    const a = f.box("s1");
    await a.take(id);
    await a.handBack(id, { count: true, why: "no_room" });
    const r = (await f.store.get(id))!.rec;
    assert.equal(r.handBacks, 1);
    assert.ok(Date.parse(r.lease!.until) <= Date.parse("2026-12-01T00:00:00.000Z"));
    assert.deepEqual(f.sent, [{ v: 1, type: "add", id, name: "n", source: { kind: "torrent", key: `incoming/${id}.torrent` } }]);
    // Free at once for the next seedbox, at the next epoch.
    assert.equal(await f.box("s2").take(id), "taken");
    assert.equal((await f.store.get(id))!.rec.lease!.epoch, 2);
  });

  it("on a spot notice drops and hands back every held job", async () => {
    const f = await fleet();
    const a = f.box("s1");
    await a.take(id);
    assert.equal(await a.handBackAll(), 1);
    assert.deepEqual(f.events, ["s1 taken bbbb", "s1 drop bbbb"]);
    assert.equal(f.sent.length, 1);
    assert.equal((await f.store.get(id))!.rec.handBacks, undefined, "a hand-back for a host going away does not count");
  });
});
