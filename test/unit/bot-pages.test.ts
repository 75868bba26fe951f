// The bot finds a user's jobs by walking ingest's pages, with a bounded number of calls.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Job } from "../../lib/job.ts";
import { findJobsOf, walkLimits, type JobPage } from "../../bot/ingest-client.ts";

const hex = (n: number) => n.toString(16).padStart(40, "0");
const job = (n: number, user: string, status: Job["status"] = "downloading"): Job => ({
  id: hex(n), name: `job ${n}`, status, progress: 0, size: 1, downloaded: 0, rate: 0, eta: null, seedbox: null, files: [], zip: null, error: null,
  requesters: [{ via: "discord", user }], expiresAt: null, createdAt: "2026-01-01T00:00:00.000Z", updatedAt: "2026-01-01T00:00:00.000Z",
});

/** A fake ingest with `all` (newest first), paged by an index cursor; records each call. */
function pages(all: Job[]) {
  const calls: { limit: number | undefined; cursor: string | null | undefined }[] = [];
  return {
    calls,
    list: async (limit?: number, cursor?: string | null): Promise<JobPage> => {
      calls.push({ limit, cursor });
      const from = cursor ? Number(cursor) : 0;
      const to = from + (limit ?? 50);
      return { jobs: all.slice(from, to), next: to < all.length ? String(to) : null };
    },
  };
}

describe("bot page walk", () => {
  it("reads pages of 200 until it has enough of the user's jobs", async () => {
    // One in ten jobs is alice's: 25 of hers need about 250 jobs, two pages.
    const all = Array.from({ length: 3000 }, (_, i) => job(i, i % 10 === 0 ? "alice" : "bob"));
    const ingest = pages(all);
    const r = await findJobsOf(ingest, "alice");
    assert.equal(r.jobs.length, 25);
    assert.deepEqual(r.jobs.map((j) => j.id), all.filter((j) => j.requesters[0]!.user === "alice").slice(0, 25).map((j) => j.id), "newest first");
    assert.deepEqual(ingest.calls, [{ limit: 200, cursor: null }, { limit: 200, cursor: "200" }]);
    assert.equal(r.more, true);
  });

  it("stops after five pages however many jobs there are, and says more may exist", async () => {
    const all = Array.from({ length: 5000 }, (_, i) => job(i, i === 4500 ? "alice" : "bob"));
    const ingest = pages(all);
    const r = await findJobsOf(ingest, "alice");
    assert.deepEqual(r, { jobs: [], more: true });
    assert.equal(ingest.calls.length, walkLimits.maxPages);
  });

  it("reads to the last page and says there is no more", async () => {
    const all = Array.from({ length: 450 }, (_, i) => job(i, i % 100 === 0 ? "alice" : "bob"));
    const ingest = pages(all);
    const r = await findJobsOf(ingest, "alice");
    assert.deepEqual([r.jobs.length, r.more, ingest.calls.length], [5, false, 3]);
  });

  it("keeps only what matches, and lists a job once even if it shows on two pages", async () => {
    const all = [job(1, "alice", "completed"), job(2, "alice"), job(3, "alice")];
    const dup: JobPage[] = [{ jobs: [all[0]!, all[1]!], next: "x" }, { jobs: [all[1]!, all[2]!], next: null }];
    let n = 0;
    const r = await findJobsOf({ list: async () => dup[n++]! }, "alice", { match: (j) => j.status !== "completed" });
    assert.deepEqual(r.jobs.map((j) => j.id), [hex(2), hex(3)]);
  });

  it("stops at the first match when one is enough", async () => {
    const ingest = pages(Array.from({ length: 1000 }, (_, i) => job(i, "alice")));
    const r = await findJobsOf(ingest, "alice", { match: (j) => j.id === hex(7), enough: 1 });
    assert.deepEqual([r.jobs.map((j) => j.id), ingest.calls.length], [[hex(7)], 1]);
  });
});
