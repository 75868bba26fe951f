// The monthly budget guard on the real local stack: a budget just above the month's estimate lets one job
// through; once that job's cost is counted, the next waits queued with the reason "budget" and is never
// requested; raising the budget releases it and it completes.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { before, describe, it } from "node:test";
import type { Job } from "../../lib/job.ts";
import { sleep } from "../../lib/time.ts";
import { testStack } from "../support/shared.ts";
import type { TestStack } from "../support/stack.ts";

let s: TestStack;
before(async () => { s = await testStack(); });

const ended = (j: Job) => ["completed", "failed", "cancelled"].includes(j.status);

describe("monthly budget", () => {
  it("holds the job after the budget is reached, and releases it when the budget is raised", async () => {
    // Other tests in this process may have spent this month already: the budget is what they spent, and a millionth of a dollar.
    const spent = (await s.call("GET", "/api/costs")).body.usd as number;
    await s.ingest.stop();
    // Held jobs are looked at again every second here (every 10 minutes by default).
    await s.startIngestWith({ T2S_MONTHLY_BUDGET_USD: String(spent + 0.000001), T2S_BUDGET_RECHECK_S: "1" });
    try {
      const first = await s.seed({ name: `budget-1-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 300_000 } });
      const r1 = await s.call("POST", "/api/jobs", { magnet: s.magnet(first) });
      assert.equal(r1.status, 202, JSON.stringify(r1.body));
      assert.equal(r1.body.job.reason, undefined);
      const done = await s.waitForJob(first.infoHash, ended);
      assert.equal(done.status, "completed", JSON.stringify(done.error));
      assert.ok(done.cost!.usd > 0 && done.cost!.parts.seedbox > 0 && done.cost!.parts.storage > 0, JSON.stringify(done.cost));
      const month = (await s.call("GET", "/api/costs")).body;
      assert.equal(month.budget.reached, true, JSON.stringify(month));

      const second = await s.seed({ name: `budget-2-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 200_000 } });
      const r2 = await s.call("POST", "/api/jobs", { magnet: s.magnet(second) });
      assert.equal(r2.status, 202, JSON.stringify(r2.body));
      assert.equal(r2.body.job.status, "queued");
      assert.equal(r2.body.job.reason, "budget");
      // Several sweeps (one a second here) later it still waits, and no seedbox was asked for it.
      await sleep(3000);
      const held = (await s.call("GET", `/api/jobs/${second.infoHash}`)).body.job as Job;
      assert.deepEqual([held.status, held.reason, held.seedbox], ["queued", "budget", null]);
      assert.equal(await s.boxClient.status(second.infoHash), null, "the seedbox never saw the held job");

      // The owner raises the budget (a restart with the new setting, as after a terraform apply).
      await s.ingest.stop();
      await s.startIngestWith({ T2S_MONTHLY_BUDGET_USD: "1000", T2S_BUDGET_RECHECK_S: "1" });
      const released = await s.waitForJob(second.infoHash, ended, 90_000);
      assert.equal(released.status, "completed", JSON.stringify(released.error));
      assert.equal(released.reason, undefined);
      await s.checkLinks(released, second);
    } finally {
      await s.ingest.stop();
      await s.startIngest();
    }
  });
});
