// The cost arithmetic against hand-worked cases, the month's totals the one update path keeps, and the
// budget guard's decision.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  budgetDecision, budgetFromEnv, costOf, defaultPrices, monthCost, pricesFromEnv, served, usageOf, type Pricing, type Usage,
} from "../../lib/cost.ts";
import { complete, deleteFiles, fail, holdForBudget, releaseHold, submitJob, takeLease, type JobRecord } from "../../lib/job-record.ts";
import { updateRecord } from "../../lib/job-update.ts";
import { MemoryStore } from "../support/memory-store.ts";

const GiB = 1024 ** 3;
const id = "c".repeat(40);
const h = (hours: number) => new Date(Date.UTC(2026, 11, 1) + hours * 3_600_000).toISOString();
const timing = { timeoutMs: 60_000, renewMs: 10_000, requestTimeoutMs: 900_000 };
const s3: Pricing = { prices: defaultPrices, perBox: 4, servedBy: "s3" };
const cf: Pricing = { ...s3, servedBy: "cloudfront" };

// One job, worked by hand: a seedbox holds it 2 h (a quarter of a box), one 10 GiB file kept 7 days,
// fetched three times.
const usage: Usage = { seedboxSeconds: 7200, byteDays: 10 * GiB * 7, puts: 1282, gets: 3, servedBytes: 30 * GiB };

describe("a job's cost", () => {
  it("prices each part at list rates", () => {
    assert.deepEqual(costOf(usage, s3), {
      usd: 2.773843,
      parts: {
        seedbox: 0.0145, // 2 h × $0.029 ÷ 4 torrents a box
        storage: 0.052932, // 70 GiB-days × $0.023 × 12 / 365
        requests: 0.006411, // 1282 PUTs × $0.005/1000 + 3 GETs × $0.0004/1000
        served: 2.7, // 30 GiB × $0.09
      },
    });
    // Through CloudFront only the transfer's price changes: 30 GiB × $0.085.
    assert.equal(costOf(usage, cf).parts.served, 2.55);
  });

  it("a month takes the free transfer off once: 100 GB through S3, 1 TB through CloudFront", () => {
    assert.equal(monthCost(usage, s3).parts.served, 0);
    assert.equal(monthCost({ ...usage, servedBytes: 150 * GiB }, s3).parts.served, 4.5); // 50 GiB × $0.09
    assert.equal(monthCost({ ...usage, servedBytes: 500 * GiB }, cf).parts.served, 0);
    assert.equal(monthCost({ ...usage, servedBytes: 1124 * GiB }, cf).parts.served, 8.5); // 100 GiB × $0.085
  });

  it("derives the usage from the record: ended runs, stored files, parts, redirects", () => {
    const rec: JobRecord = {
      job: { ...submitJob(null, { id, name: "x", size: null, source: { kind: "magnet", uri: "m" }, requester: { via: "api", user: "u" }, callback: null }, h(0)).rec!.job, status: "completed", expiresAt: h(2 + 7 * 24) },
      lastFactAt: null,
      files: [{ path: "a", key: "a", size: 10 * GiB }],
      usage: { seedboxSeconds: 7200, endedAt: h(2), redirects: 3, servedBytes: 30 * GiB },
    };
    assert.deepEqual(usageOf(rec), usage);
    // A running job counts its seedbox's time so far only when shown.
    const running: JobRecord = { ...rec, job: { ...rec.job, status: "downloading" }, files: [], usage: { startedAt: h(0) } };
    assert.equal(usageOf(running).seedboxSeconds, 0);
    assert.equal(usageOf(running, Date.parse(h(1))).seedboxSeconds, 3600);
  });
});

describe("the month's totals", () => {
  it("follow each write: a run's time at its end, storage at completion, refunds, downloads, earlier runs", async () => {
    const store = new MemoryStore();
    const at = (hours: number) => ({ nowMs: () => Date.parse(h(hours)) });
    await updateRecord(store, id, (r) => submitJob(r, { id, name: "x", size: null, source: { kind: "magnet", uri: "m" }, requester: { via: "api", user: "u" }, callback: null }, h(0)).rec, at(0));
    await updateRecord(store, id, (r) => { const t = takeLease(r!, "box", Date.parse(h(0)), timing); return t.ok ? t.rec : null; }, at(0));
    assert.deepEqual(await store.monthUsage("2026-12"), { seedboxSeconds: 0, byteDays: 0, puts: 0, gets: 0, servedBytes: 0 }, "nothing until the run ends");
    // Completed 2 h later; files expire 7 days after it was queued: kept 7 days less 2 h.
    const m = { id, name: "x", files: [{ path: "a", key: `files/${id}/data/a`, size: 10 * GiB }] };
    await updateRecord(store, id, (r) => complete(r, m, h(2), 7), at(2));
    const month = await store.monthUsage("2026-12");
    assert.equal(month.seedboxSeconds, 7200);
    assert.equal(month.byteDays, 10 * GiB * (7 - 2 / 24));
    assert.equal(month.puts, 1282);
    await updateRecord(store, id, (r) => served(r!, 10 * GiB), at(3));
    assert.equal((await store.monthUsage("2026-12")).servedBytes, 10 * GiB);
    // Deleted after a day: only that day's storage stays counted.
    await updateRecord(store, id, (r) => deleteFiles(r!, h(26)), at(26));
    assert.equal((await store.monthUsage("2026-12")).byteDays, 10 * GiB * 1);
    // Counted in the month of the write.
    await updateRecord(store, id, (r) => served(r!, GiB), { nowMs: () => Date.UTC(2027, 0, 1) });
    assert.equal((await store.monthUsage("2027-01")).servedBytes, GiB);
  });

  it("keeps an earlier run's cost when a failed job is handed in again", async () => {
    const store = new MemoryStore();
    const opts = { nowMs: () => Date.parse(h(0)) };
    const subm = { id, name: "x", size: null, source: { kind: "magnet" as const, uri: "m" }, requester: { via: "api" as const, user: "u" }, callback: null };
    await updateRecord(store, id, (r) => submitJob(r, subm, h(0)).rec, opts);
    await updateRecord(store, id, (r) => { const t = takeLease(r!, "box", Date.parse(h(0)), timing); return t.ok ? t.rec : null; }, opts);
    await updateRecord(store, id, (r) => fail(r!, { code: "stalled", message: "m" }, h(1)), opts);
    await updateRecord(store, id, (r) => submitJob(r, subm, h(2)).rec, opts);
    const rec = (await store.get(id))!.rec;
    assert.equal(rec.job.status, "queued");
    assert.equal(usageOf(rec).seedboxSeconds, 3600);
    assert.equal((await store.monthUsage("2026-12")).seedboxSeconds, 3600, "the new run takes nothing back");
  });
});

describe("the budget guard", () => {
  it("holds new jobs once the month's estimate reaches the budget; no budget, no guard", () => {
    assert.equal(budgetDecision(1000, null), "open");
    assert.equal(budgetDecision(0.99, 1), "open");
    assert.equal(budgetDecision(1, 1), "budget");
    assert.equal(budgetDecision(1.2, 1), "budget");
    // A new month starts from zero.
    assert.equal(budgetDecision(0, 1), "open");
  });

  it("a held job waits queued with the reason budget, and a release sends it on without it", () => {
    const rec = submitJob(null, { id, name: "x", size: null, source: { kind: "magnet", uri: "m" }, requester: { via: "api", user: "u" }, callback: null }, h(0)).rec!;
    const held = holdForBudget(rec, Date.parse(h(0)), 60_000);
    assert.equal(held.job.status, "queued");
    assert.equal(held.job.reason, "budget");
    assert.equal(held.due, new Date(Date.parse(h(0)) + 60_000).toISOString());
    const again = holdForBudget(held, Date.parse(h(1)), 60_000);
    assert.equal(again.job, held.job, "held again: only the due time moves, nothing shown changes");
    const released = releaseHold(held, Date.parse(h(1)), timing)!;
    assert.equal(released.job.reason, undefined);
    assert.equal(released.due, new Date(Date.parse(h(1)) + timing.requestTimeoutMs).toISOString());
    assert.equal(releaseHold(released, Date.parse(h(1)), timing), null);
  });

  it("reads the budget and price overrides from the environment", () => {
    assert.equal(budgetFromEnv({}), null);
    assert.equal(budgetFromEnv({ T2S_MONTHLY_BUDGET_USD: "" }), null);
    assert.equal(budgetFromEnv({ T2S_MONTHLY_BUDGET_USD: "12.5" }), 12.5);
    assert.throws(() => budgetFromEnv({ T2S_MONTHLY_BUDGET_USD: "lots" }), /T2S_MONTHLY_BUDGET_USD/);
    const p = pricesFromEnv({ T2S_PRICES: '{"seedboxHourUsd": 0.05, "servedGbUsd": {"s3": 0.05}}' });
    assert.equal(p.seedboxHourUsd, 0.05);
    assert.deepEqual(p.servedGbUsd, { s3: 0.05, cloudfront: 0.085 });
    assert.equal(p.date, defaultPrices.date);
    assert.throws(() => pricesFromEnv({ T2S_PRICES: "[1]" }), /T2S_PRICES/);
  });
});
