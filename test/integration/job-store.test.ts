// The job store against moto: what a request costs does not grow with the number of jobs (counted
// through a proxy), paging walks every job once, bad cursors are coded 400s, and many writers at once
// (two Lambda app instances of each function and a local ingest process) lose nothing.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { JobTable } from "../../lib/aws/job-table.ts";
import { AppError } from "../../lib/errors.ts";
import type { JobStore } from "../../lib/job-store.ts";
import { withRequester } from "../../lib/job.ts";
import { JobDb } from "../../lib/sqlite/job-db.ts";
import { JobRegistry } from "../../ingest/registry.ts";
import { repoRoot } from "../../scripts/local/paths.ts";
import { startProc } from "../../scripts/local/proc.ts";
import type { Fact } from "../../lib/messages.ts";
import type { Job } from "../../lib/job.ts";
import { manifestKey } from "../../lib/layout.ts";
import { jobRecord, loadRecords, randomId } from "../support/job-tables.ts";
import { httpEvent, startStoreWorld, worldToken, type StoreWorld } from "../support/store-world.ts";

let w: StoreWorld;
before(async () => { w = await startStoreWorld(); });
after(async () => { await w?.stop(); });

const factEvent = (...bodies: unknown[]) => ({ Records: bodies.map((b, i) => ({ messageId: `m${i}-${randomId()}`, body: JSON.stringify(b) })) });
const manifestEvent = (id: string) => ({ Records: [{ s3: { bucket: { name: "b" }, object: { key: manifestKey(id) } } }] });
const progress = (id: string, at: string, p: number): Fact =>
  ({ v: 1, type: "progress", id, at, status: "downloading", name: "n", progress: p, size: 1000, downloaded: p * 1000, rate: 10, eta: 5 });

/** A table holding `n` jobs created over the past days, newest last. */
async function filledTable(name: string, n: number): Promise<string[]> {
  await w.newTable(name);
  const start = Date.now() - 10 * 24 * 3600 * 1000;
  // Every fourth job shares its createdAt with the one before: ties are broken by id.
  const recs = Array.from({ length: n }, (_, i) => jobRecord(new Date(start + Math.floor(i / 2) * 2 * 60_000 + (i % 4 === 1 ? 0 : i)).toISOString()));
  await loadRecords(w.direct.dynamodb, name, recs);
  return recs.map((r) => r.job.id);
}

// The same contract for both adapters: DynamoDB (AWS mode, here on moto) and SQLite (local mode).
const adapters: [string, (name: string) => Promise<JobStore>][] = [
  ["DynamoDB", async (name) => new JobTable({ client: w.direct.dynamodb, table: await w.newTable(name), retentionDays: 7 })],
  ["SQLite", async (name) => new JobDb({ path: join(w.dir, `${name}.db`), retentionDays: 7 })],
];
const t = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000).toISOString();
const isBadRequest = (err: unknown) => err instanceof AppError && err.code === "invalid_request";

for (const [adapter, make] of adapters) {
  describe(`job store contract: ${adapter}`, () => {
    it("writes only on the version it read", async () => {
      const store = await make("contract-versions");
      const rec = jobRecord(t(0));
      assert.equal(await store.get(rec.job.id), null);
      assert.equal(await store.put(rec, null), 1);
      assert.equal(await store.put(rec, null), null, "a second create loses");
      const changed = { ...rec, job: { ...rec.job, name: "renamed", updatedAt: t(1) } };
      assert.equal(await store.put(changed, 7), null, "a stale version loses");
      assert.equal(await store.put(changed, 1), 2);
      assert.equal(await store.put(changed, 1), null, "the same version twice: the second loses");
      assert.deepEqual(await store.get(rec.job.id), { rec: changed, version: 2 });
    });

    it("adds up each month's usage apart, atomically, and keeps it out of the job listings", async () => {
      const store = await make("contract-usage");
      const u = { seedboxSeconds: 10, byteDays: 1e9, puts: 3, gets: 1, servedBytes: 5e8 };
      assert.deepEqual(await store.monthUsage("2026-12"), { seedboxSeconds: 0, byteDays: 0, puts: 0, gets: 0, servedBytes: 0 });
      // Many writers at once lose nothing; a refund (negative) subtracts.
      await Promise.all(Array.from({ length: 10 }, () => store.addUsage("2026-12", u)));
      await store.addUsage("2026-12", { ...u, byteDays: -2e9, seedboxSeconds: 0, puts: 0, gets: 0, servedBytes: 0 });
      await store.addUsage("2027-01", u);
      assert.deepEqual(await store.monthUsage("2026-12"), { seedboxSeconds: 100, byteDays: 8e9, puts: 30, gets: 10, servedBytes: 5e9 });
      assert.deepEqual(await store.monthUsage("2027-01"), u);
      const rec = jobRecord(t(0));
      await store.put(rec, null);
      assert.deepEqual((await store.list({ limit: 10, cursor: null })).records.map((r) => r.job.id), [rec.job.id]);
      assert.deepEqual((await store.overdue({ upTo: "9999", after: null, limit: 10 })).map((v) => v.rec.job.id), [rec.job.id]);
    });

    it("pages newest first, ties broken by id, each job once", async () => {
      const store = await make("contract-pages");
      const recs = Array.from({ length: 25 }, (_, i) => jobRecord(t(Math.floor(i / 3))));
      for (const r of recs) await store.put(r, null);
      const want = recs.map((r) => r.job).sort((a, b) => (b.createdAt + b.id).localeCompare(a.createdAt + a.id)).map((j) => j.id);
      const got: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await store.list({ limit: 7, cursor });
        got.push(...page.records.map((r) => r.job.id));
        cursor = page.next;
      } while (cursor);
      assert.deepEqual(got, want);
      assert.equal((await store.list({ limit: 25, cursor: null })).next, null, "no next page after the last job");
      await assert.rejects(store.list({ limit: 5, cursor: "garbage" }), isBadRequest);
      await assert.rejects(store.changes({ since: "garbage", limit: 5 }), isBadRequest);
    });

    it("feeds each change once, from now on", async () => {
      const store = await make("contract-feed");
      const old = jobRecord(new Date(Date.now() - 60_000).toISOString());
      await store.put(old, null);
      const start = await store.changes({ since: null, limit: 10 });
      assert.deepEqual(start.records, []);
      const recs = [1, 2, 3].map(() => jobRecord(new Date().toISOString()));
      for (const r of recs) await store.put(r, null);
      // The index may show a write a moment late (DynamoDB's GSIs are eventually consistent).
      let seen: string[] = [];
      let cursor = start.cursor;
      for (let i = 0; i < 20 && seen.length < 3; i++) {
        const c = await store.changes({ since: cursor, limit: 10 });
        seen.push(...c.records.map((r) => r.job.id));
        cursor = c.cursor;
        if (seen.length < 3) await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(seen.sort(), recs.map((r) => r.job.id).sort());
      assert.deepEqual((await store.changes({ since: cursor, limit: 10 })).records, [], "nothing twice");
      const again = { ...recs[0]!, job: { ...recs[0]!.job, progress: 0.5, updatedAt: new Date().toISOString() } };
      await store.put(again, 1);
      seen = [];
      for (let i = 0; i < 20 && seen.length === 0; i++) {
        seen = (await store.changes({ since: cursor, limit: 10 })).records.map((r) => r.job.id);
        if (seen.length === 0) await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(seen, [recs[0]!.job.id]);
    });

    it("finds open jobs by due time, earliest first and paged; ended jobs leave that index", async () => {
      const store = await make("contract-due");
      const recs = [0, 1, 2, 3, 4].map((i) => ({ ...jobRecord(t(i)), due: t(100 + (i % 3)) }));
      for (const r of recs) await store.put(r, null);
      // One ends: it is never due again.
      const ended = { ...recs[4]!, job: { ...recs[4]!.job, status: "failed" as const, updatedAt: t(9) } };
      assert.equal(await store.put(ended, 1), 2);
      assert.deepEqual(await store.overdue({ upTo: t(99), after: null, limit: 10 }), []);
      const key = (r: { due?: string; job: { id: string } }) => `${r.due}#${r.job.id}`;
      const want = recs.slice(0, 4).map(key).sort();
      const seen: string[] = [];
      let after = null as { due: string; id: string } | null;
      for (;;) {
        const page = await store.overdue({ upTo: t(102), after, limit: 2 });
        if (page.length === 0) break;
        seen.push(...page.map((v) => key(v.rec)));
        const last = page.at(-1)!.rec;
        after = { due: last.due!, id: last.job.id };
      }
      assert.deepEqual(seen, want);
      assert.deepEqual((await store.overdue({ upTo: t(100), after: null, limit: 10 })).map((v) => key(v.rec)), want.filter((k) => k.startsWith(t(100))));
    });

    it("20 writers adding requesters to one job at once lose none", async () => {
      const store = await make("contract-race");
      const rec = jobRecord(t(0));
      await store.put(rec, null);
      // Each writer is its own registry: no in-process lock helps them.
      const writers = Array.from({ length: 20 }, () => new JobRegistry(store, { maxAttempts: 200 }));
      await Promise.all(writers.flatMap((reg, i) => [0, 1, 2].map((k) =>
        reg.update(rec.job.id, (r) => r && { ...r, job: withRequester(r.job, { via: "discord", user: `${i}-${k}` }) }))));
      assert.equal((await store.get(rec.job.id))!.rec.job.requesters.length, 1 + 60);
    });
  });
}

describe("job store contract: SQLite across processes", () => {
  it("3 processes adding requesters to one job at once lose none", async () => {
    const dir = await mkdtemp(join(tmpdir(), "t2s-db-"));
    try {
      const path = join(dir, "jobs.db");
      const db = new JobDb({ path, retentionDays: 7 });
      const rec = jobRecord(t(0));
      await db.put(rec, null);
      const procs = ["a", "b", "c"].map((who) => startProc(`writer-${who}`, process.execPath, [join(repoRoot, "test", "support", "db-writer.ts"), path, rec.job.id, who, "40"], { logFile: join(dir, `${who}.log`) }));
      assert.deepEqual(await Promise.all(procs.map((p) => p.exited)), [0, 0, 0]);
      assert.equal((await db.get(rec.job.id))!.rec.job.requesters.length, 1 + 120);
      db.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("job store cost", () => {
  const counts: Record<number, Record<string, number>> = {};
  for (const n of [10, 10_000]) {
    it(`counts AWS calls per request at ${n} jobs`, async () => {
      const ids = await filledTable(`cost-${n}`, n);
      const { app, close } = await w.lambda(`cost-${n}`);
      const measure = async (what: string, call: () => Promise<unknown>) => {
        w.proxy.reset();
        await call();
        return [what, w.proxy.total()] as const;
      };
      try {
        const list = await measure("list", async () => {
          const r = await app.http(httpEvent("GET", "/api/jobs"));
          assert.equal(r.statusCode, 200);
          assert.equal(JSON.parse(r.body).jobs.length, Math.min(50, n));
        });
        const get = await measure("get", async () => assert.equal((await app.http(httpEvent("GET", `/api/jobs/${ids[3]}`))).statusCode, 200));
        const fact = await measure("fact", async () => {
          const r = await app.sqs(factEvent(progress(ids[0]!, new Date().toISOString(), 0.5)));
          assert.deepEqual(r.batchItemFailures, []);
        });
        const post = await measure("post", async () => {
          const r = await app.http(httpEvent("POST", "/api/jobs", { magnet: `magnet:?xt=urn:btih:${randomId()}&dn=new` }));
          assert.equal(r.statusCode, 202);
        });
        const since = JSON.parse((await app.http(httpEvent("GET", "/api/changes"))).body).cursor as string;
        const changes = await measure("changes", async () => {
          const r = await app.http(httpEvent("GET", `/api/changes?since=${since}`));
          assert.equal(r.statusCode, 200);
          // The fact and the submission above are the changes of the last moment.
          assert.ok(JSON.parse(r.body).jobs.length >= 2);
        });
        // The month's cost: the store's monthly totals, one read (the submission above also read them: the budget guard).
        const month = await measure("costs", async () => {
          const r = await app.http(httpEvent("GET", "/api/costs"));
          assert.equal(r.statusCode, 200);
          assert.equal(JSON.parse(r.body).budget.usd, 1000);
        });
        counts[n] = Object.fromEntries([list, get, fact, post, changes, month]);
        console.log(JSON.stringify({ jobs: n, aws_calls: counts[n] }));
      } finally {
        close();
      }
    });
  }

  it("costs the same at 10 and at 10,000 jobs, a list at most 3 calls, a fact that changes the status 5, a month's cost 1", () => {
    assert.deepEqual(counts[10_000], counts[10]);
    // The fact moves a queued job to downloading: read, write, the update's publish, and the outbox's
    // clearing read and write (the update is owed in the record until it went out).
    assert.ok(counts[10]!.list! <= 3 && counts[10]!.fact! <= 5, JSON.stringify(counts[10]));
    assert.equal(counts[10]!.costs, 1);
  });
});

describe("paging", () => {
  it("walks 10,000 jobs page by page, each once, newest first, while new jobs are added", async () => {
    const ids = new Set(await filledTable("paging", 10_000));
    const { app, close } = await w.lambda("paging");
    const seen: Job[] = [];
    const added: string[] = [];
    try {
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q: string = cursor ? `?limit=200&cursor=${encodeURIComponent(cursor)}` : "?limit=200";
        // A new job arrives between every two pages.
        const [r] = await Promise.all([
          app.http(httpEvent("GET", `/api/jobs${q}`)),
          app.http(httpEvent("POST", "/api/jobs", { magnet: `magnet:?xt=urn:btih:${randomId()}&dn=during` })).then((p) => added.push(JSON.parse(p.body).job.id)),
        ]);
        assert.equal(r.statusCode, 200, r.body);
        const body = JSON.parse(r.body) as { jobs: Job[]; next: string | null };
        assert.ok(body.jobs.length <= 200);
        seen.push(...body.jobs);
        cursor = body.next;
        pages++;
      } while (cursor && pages < 200);
    } finally {
      close();
    }
    const old = seen.filter((j) => ids.has(j.id));
    assert.equal(old.length, ids.size, "every job once");
    assert.equal(new Set(old.map((j) => j.id)).size, ids.size, "no job twice");
    for (let i = 1; i < seen.length; i++) {
      const [a, b] = [seen[i - 1]!, seen[i]!];
      assert.ok(a.createdAt > b.createdAt || (a.createdAt === b.createdAt && a.id > b.id), `page order broken at ${i}`);
    }
    // New jobs are newer than any cursor: they never show up in the middle of a walk.
    assert.ok(seen.slice(200).every((j) => !added.includes(j.id)));
  });

  it("answers bad limits and cursors with invalid_request", async () => {
    await w.newTable("bad-input");
    const { app, close } = await w.lambda("bad-input");
    try {
      const bad = ["limit=0", "limit=201", "limit=-1", "limit=abc", "limit=1.5", "limit=", "cursor=", "cursor=abc", "cursor=%00", "cursor=a&cursor=b",
        `cursor=${"A".repeat(9000)}`, `cursor=${Buffer.from('{"c":"2026-01-01T00:00:00.000Z","i":"../x"}').toString("base64url")}`];
      for (const q of bad) {
        const r = await app.http(httpEvent("GET", `/api/jobs?${q}`));
        assert.equal(r.statusCode, 400, q);
        assert.equal(JSON.parse(r.body).error.code, "invalid_request", q);
      }
      for (const q of ["since=abc", "since=", `since=${Buffer.from("{}").toString("base64url")}`, "limit=999"]) {
        const r = await app.http(httpEvent("GET", `/api/changes?${q}`));
        assert.equal(r.statusCode, 400, q);
        assert.equal(JSON.parse(r.body).error.code, "invalid_request", q);
      }
      // A cursor from the list is not a changes cursor.
      await loadRecords(w.direct.dynamodb, "bad-input", Array.from({ length: 3 }, () => jobRecord(new Date().toISOString())));
      const next = JSON.parse((await app.http(httpEvent("GET", "/api/jobs?limit=1"))).body).next;
      assert.equal((await app.http(httpEvent("GET", `/api/changes?since=${next}`))).statusCode, 400);
    } finally {
      close();
    }
  });
});

describe("a job too large for its record", () => {
  it("fails with too_many_files instead of looping, and its message is handled", async () => {
    await w.newTable("too-large");
    const { app, close } = await w.lambda("too-large");
    try {
      const id = randomId();
      assert.equal((await app.http(httpEvent("POST", "/api/jobs", { magnet: `magnet:?xt=urn:btih:${id}&dn=many` }))).statusCode, 202);
      // 60,000 files with random names: their list does not fit in DynamoDB's 400 KB, even gzipped.
      const files = Array.from({ length: 60_000 }, (_, i) => {
        const path = `many/${randomId().slice(0, 24)}/${i}.bin`;
        return { path, key: `files/${id}/data/${path}`, size: 1 };
      });
      await w.direct.s3.send(new PutObjectCommand({ Bucket: w.aws.bucket, Key: manifestKey(id), ContentType: "application/json", Body: JSON.stringify({ id, name: "many", files }) }));
      const r = await app.sqs(factEvent(manifestEvent(id)));
      assert.deepEqual(r.batchItemFailures, [], "the message is not retried");
      const job = JSON.parse((await app.http(httpEvent("GET", `/api/jobs/${id}`))).body).job as Job;
      assert.equal(job.status, "failed");
      assert.equal(job.error?.code, "too_many_files");
      assert.match(job.error!.message, /60000 files/);
    } finally {
      close();
    }
  });
});

describe("concurrent writers", () => {
  let ingestUrl: string;
  before(async () => {
    await w.newTable("writers");
    ({ url: ingestUrl } = await w.ingest({ table: "writers" }));
  });

  it("200 mixed changes at 20 jobs from 5 writers at once: nothing is lost", async () => {
    const apis = [await w.lambda("writers"), await w.lambda("writers")];
    const factsFns = [await w.lambda("writers"), await w.lambda("writers")];
    const post = async (body: unknown, via: number) => {
      if (via < 2) return JSON.parse((await apis[via]!.app.http(httpEvent("POST", "/api/jobs", body))).body);
      const res = await fetch(`${ingestUrl}/api/jobs`, { method: "POST", headers: { authorization: `Bearer ${worldToken}`, "content-type": "application/json" }, body: JSON.stringify(body) });
      return res.json();
    };
    const cancel = async (id: string, via: number) => {
      if (via < 2) return apis[via]!.app.http(httpEvent("DELETE", `/api/jobs/${id}`));
      return fetch(`${ingestUrl}/api/jobs/${id}`, { method: "DELETE", headers: { authorization: `Bearer ${worldToken}` } });
    };
    const fact = async (body: unknown, via: number) => {
      if (via < 2) {
        const r = await factsFns[via]!.app.sqs(factEvent(body));
        assert.deepEqual(r.batchItemFailures, []);
        return;
      }
      await w.direct.sqs.send(new SendMessageCommand({ QueueUrl: w.aws.factsQueueUrl, MessageBody: JSON.stringify(body) }));
    };
    const requester = (k: number) => ({ via: "discord" as const, user: String(1000 + k) });
    const t0 = Date.parse("2026-06-01T00:00:00.000Z");
    const ids = Array.from({ length: 20 }, randomId);
    for (const [i, id] of ids.entries()) assert.ok((await post({ magnet: `magnet:?xt=urn:btih:${id}&dn=j${i}` }, i % 3)).job);

    // A submission after a cancel starts the job over, by design: so the ends (cancels, failures) race
    // with facts in a second wave, once every requester is in. Everything else races in the first.
    const changes: (() => Promise<unknown>)[] = [];
    const ends: (() => Promise<unknown>)[] = [];
    const expect = new Map<string, { status: string; progress?: number; requesters: string[] }>();
    for (const [i, id] of ids.entries()) {
      const users = [1, 2, 3, 4].map((k) => requester(i * 10 + k));
      for (const [k, r] of users.entries()) changes.push(() => post({ magnet: `magnet:?xt=urn:btih:${id}`, requester: r }, (i + k) % 3));
      const facts = [1, 2, 3, 4, 5].map((k) => progress(id, new Date(t0 + k * 1000).toISOString(), k / 10));
      for (const [k, f] of facts.entries()) (i >= 7 && i < 17 && k >= 2 ? ends : changes).push(() => fact(f, (i + k) % 3));
      if (i < 7) {
        await w.direct.s3.send(new PutObjectCommand({
          Bucket: w.aws.bucket, Key: manifestKey(id), ContentType: "application/json",
          Body: JSON.stringify({ id, name: `j${i}`, files: [{ path: "a.bin", key: `files/${id}/data/a.bin`, size: 1000 }] }),
        }));
        changes.push(() => fact(manifestEvent(id), i % 3));
        expect.set(id, { status: "completed", requesters: users.map((u) => u.user) });
      } else if (i < 14) {
        ends.push(() => cancel(id, i % 3));
        expect.set(id, { status: "cancelled", requesters: users.map((u) => u.user) });
      } else if (i < 17) {
        ends.push(() => fact({ v: 1, type: "failed", id, at: new Date(t0 + 60_000).toISOString(), error: { code: "no_peers", message: "none" } }, i % 3));
        expect.set(id, { status: "failed", requesters: users.map((u) => u.user) });
      } else {
        // A requester who already asked, again: it changes nothing, and must not lose anything either.
        changes.push(() => post({ magnet: `magnet:?xt=urn:btih:${id}`, requester: users[0] }, i % 3));
        expect.set(id, { status: "downloading", progress: 0.5, requesters: users.map((u) => u.user) });
      }
    }
    assert.equal(changes.length + ends.length, 200);
    // Each wave all at once, in a shuffled order (facts out of order too).
    const shuffled = (a: (() => Promise<unknown>)[]) => a.map((c) => [Math.random(), c] as const).sort((x, y) => x[0] - y[0]).map(([, c]) => c);
    await Promise.all(shuffled(changes).map((c) => c()));
    // The local ingest takes its facts from a queue: let it catch up before the second wave.
    await new Promise((r) => setTimeout(r, 3000));
    await Promise.all(shuffled(ends).map((c) => c()));

    const table = new JobTable({ client: w.direct.dynamodb, table: "writers", retentionDays: 7 });
    let lost = 0;
    const problems: string[] = [];
    // The local ingest applies queued facts a moment later: wait until the states settle, then count.
    const deadline = Date.now() + 30_000;
    for (;;) {
      lost = 0;
      problems.length = 0;
      for (const id of ids) {
        const job = (await table.get(id))!.rec.job;
        const e = expect.get(id)!;
        const users = job.requesters.map((r) => r.user);
        for (const u of e.requesters) if (!users.includes(u)) { lost++; problems.push(`${id.slice(0, 6)} lost requester ${u}`); }
        if (job.status !== e.status) { lost++; problems.push(`${id.slice(0, 6)} is ${job.status}, not ${e.status}`); }
        if (e.progress !== undefined && job.progress !== e.progress) { lost++; problems.push(`${id.slice(0, 6)} at ${job.progress}, not ${e.progress}`); }
      }
      if (lost === 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    console.log(JSON.stringify({ changes: changes.length + ends.length, writers: 5, lost_updates: lost }));
    for (const a of [...apis, ...factsFns]) a.close();
    assert.equal(lost, 0, problems.join("\n"));
  });
});
