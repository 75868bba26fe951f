// The registry's rules over any store: a change is re-applied after losing a race, gives up with a
// clear error after too many, and each job's updatedAt only goes up.
import assert from "node:assert/strict";
import { noUsage } from "../../lib/cost.ts";
import { describe, it } from "node:test";
import type { JobRecord } from "../../lib/job-record.ts";
import type { JobStore, Versioned } from "../../lib/job-store.ts";
import { newJob } from "../../lib/job.ts";
import { Contention, JobRegistry } from "../../ingest/registry.ts";

/** A store in memory whose puts lose the race `losses` times (another writer got there first). */
function racyStore(losses: number): JobStore & { rows: Map<string, Versioned>; puts: number } {
  const rows = new Map<string, Versioned>();
  const s = {
    rows, puts: 0,
    get: async (id: string) => rows.get(id) ?? null,
    put: async (rec: JobRecord, expected: number | null) => {
      s.puts++;
      const cur = rows.get(rec.job.id);
      if (losses > 0 && cur) {
        losses--;
        // The other writer's change: a new requester, and a new version.
        const theirs = { ...cur.rec, job: { ...cur.rec.job, requesters: [...cur.rec.job.requesters, { via: "api" as const, user: `other-${losses}` }] } };
        rows.set(rec.job.id, { rec: theirs, version: cur.version + 1 });
        return null;
      }
      if ((cur?.version ?? null) !== expected) return null;
      rows.set(rec.job.id, { rec, version: (expected ?? 0) + 1 });
      return (expected ?? 0) + 1;
    },
    list: async () => ({ records: [], next: null }),
    changes: async () => ({ records: [], cursor: "" }),
    overdue: async () => [],
    addUsage: async () => {},
    monthUsage: async () => noUsage,
  };
  return s;
}

const id = "c".repeat(40);
const rec = (updatedAt: string): JobRecord => ({ job: { ...newJob({ id, name: "n", size: null, requester: { via: "api", user: "u" }, now: updatedAt }) }, lastFactAt: null, files: [] });

describe("JobRegistry", () => {
  it("re-applies a change to what the winning writer left, keeping both changes", async () => {
    const store = racyStore(2);
    store.rows.set(id, { rec: rec("2026-01-01T00:00:00.000Z"), version: 1 });
    const out = await new JobRegistry(store).update(id, (r) => r && { ...r, job: { ...r.job, name: "mine", updatedAt: "2026-01-01T00:00:01.000Z" } });
    assert.equal(out!.job.name, "mine");
    assert.deepEqual(store.rows.get(id)!.rec.job.requesters.map((r) => r.user), ["u", "other-1", "other-0"]);
    assert.equal(store.puts, 3);
  });

  it("gives up after too many lost races, with Contention", async () => {
    const store = racyStore(1000);
    store.rows.set(id, { rec: rec("2026-01-01T00:00:00.000Z"), version: 1 });
    await assert.rejects(new JobRegistry(store, { maxAttempts: 3 }).update(id, (r) => r), Contention);
  });

  it("keeps each job's updatedAt rising when the writer's clock is behind", async () => {
    const store = racyStore(0);
    store.rows.set(id, { rec: rec("2026-01-01T00:00:10.000Z"), version: 1 });
    const out = await new JobRegistry(store).update(id, (r) => r && { ...r, job: { ...r.job, progress: 0.5, updatedAt: "2026-01-01T00:00:05.000Z" } });
    assert.equal(out!.job.updatedAt, "2026-01-01T00:00:10.001Z");
  });
});
