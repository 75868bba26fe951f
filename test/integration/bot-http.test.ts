// The bot over HTTP interactions, end to end: the Discord stand-in POSTs signed interactions to the
// interactions app (bot/lambda.ts, served the function-URL way), whose hand-off runs the worker as SNS
// would, and whose updates consumer is fed the updates-bot queue as the event source mapping would —
// against the real local stack (moto, Deluge, a seeding peer).
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { SNSClient, SubscribeCommand, UnsubscribeCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand, DeleteQueueCommand, GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { consumeQueue } from "../../lib/aws/queue.ts";
import { createLogger } from "../../lib/log.ts";
import { refusal } from "../../bot/access.ts";
import { createBotLambda, type BotLambda } from "../../bot/lambda.ts";
import { displayName } from "../../bot/status.ts";
import type { UrlEvent } from "../../lib/aws/lambda-events.ts";
import { startDiscordStandIn, type DiscordStandIn, type StoredMessage } from "../support/discord-standin.ts";
import { serveLambdaUrl } from "../support/lambda-url.ts";
import { testStack } from "../support/shared.ts";
import { clientOptions, type TestStack } from "../support/stack.ts";
import type { MadeTorrent } from "../support/torrents.ts";

const alice = "300000000000000001";
const mallory = "300000000000000003";
const tag = () => randomBytes(3).toString("hex");

describe("the bot over HTTP interactions (end to end)", { timeout: 300_000 }, () => {
  let s: TestStack;
  let sd: DiscordStandIn;
  let bot: BotLambda;
  let endpoint: { url: string; close(): Promise<void> };
  const stop = new AbortController();
  let consumer: Promise<void> | undefined;
  let sqs: SQSClient;
  let sns: SNSClient;
  let queueUrl: string | undefined;
  let subscription: string | undefined;
  const lines: string[] = [];
  const work: Promise<void>[] = [];

  before(async () => {
    [s, sd] = await Promise.all([testStack(), startDiscordStandIn()]);
    const log = createLogger("bot", { level: "debug", write: (l) => lines.push(l) });
    bot = createBotLambda({
      DISCORD_PUBLIC_KEY: sd.publicKey, DISCORD_ALLOWED_USERS: alice, DISCORD_ALLOWED_ROLES: sd.roleId,
      T2S_API_URL: s.url, T2S_API_TOKEN: s.apiToken, DISCORD_TOKEN: sd.token, DISCORD_API_URL: sd.api, T2S_BOT_EDIT_INTERVAL_MS: "1000",
    }, log, {
      // As SNS invokes the worker: later, in another invocation.
      publish: async (m) => {
        work.push(new Promise<void>((r) => setTimeout(r, 20)).then(() => bot.work({ Records: [{ Sns: { Message: JSON.stringify(m) } }] })));
      },
    });
    endpoint = await serveLambdaUrl({ http: (e: UrlEvent) => bot.interactions(e), sqs: async () => ({ batchItemFailures: [] }), webhooks: async () => ({ batchItemFailures: [] }) });
    // As the event source mapping feeds the updates consumer, from a queue of its own on the updates topic:
    // the gateway bot's test shares this stack and reads the stack's updates-bot queue at the same time.
    sqs = new SQSClient(clientOptions(s).aws);
    sns = new SNSClient(clientOptions(s).aws);
    const queue = await sqs.send(new CreateQueueCommand({ QueueName: `t2s-test-http-bot-${tag()}` }));
    queueUrl = queue.QueueUrl!;
    const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
    subscription = (await sns.send(new SubscribeCommand({
      TopicArn: s.outputs.updates_topic_arn, Protocol: "sqs", Endpoint: arn, Attributes: { RawMessageDelivery: "true" }, ReturnSubscriptionArn: true,
    }))).SubscriptionArn;
    consumer = consumeQueue({
      sqs, queueUrl, waitTimeS: 1, concurrency: 2, signal: stop.signal, log: log.with({ queue: "updates" }),
      handler: async (msg) => {
        const r = await bot.updates({ Records: [{ messageId: msg.messageId, body: msg.body }] });
        if (r.batchItemFailures.length) throw new Error("update failed");
      },
    });
  });

  after(async () => {
    stop.abort();
    await consumer?.catch(() => {});
    await Promise.allSettled(work);
    if (subscription) await sns.send(new UnsubscribeCommand({ SubscriptionArn: subscription })).catch(() => {});
    if (queueUrl) await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => {});
    sns?.destroy();
    sqs?.destroy();
    await endpoint?.close();
    await sd?.close();
  });

  const messages = () => [...sd.messages.values()];
  const pingFor = (user: string, made: MadeTorrent) => messages().find((m) => m.mentions.includes(user) && m.content.includes(displayName(made.name)));

  async function checkMessageLinks(msg: StoredMessage, made: MadeTorrent): Promise<void> {
    const links = [...msg.content.matchAll(/\]\((https?:\/\/[^)\s]+)\)/g)].map((m) => m[1]!);
    assert.equal(links.length, made.files.length, msg.content);
    const got: string[] = [];
    for (const url of links) {
      assert.ok(url.startsWith(`${s.url}/d/${made.infoHash}/`), url);
      const res = await fetch(url);
      assert.equal(res.status, 200, url);
      got.push(createHash("sha256").update(Buffer.from(await res.arrayBuffer())).digest("hex"));
    }
    assert.deepEqual(got.sort(), [...made.sha256.values()].sort());
  }

  it("npm run bot:register registers the commands and sets the Interactions Endpoint URL, which Discord checks with PINGs", async () => {
    const { run } = await import("../../scripts/local/proc.ts");
    const { join } = await import("node:path");
    const { repoRoot } = await import("../../scripts/local/paths.ts");
    const out = await run(process.execPath, [join(repoRoot, "bot", "register.ts")], {
      env: { PATH: process.env.PATH, DISCORD_TOKEN: sd.token, DISCORD_APP_ID: sd.appId, DISCORD_GUILD_ID: sd.guildId, DISCORD_API_URL: sd.api, DISCORD_INTERACTIONS_URL: `${endpoint.url}/` },
      timeoutMs: 30_000,
    });
    assert.ok(!out.includes(sd.token), "the token is not logged");
    assert.equal(sd.interactionsUrl, `${endpoint.url}/`);
    assert.ok(sd.calls.some((c) => c.method === "PUT" && c.path === `/applications/${sd.appId}/guilds/${sd.guildId}/commands` && c.botAuth));
  });

  it("a signed /torrent goes in, and a channel message comes out whose links give the seeded bytes", async () => {
    const made = await s.seed({ name: `http-bot-${tag()}.bin`, single: { path: [], size: 2 * 1024 * 1024 + 3 } });
    const t0 = performance.now();
    const a = sd.interactHttp(`${endpoint.url}/`, { user: alice, command: "torrent", sub: "magnet", options: { uri: s.magnet(made) } });
    const r = await a.response;
    const answeredMs = performance.now() - t0;
    assert.deepEqual(r, { status: 200, body: { type: 5, data: { flags: 64 } } });
    console.log(`# HTTP interaction answered (deferred) in ${answeredMs.toFixed(0)} ms`);
    const answer = await a.answer(60_000);
    assert.match(answer.content, /^Added /);
    assert.ok(answer.ephemeral);
    const ping = await sd.waitFor(() => pingFor(alice, made), 120_000, "the completion ping");
    await checkMessageLinks(ping, made);
    const status = messages().find((m) => m.mentions.length === 0 && m.content.includes(displayName(made.name)))!;
    assert.ok(status, "a status message in the channel");
    assert.equal(status.channel_id, sd.channelId);
    await checkMessageLinks(status, made);
    // Channel messages use the bot token; the reply goes through the interaction's webhook.
    const rest = sd.calls.filter((c) => c.kind === "rest");
    assert.ok(rest.filter((c) => c.path.startsWith("/channels/")).every((c) => c.botAuth));
    assert.ok(rest.some((c) => c.method === "PATCH" && c.path.endsWith("/messages/@original") && !c.botAuth));
  });

  it("a stranger is refused at once, and nothing reaches ingest", async () => {
    const before = (await s.call("GET", "/api/jobs?limit=200")).body.jobs.length;
    const made = await s.seed({ name: `http-stranger-${tag()}.bin`, single: { path: [], size: 100_000 } });
    const a = sd.interactHttp(`${endpoint.url}/`, { user: mallory, command: "torrent", sub: "magnet", options: { uri: s.magnet(made) } });
    assert.deepEqual((await a.response).body, { type: 4, data: { content: refusal, flags: 64, allowed_mentions: { parse: [] } } });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await s.call("GET", "/api/jobs?limit=200")).body.jobs.length, before);
    assert.equal((await s.call("GET", `/api/jobs/${made.infoHash}`)).status, 404);
  });

  it("a bad signature gets 401, and the logs hold no token", async () => {
    const a = sd.interactHttp(`${endpoint.url}/`, { user: alice, command: "jobs", badSignature: true });
    const r = await a.response;
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, "unauthorized");
    await Promise.allSettled(work);
    for (const secret of [s.apiToken, sd.token]) assert.ok(!lines.some((l) => l.includes(secret)), "a token reached the logs");
  });
});
