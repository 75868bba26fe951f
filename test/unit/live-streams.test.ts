// The live update streams: caps per client and in all, one change-feed reader for every stream, and a
// bounded backlog for a client that stops reading.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { JobRecord } from "../../lib/job-record.ts";
import type { Job } from "../../lib/job.ts";
import { LiveStreams } from "../../ingest/events.ts";
import type { JobListener } from "../../ingest/registry.ts";

function world() {
  const listeners = new Set<JobListener>();
  let reads = 0;
  let seq = 0;
  const registry = {
    subscribe: (l: JobListener) => (listeners.add(l), () => void listeners.delete(l)),
    changes: async () => (reads++, { records: [], cursor: "c" }),
  };
  const rec = (id: string): JobRecord => ({ job: { id, updatedAt: new Date(1_700_000_000_000 + ++seq).toISOString() } as Job, lastFactAt: null, files: [] });
  const change = (id: string) => { for (const l of listeners) l(rec(id)); };
  return { registry, change, reads: () => reads, listeners: () => listeners.size };
}
const present = (r: JobRecord) => r.job;
const code = (f: () => unknown) => { try { f(); return null; } catch (e) { return (e as { code?: string }).code; } };

describe("live streams", () => {
  it("caps the streams of one client, and of all clients", async () => {
    const w = world();
    const live = new LiveStreams(w.registry, present, { total: 3, perClient: 2, pollMs: 50 });
    const ac = new AbortController();
    const a1 = live.stream("a", ac.signal), a2 = live.stream("a", ac.signal);
    await a1.next();
    await a2.next();
    assert.equal(code(() => live.stream("a", ac.signal)), "rate_limited");
    const b = live.stream("b", ac.signal);
    await b.next();
    assert.equal(code(() => live.stream("c", ac.signal)), "rate_limited");
    ac.abort();
    await Promise.all([a1.next(), a2.next(), b.next()]);
    assert.equal(live.open, 0, "ended streams free their places");
    assert.equal(w.listeners(), 0, "and nothing listens once none is open");
  });

  it("reads the change feed once per poll for all streams together", async () => {
    const w = world();
    const live = new LiveStreams(w.registry, present, { pollMs: 40, perClient: 20 });
    const ac = new AbortController();
    const streams = Array.from({ length: 10 }, () => live.stream("a", ac.signal));
    for (const s of streams) await s.next();
    await new Promise((r) => setTimeout(r, 420));
    ac.abort();
    for (const s of streams) await s.next();
    // About ten polls in 420 ms (plus the first "from now on" read), not ten per stream.
    assert.ok(w.reads() >= 5 && w.reads() <= 14, `${w.reads()} reads`);
    const after = w.reads();
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(w.reads(), after, "the feed stops with the last stream");
  });

  it("sends each change to every stream, and ends a stream whose client stopped reading past its backlog", async () => {
    const w = world();
    const live = new LiveStreams(w.registry, present, { maxPending: 5, pollMs: 10_000 });
    const ac = new AbortController();
    const reader = live.stream("a", ac.signal), stalled = live.stream("b", ac.signal);
    assert.equal((await reader.next()).value, "retry: 2000\n\n");
    await stalled.next();
    w.change("j1");
    assert.match(String((await reader.next()).value), /^data: \{"job":\{"id":"j1"/);
    for (let i = 0; i < 6; i++) w.change(`k${i}`);
    // The stalled stream's backlog passed 5: it ends, and its client reconnects and reloads the list.
    assert.equal((await stalled.next()).done, true);
    assert.equal(live.open, 1);
    ac.abort();
    await reader.return(undefined);
  });
});
