// Notices through the record's outbox on the real stack: ingest's publishes of job updates are refused
// (a proxy in front of moto answers them 500) while a job runs and completes, then allowed again. The
// real bot, against the Discord stand-in, still shows the job once and pings once; the webhook arrives once.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { Job } from "../../lib/job.ts";
import { sleep } from "../../lib/time.ts";
import { displayName } from "../../bot/status.ts";
import { startCountingProxy, type CountingProxy } from "../support/counting-proxy.ts";
import { startDiscordStandIn, type DiscordStandIn } from "../support/discord-standin.ts";
import { testStack } from "../support/shared.ts";
import type { TestStack } from "../support/stack.ts";

let s: TestStack;
let sd: DiscordStandIn;
let proxy: CountingProxy;
let refusing = false;
let refused = 0;
const alice = "200000000000000001";

describe("notices through the outbox", () => {
  before(async () => {
    [s, sd] = await Promise.all([testStack(), startDiscordStandIn()]);
    // Only ingest's Publish calls to the updates topic; its requests and everything else pass.
    const updatesTopic = encodeURIComponent(s.outputs.updates_topic_arn);
    proxy = await startCountingProxy(s.moto.endpoint, {
      refuse: (op, body) => refusing && op === "SNS.Publish" && body.includes(`TopicArn=${updatesTopic}`) && ++refused > 0,
    });
    await s.ingest.stop();
    await s.startIngestWith({ AWS_ENDPOINT_URL: proxy.url });
    await s.startBot({
      DISCORD_TOKEN: sd.token, DISCORD_APP_ID: sd.appId, DISCORD_GUILD_ID: sd.guildId, DISCORD_API_URL: sd.api,
      DISCORD_ALLOWED_USERS: alice, T2S_API_URL: s.url, T2S_PUBLIC_URL: s.url, T2S_SQS_WAIT_S: "2",
    });
    await sd.waitForSession(1);
  });

  after(async () => {
    await s?.bot?.stop();
    // The next file gets ingest as the stack started it (before the shared stack stops).
    await s?.ingest.stop();
    await s?.startIngest();
    await proxy?.close();
    await sd?.close();
  });

  it("a completed update refused by SNS for a while still reaches the bot: one status message, one ping, one webhook", async () => {
    const name = `outbox-${randomBytes(3).toString("hex")}.bin`;
    const hook = `/hook/outbox-${randomBytes(3).toString("hex")}`;
    const made = await s.seed({ name, single: { path: [], size: 200_000 } });
    refusing = true;
    const r = await s.call("POST", "/api/jobs", {
      magnet: s.magnet(made), callback_url: `${s.files.base}${hook}`, requester: { via: "discord", user: alice, channelId: sd.channelId },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const job = await s.waitForJob(made.infoHash, (j: Job) => j.status === "completed", 90_000);
    // Refused from the submission until well after the completion: without the outbox nothing is sent again.
    await sleep(12_000);
    const refusedCalls = refused;
    refusing = false;
    assert.ok(refusedCalls > 0, "the completion's publish was refused");

    const mine = () => [...sd.messages.values()].filter((m) => m.content.includes(displayName(made.name)));
    const ping = await sd.waitFor(() => mine().find((m) => m.mentions.includes(alice)), 90_000, `ping for ${made.name}`);
    assert.match(ping.content, /is ready/);
    const failedHandOns = s.logs.filter((l) => l.service === "ingest" && l.job === job.id && l.msg === "could not hand on the job's notices; the sweeper tries again");
    assert.ok(failedHandOns.length > 0, "ingest saw its publish fail");
    // Long enough for the sweeper (every second here) to have sent anything it still held, again.
    await sleep(5_000);
    const statuses = mine().filter((m) => m.mentions.length === 0);
    assert.equal(statuses.length, 1, `one status message: ${JSON.stringify(mine())}`);
    assert.match(statuses[0]!.content, /Done/);
    assert.equal(mine().filter((m) => m.mentions.includes(alice)).length, 1, "one ping");
    const hooks = s.files.hooks.filter((h) => h.path === hook && h.answered === "200");
    assert.deepEqual(hooks.map((h) => JSON.parse(h.body).event), ["completed"], "one webhook delivery");
    const rec = (await s.call("GET", `/api/jobs/${job.id}`)).body.job as Job;
    assert.equal(rec.requesters.find((q) => q.user === alice)?.pinged, true, "the ping is kept with the job");
    console.log(`# refused update publishes: ${refusedCalls}; failed hand-ons logged: ${failedHandOns.length}`);
  });
});
