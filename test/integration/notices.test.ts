// Notices through the record's outbox on the real stack: ingest's publishes of job updates are refused
// (a proxy in front of moto answers them 500) while a job runs and completes, then allowed again. The
// real bot, against the Discord stand-in, still shows the job once and pings once; the webhook arrives once.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { Job } from "../../lib/job.ts";
import { sleep } from "../../lib/time.ts";
import { displayName } from "../../bot/status.ts";
import { startNoticeRig, type NoticeRig } from "../support/notice-rig.ts";
import { testStack } from "../support/shared.ts";
import type { TestStack } from "../support/stack.ts";

let s: TestStack;
let rig: NoticeRig;

describe("notices through the outbox", () => {
  before(async () => {
    s = await testStack();
    rig = await startNoticeRig(s);
  });
  after(async () => rig?.close());

  it("a completed update refused by SNS for a while still reaches the bot: one status message, one ping, one webhook", async () => {
    const name = `outbox-${randomBytes(3).toString("hex")}.bin`;
    const hook = `/hook/outbox-${randomBytes(3).toString("hex")}`;
    const made = await s.seed({ name, single: { path: [], size: 200_000 } });
    rig.refuse(true);
    const r = await s.call("POST", "/api/jobs", {
      magnet: s.magnet(made), callback_url: `${s.files.base}${hook}`, requester: { via: "discord", user: rig.user, channelId: rig.sd.channelId },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const job = await s.waitForJob(made.infoHash, (j: Job) => j.status === "completed", 90_000);
    // Refused from the submission until well after the completion: without the outbox nothing is sent again.
    await sleep(12_000);
    const refusedCalls = rig.refused();
    rig.refuse(false);
    assert.ok(refusedCalls > 0, "the completion's publish was refused");

    const mine = () => [...rig.sd.messages.values()].filter((m) => m.content.includes(displayName(made.name)));
    const ping = await rig.sd.waitFor(() => mine().find((m) => m.mentions.includes(rig.user)), 90_000, `ping for ${made.name}`);
    assert.match(ping.content, /is ready/);
    const failedHandOns = s.logs.filter((l) => l.service === "ingest" && l.job === job.id && l.msg === "could not hand on the job's notices; the sweeper tries again");
    assert.ok(failedHandOns.length > 0, "ingest saw its publish fail");
    // Long enough for the sweeper (every second here) to have sent anything it still held, again.
    await sleep(5_000);
    const statuses = mine().filter((m) => m.mentions.length === 0);
    assert.equal(statuses.length, 1, `one status message: ${JSON.stringify(mine())}`);
    assert.match(statuses[0]!.content, /Done/);
    assert.equal(mine().filter((m) => m.mentions.includes(rig.user)).length, 1, "one ping");
    const hooks = s.files.hooks.filter((h) => h.path === hook && h.answered === "200");
    assert.deepEqual(hooks.map((h) => JSON.parse(h.body).event), ["completed"], "one webhook delivery");
    const rec = (await s.call("GET", `/api/jobs/${job.id}`)).body.job as Job;
    assert.equal(rec.requesters.find((q) => q.user === rig.user)?.pinged, true, "the ping is kept with the job");
    console.log(`# refused update publishes: ${refusedCalls}; failed hand-ons logged: ${failedHandOns.length}`);
  });
});
