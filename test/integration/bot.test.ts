// The Discord bot end to end: the real bot (bot/main.ts, real discord.js) as a child process, against a
// local Discord stand-in and the real local stack (moto, Deluge, a seeding peer).
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { Job } from "../../lib/job.ts";
import type { Proc } from "../../scripts/local/proc.ts";
import { displayName } from "../../bot/status.ts";
import { startDiscordStandIn, type Call, type DiscordStandIn, type StoredMessage } from "../support/discord-standin.ts";
import { testStack } from "../support/shared.ts";
import type { TestStack } from "../support/stack.ts";
import type { MadeTorrent } from "../support/torrents.ts";

let s: TestStack;
let sd: DiscordStandIn;
let bot: Proc;
let botEnv: Record<string, string>;
const alice = "200000000000000001"; // allowed by user id
const bob = "200000000000000002"; // allowed by role
const mallory = "200000000000000003"; // a stranger
const tag = () => randomBytes(3).toString("hex");
const ended = (j: Job) => ["completed", "failed", "cancelled"].includes(j.status);

before(async () => {
  [s, sd] = await Promise.all([testStack(), startDiscordStandIn()]);
  botEnv = {
    DISCORD_TOKEN: sd.token, DISCORD_APP_ID: sd.appId, DISCORD_GUILD_ID: sd.guildId, DISCORD_API_URL: sd.api,
    DISCORD_ALLOWED_USERS: alice, DISCORD_ALLOWED_ROLES: sd.roleId,
    // The bot reaches ingest through the stand-in, so Discord and ingest calls share one ordered record.
    T2S_API_URL: sd.proxy(s.url), T2S_PUBLIC_URL: s.url, T2S_SQS_WAIT_S: "2", T2S_LOG_LEVEL: "debug",
  };
  bot = await s.startBot(botEnv);
  await sd.waitForSession(1);
});

after(async () => {
  await bot?.stop();
  await sd?.close();
});

const channelPosts = () => sd.calls.filter((c) => c.kind === "rest" && c.method === "POST" && /^\/channels\/\d+\/messages$/.test(c.path));
const messages = () => [...sd.messages.values()];
const pingFor = (user: string, made: MadeTorrent) => messages().find((m) => m.mentions.includes(user) && m.content.includes(displayName(made.name)));
const statusFor = (made: MadeTorrent) => messages().filter((m) => m.mentions.length === 0 && m.content.includes(displayName(made.name)));

async function job(id: string): Promise<Job | undefined> {
  return (await s.call("GET", `/api/jobs/${id}`)).body?.job;
}

/** Fetches every link in a message; each must yield one of the seeded files (by sha256), and all must be there. */
async function checkMessageLinks(msg: StoredMessage, made: MadeTorrent): Promise<void> {
  const all = [...msg.content.matchAll(/\]\((https?:\/\/[^)\s]+)\)/g)].map((m) => m[1]!);
  // A multi-file job also links its zip.
  const zips = all.filter((u) => u.startsWith(`${s.url}/zip/${made.infoHash}`));
  assert.equal(zips.length, made.files.length > 1 ? 1 : 0, msg.content);
  for (const z of zips) assert.equal((await fetch(z, { redirect: "manual" })).status, 302, z);
  const links = all.filter((u) => !zips.includes(u));
  assert.equal(links.length, made.files.length, msg.content);
  const got: string[] = [];
  for (const url of links) {
    assert.ok(url.startsWith(`${s.url}/d/${made.infoHash}/`), url);
    const res = await fetch(url); // no credentials: the signed link alone opens it
    assert.equal(res.status, 200, url);
    got.push(createHash("sha256").update(Buffer.from(await res.arrayBuffer())).digest("hex"));
  }
  assert.deepEqual(got.sort(), [...made.sha256.values()].sort());
}

async function waitForPing(user: string, made: MadeTorrent, timeoutMs = 90_000): Promise<StoredMessage> {
  return sd.waitFor(() => pingFor(user, made), timeoutMs, `ping of ${user} for ${made.name}`);
}

/** The ingest requester entry of a Discord user, once it records a status message. */
async function waitForMessageId(id: string, user: string): Promise<string> {
  for (let i = 0; i < 150; i++) {
    const r = (await job(id))?.requesters.find((q) => q.via === "discord" && q.user === user);
    if (r?.messageId) return r.messageId;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error("the status message id never reached the job's requester entry");
}

/** Checks one finished job as chat shows it: a status message edited to done, and a ping with working links. */
async function checkFinished(made: MadeTorrent, user: string): Promise<{ status: StoredMessage; ping: StoredMessage }> {
  const ping = await waitForPing(user, made);
  await checkMessageLinks(ping, made);
  const statuses = statusFor(made);
  assert.equal(statuses.length, 1, "one status message per job and requester");
  const status = statuses[0]!;
  assert.match(status.content, /^✅/);
  assert.ok(status.edits >= 1, "the status message was edited");
  assert.equal(await waitForMessageId(made.infoHash, user), status.id);
  await checkMessageLinks(status, made);
  return { status, ping };
}

describe("Discord bot", () => {
  let magnetMade: MadeTorrent;

  it("a magnet ends in a channel message whose links yield the seeded bytes", async () => {
    magnetMade = await s.seed({ name: `bot-magnet-${tag()}.bin`, single: { path: [], size: 3 * 1024 * 1024 + 7 } });
    const first = sd.calls.length;
    const a = sd.interact({ user: alice, command: "torrent", sub: "magnet", options: { uri: s.magnet(magnetMade) } });
    const answer = await a.answer();
    assert.equal(answer.type, 5, "deferred");
    assert.ok(answer.ephemeral);
    assert.match(answer.content, /^Added /);
    const { ping } = await checkFinished(magnetMade, alice);
    const j = await s.waitForJob(magnetMade.infoHash, ended);
    assert.equal(j.status, "completed");
    assert.deepEqual(j.requesters.map((r) => [r.via, r.user, r.channelId]), [["discord", alice, sd.channelId]]);
    // The rate-limit budget: Discord REST calls from the command to the ping.
    const pingCall = sd.calls.findIndex((c, i) => i >= first && c.kind === "rest" && c.body?.content === ping.content);
    const rest = sd.calls.slice(first, pingCall + 1).filter((c) => c.kind === "rest");
    const summary = rest.map((c) => `${c.method} ${c.path.replace(/\d{17,}/g, ":id")}`);
    process.stderr.write(`# REST calls for one job (magnet), submit to completion: ${rest.length}\n#   ${summary.join("\n#   ")}\n`);
    assert.ok(rest.every((c) => !/^\/channels\//.test(c.path) || c.botAuth), "channel messages use the bot token");
    assert.ok(rest.length <= 12, `${rest.length} REST calls`);
  });

  it("a second requester of the same torrent is pinged too", async () => {
    const a = sd.interact({ user: bob, roles: [sd.roleId], command: "torrent", sub: "magnet", options: { uri: s.magnet(magnetMade) } });
    assert.match((await a.answer()).content, /already downloaded/);
    const ping = await waitForPing(bob, magnetMade, 30_000);
    await checkMessageLinks(ping, magnetMade);
    assert.equal(messages().filter((m) => m.mentions.includes(alice) && m.content.includes(displayName(magnetMade.name))).length, 1, "alice is not pinged twice");
  });

  it("an attached .torrent does the same, and the defer callback goes out before anything slow", async () => {
    const made = await s.seed({ name: `bot-file-${tag()}`, files: [{ path: ["a.txt"], data: Buffer.from("hello from a") }, { path: ["sub", "b.bin"], size: 900_000 }] });
    const att = sd.putAttachment(`${made.name}.torrent`, made.torrent);
    const first = sd.calls.length;
    const a = sd.interact({ user: alice, command: "torrent", sub: "file", attachment: { option: "torrent", ...att } });
    assert.match((await a.answer()).content, /^Added /);
    await checkFinished(made, alice);
    const mine = sd.calls.slice(first);
    const at = (p: (c: Call) => boolean) => mine.find(p)?.seq ?? Infinity;
    const callback = at((c) => c.path === `/interactions/${a.id}/:token/callback`);
    const cdn = at((c) => c.kind === "cdn");
    const submit = at((c) => c.kind === "ingest" && c.method === "POST" && c.path === "/api/jobs");
    assert.ok(callback < cdn && cdn < submit, `order: callback ${callback}, attachment fetch ${cdn}, ingest submit ${submit}`);
    const posted = mine.find((c) => c.kind === "ingest" && c.method === "POST")!;
    assert.deepEqual(posted.body.requester, { via: "discord", user: alice, channelId: sd.channelId });
  });

  it("a URL does the same", async () => {
    const made = await s.seed({ name: `bot-url-${tag()}.iso`, single: { path: [], size: 400_000 } });
    s.files.put(`/bot/${made.infoHash}.torrent`, made.torrent);
    const a = sd.interact({ user: bob, roles: [sd.roleId], command: "torrent", sub: "url", options: { url: `${s.files.base}/bot/${made.infoHash}.torrent` } });
    assert.match((await a.answer()).content, /^Added /);
    await checkFinished(made, bob);
  });

  it("falls back to a direct message when it may not post in the channel", async () => {
    const made = await s.seed({ name: `bot-dm-${tag()}.bin`, single: { path: [], size: 200_000 } });
    sd.denied.add(sd.channelId);
    try {
      const a = sd.interact({ user: alice, command: "torrent", sub: "magnet", options: { uri: s.magnet(made) } });
      assert.match((await a.answer()).content, /^Added /);
      const ping = await waitForPing(alice, made);
      const dm = sd.dms.get(alice);
      assert.ok(dm, "a DM channel was opened");
      assert.equal(ping.channel_id, dm);
      await checkMessageLinks(ping, made);
      const statuses = statusFor(made);
      assert.equal(statuses.length, 1);
      assert.equal(statuses[0]!.channel_id, dm);
      const r = (await job(made.infoHash))?.requesters.find((q) => q.user === alice);
      assert.deepEqual([r?.channelId, r?.messageId], [dm, statuses[0]!.id], "the DM is what a restarted bot would edit");
    } finally {
      sd.denied.delete(sd.channelId);
    }
  });

  it("refuses a stranger, ephemerally, and creates no job", async () => {
    const id = randomBytes(20).toString("hex");
    const ingestBefore = sd.calls.filter((c) => c.kind === "ingest").length;
    const a = sd.interact({ user: mallory, roles: [], command: "torrent", sub: "magnet", options: { uri: `magnet:?xt=urn:btih:${id}` } });
    const answer = await a.answer();
    assert.equal(answer.type, 4);
    assert.ok(answer.ephemeral);
    assert.match(answer.content, /not allowed/);
    const auto = await sd.interact({ user: mallory, command: "cancel", options: { job: "" }, focused: "job" }).answer();
    assert.deepEqual(auto.choices, [], "a stranger sees no jobs in autocomplete");
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(sd.calls.filter((c) => c.kind === "ingest").length, ingestBefore, "the bot did not call ingest");
    assert.equal((await s.call("GET", `/api/jobs/${id}`)).status, 404);
  });

  it("refuses an oversized or non-torrent attachment before submitting", async () => {
    const ingestPosts = () => sd.calls.filter((c) => c.kind === "ingest" && c.method === "POST").length;
    const before = ingestPosts();
    const big = sd.putAttachment("huge.torrent", Buffer.from("d4:infod4:name1:aee"), 11 * 1024 * 1024);
    const cdnBefore = sd.calls.filter((c) => c.kind === "cdn").length;
    const a = await sd.interact({ user: alice, command: "torrent", sub: "file", attachment: { option: "torrent", ...big } }).answer();
    assert.ok(a.ephemeral);
    assert.match(a.content, /at most 10 MiB/);
    assert.equal(sd.calls.filter((c) => c.kind === "cdn").length, cdnBefore, "an oversized attachment is not even fetched");

    const junk = sd.putAttachment("notes.torrent", Buffer.from("this is not bencode"));
    const b = await sd.interact({ user: alice, command: "torrent", sub: "file", attachment: { option: "torrent", ...junk } }).answer();
    assert.ok(b.ephemeral);
    assert.match(b.content, /not a valid \.torrent/);

    // A body larger than its declared size is cut off at 10 MiB too.
    const liar = sd.putAttachment("liar.torrent", Buffer.alloc(10 * 1024 * 1024 + 10, 0x61), 1000);
    const c = await sd.interact({ user: alice, command: "torrent", sub: "file", attachment: { option: "torrent", ...liar } }).answer();
    assert.match(c.content, /larger than 10 MiB/);
    assert.equal(ingestPosts(), before, "nothing was submitted");
  });

  it("shows ingest's plain message for a bad magnet", async () => {
    const a = await sd.interact({ user: alice, command: "torrent", sub: "magnet", options: { uri: "magnet:?dn=no-hash" } }).answer();
    assert.ok(a.ephemeral);
    assert.ok(a.content.length > 0 && !/went wrong/.test(a.content), a.content);
  });

  it("/jobs lists the caller's jobs only", async () => {
    const a = await sd.interact({ user: alice, command: "jobs" }).answer();
    assert.ok(a.ephemeral);
    assert.ok(a.content.includes(displayName(magnetMade.name, 80)), a.content);
    assert.ok(!/bot-url-/.test(a.content), "bob's URL job is not alice's");
    const b = await sd.interact({ user: bob, roles: [sd.roleId], command: "jobs" }).answer();
    assert.ok(/bot-url-/.test(b.content), b.content);
  });

  it("/cancel, with autocomplete over the caller's jobs, cancels the job", async () => {
    const id = randomBytes(20).toString("hex");
    const name = `bot-cancel-${tag()}`;
    const a = await sd.interact({ user: alice, command: "torrent", sub: "magnet", options: { uri: `magnet:?xt=urn:btih:${id}&dn=${name}` } }).answer();
    assert.match(a.content, /^Added /);
    await s.waitForJob(id, (j) => j.status === "downloading" || j.status === "queued");
    const auto = await sd.interact({ user: alice, command: "cancel", options: { job: "bot-cancel" }, focused: "job" }).answer();
    assert.equal(auto.type, 8);
    assert.ok(auto.choices?.some((c) => c.value === id), JSON.stringify(auto.choices));
    const bobs = await sd.interact({ user: bob, roles: [sd.roleId], command: "cancel", options: { job: id } }).answer();
    assert.match(bobs.content, /not one of yours/);
    const c = await sd.interact({ user: alice, command: "cancel", options: { job: id } }).answer();
    assert.ok(c.ephemeral);
    assert.match(c.content, /^Cancelled /);
    assert.equal((await job(id))?.status, "cancelled");
    await sd.waitFor(() => messages().find((m) => m.content.includes(name) && m.content.includes("Cancelled.")), 30_000, "status message shows cancelled");
  });

  it("registers the commands on the guild with npm run bot:register's script", async () => {
    const { run } = await import("../../scripts/local/proc.ts");
    const { join } = await import("node:path");
    const { repoRoot } = await import("../../scripts/local/paths.ts");
    const out = await run(process.execPath, [join(repoRoot, "bot", "register.ts")], {
      env: { PATH: process.env.PATH, DISCORD_TOKEN: sd.token, DISCORD_APP_ID: sd.appId, DISCORD_GUILD_ID: sd.guildId, DISCORD_API_URL: sd.api },
      timeoutMs: 30_000,
    });
    assert.ok(!out.includes(sd.token), "the token is not logged");
    const put = sd.calls.find((c) => c.method === "PUT" && c.path === `/applications/${sd.appId}/guilds/${sd.guildId}/commands`);
    assert.ok(put?.botAuth, "registered with the bot token");
    assert.deepEqual(put.body.map((c: { name: string }) => c.name), ["torrent", "jobs", "cancel", "delete"]);
    const torrent = put.body[0];
    assert.deepEqual(torrent.options.map((o: { name: string; options: { name: string; type: number }[] }) => [o.name, o.options[0]!.name, o.options[0]!.type]), [["magnet", "uri", 3], ["file", "torrent", 11], ["url", "url", 3]]);
    assert.equal(put.body[2].options[0].autocomplete, true);
  });

  it("restarts mid-job and still finishes by editing the same status message", async () => {
    const t0 = Date.now();
    const step = (what: string) => process.stderr.write(`#   restart case: ${what} at ${Date.now() - t0} ms\n`);
    const made = await s.seed({ name: `bot-restart-${tag()}.bin`, single: { path: [], size: 4 * 1024 * 1024 } });
    // The seeder trickles until the bot has restarted. (Pausing it instead would make the seedbox's
    // libtorrent back off from the failed peer for a minute.)
    const limit = (kib: number) => s.seederClient.call("core.set_torrent_options", [[made.infoHash], { max_upload_speed: kib }]);
    await limit(32);
    let messageId = "";
    try {
      const att = sd.putAttachment(`${made.name}.torrent`, made.torrent);
      assert.match((await sd.interact({ user: alice, command: "torrent", sub: "file", attachment: { option: "torrent", ...att } }).answer()).content, /^Added /);
      messageId = await waitForMessageId(made.infoHash, alice);
      await s.waitForJob(made.infoHash, (j) => j.status === "downloading" && j.progress > 0);
      step("downloading; stopping the bot");
      await bot.stop();
      bot = await s.startBot(botEnv);
      await sd.waitForSession(2);
      const mid = await job(made.infoHash);
      step(`bot back; the job is ${mid?.status} at ${Math.round((mid?.progress ?? 0) * 100)}%`);
      assert.equal(mid?.status, "downloading", "the job was still running across the restart");
    } finally {
      await limit(-1);
    }
    await s.waitForJob(made.infoHash, ended, 120_000);
    step("job ended");
    const { status } = await checkFinished(made, alice);
    assert.equal(status.id, messageId, "the restarted bot edited the message it found in the requester entry");
    assert.equal(statusFor(made).length, 1, "no second status message after the restart");
    const edits = sd.calls.filter((c) => c.method === "PATCH" && c.path === `/channels/${sd.channelId}/messages/${status.id}`);
    assert.ok(edits.every((c) => c.botAuth));
    const secondLogin = sd.calls.filter((c) => c.path === "/gateway/bot")[1]!.seq;
    assert.ok(edits.some((c) => c.seq > secondLogin && /^✅/.test(c.body?.content)), "the restarted bot edited the message to done");
    assert.equal(channelPosts().filter((c) => String(c.body?.content).includes(displayName(made.name)) && !c.body?.allowed_mentions?.users).length, 1);
  });

  it("logs no token", () => {
    const botLines = s.logs.filter((l) => l.service === "bot");
    assert.ok(botLines.some((l) => l.msg === "bot ready"), "the bot's logs were collected");
    const text = JSON.stringify(botLines);
    assert.ok(!text.includes(sd.token), "Discord bot token");
    assert.ok(!text.includes(s.apiToken), "ingest API token");
    assert.ok(!text.includes("itok-"), "interaction tokens");
  });
});
