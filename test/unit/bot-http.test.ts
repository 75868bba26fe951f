// The HTTP interactions transport, in-process, with a generated Ed25519 key pair: signatures, stale
// timestamps, PING, each command through the shared core, bad input, and a cold-start timing.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { join } from "node:path";
import { describe, it } from "node:test";
import { discordVerifier, interactionsEndpoint, maxInteractionBytes, type SignedRequest } from "../../bot/http-interaction.ts";
import { interactionHandler } from "../../bot/interactions.ts";
import { refusal } from "../../bot/access.ts";
import type { Job } from "../../lib/job.ts";
import { createLogger } from "../../lib/log.ts";
import { createRequire } from "node:module";
import { DiscordAPIError } from "@discordjs/rest";
import { isPermanent, isUnknownMessage } from "../../bot/discord.ts";
import { createBotLambda, type WorkMessage } from "../../bot/lambda.ts";

const root = join(import.meta.dirname, "..", "..");

export function testKeys(): { publicKeyHex: string; privateKey: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const x = publicKey.export({ format: "jwk" }).x!;
  return { publicKeyHex: Buffer.from(x, "base64url").toString("hex"), privateKey };
}

export function signRequest(privateKey: KeyObject, body: string, timestampS = Math.floor(Date.now() / 1000)): SignedRequest {
  const timestamp = String(timestampS);
  return { body, timestamp, signature: sign(null, Buffer.from(timestamp + body), privateKey).toString("hex") };
}

const id = "d".repeat(40);
const job = (o: Partial<Job> = {}): Job => ({
  id, name: "ubuntu.iso", status: "queued", progress: 0, size: 3 * 2 ** 30, downloaded: 0, rate: 0, eta: null, seedbox: null, files: [], error: null,
  requesters: [{ via: "discord", user: "100", channelId: "55" }], expiresAt: null, zip: null, createdAt: "2026-12-01T00:00:00.000Z", updatedAt: "2026-12-01T00:00:00.000Z", ...o,
});

function world(o: { handoff?: "inline" | "capture" } = {}) {
  const keys = testKeys();
  const calls: string[] = [];
  const edits: string[] = [];
  const handed: SignedRequest[] = [];
  const ingest = {
    submit: async (s: object, r: { user: string; channelId?: string }) => { calls.push(`submit ${JSON.stringify(s)} ${r.user} ${r.channelId}`); return { job: job(), created: true }; },
    list: async () => { calls.push("list"); return { jobs: [job()], next: null }; },
    get: async (jid: string) => { calls.push(`get ${jid}`); return job(); },
    cancel: async (jid: string) => { calls.push(`cancel ${jid}`); return job({ status: "cancelled" }); },
    deleteFiles: async (jid: string) => { calls.push(`delete ${jid}`); return job({ status: "expired" }); },
  };
  const board = { show: async (j: Job) => { calls.push(`show ${j.id}`); } };
  const handler = interactionHandler({ ingest, board, access: { users: ["100"], roles: ["900"] }, publicUrl: "https://t2s.example", log: createLogger("test", { level: "error" }) });
  const endpoint = interactionsEndpoint({
    verify: discordVerifier(keys.publicKeyHex),
    handler,
    followups: { editOriginal: async (app, token, content) => { edits.push(`${app}/${token}: ${content}`); } },
    handoff: o.handoff === "inline" ? "inline" : async (r) => { handed.push(r); },
    log: createLogger("test", { level: "error" }),
  });
  const post = (body: string, s = signRequest(keys.privateKey, body)) =>
    endpoint.http({ method: "POST", headers: { "x-signature-ed25519": s.signature, "x-signature-timestamp": s.timestamp }, body: Buffer.from(body) });
  return { keys, calls, edits, handed, endpoint, post };
}

let seq = 0;
function command(o: { user?: string; roles?: string[]; name: string; sub?: string; options?: Record<string, string>; focused?: string; attachment?: { size: number } }): string {
  const leaves: object[] = Object.entries(o.options ?? {}).map(([name, value]) => ({ type: 3, name, value, ...(o.focused === name ? { focused: true } : {}) }));
  let resolved: object | undefined;
  if (o.attachment) {
    leaves.push({ type: 11, name: "torrent", value: "777" });
    resolved = { attachments: { "777": { id: "777", filename: "a.torrent", size: o.attachment.size, url: "http://127.0.0.1:9/a.torrent" } } };
  }
  return JSON.stringify({
    id: String(1000 + ++seq), application_id: "4242", type: o.focused ? 4 : 2, token: `itok-${seq}`, version: 1,
    data: { id: "1", name: o.name, type: 1, options: o.sub ? [{ type: 1, name: o.sub, options: leaves }] : leaves, ...(resolved ? { resolved } : {}) },
    guild_id: "1", channel_id: "55", member: { user: { id: o.user ?? "100" }, roles: o.roles ?? [] },
  });
}

describe("Discord HTTP interactions", () => {
  it("answers PING with PONG when the signature is valid", async () => {
    const w = world();
    assert.deepEqual(await w.post(JSON.stringify({ type: 1, id: "1", application_id: "4242", token: "t" })), { status: 200, body: { type: 1 } });
  });

  it("answers 401 to a bad or missing signature, and to a stale or future timestamp", async () => {
    const w = world();
    const body = JSON.stringify({ type: 1 });
    const good = signRequest(w.keys.privateKey, body);
    const flipped = good.signature.slice(0, -1) + (good.signature.endsWith("0") ? "1" : "0");
    for (const s of [
      { ...good, signature: flipped },
      { ...good, signature: "" },
      { ...good, timestamp: "" },
      { ...good, timestamp: String(Number(good.timestamp) + 1) }, // signed over another timestamp
      signRequest(testKeys().privateKey, body), // another application's key
    ]) {
      const r = await w.post(body, s);
      assert.equal(r.status, 401);
      assert.equal((r.body as any).error.code, "unauthorized");
    }
    // The body changed after signing.
    assert.equal((await w.post(JSON.stringify({ type: 1, x: 1 }), good)).status, 401);
    const now = Math.floor(Date.now() / 1000);
    for (const t of [now - 301, now + 301]) {
      const r = await w.post(body, signRequest(w.keys.privateKey, body, t));
      assert.equal(r.status, 401);
      assert.match((r.body as any).error.message, /too old/);
    }
    assert.equal((await w.post(body, signRequest(w.keys.privateKey, body, now - 290))).status, 200);
  });

  it("gives coded answers to bad input, never a crash", async () => {
    const w = world();
    assert.equal((await w.endpoint.http({ method: "GET", headers: {}, body: Buffer.alloc(0) })).status, 405);
    const big = "x".repeat(maxInteractionBytes + 1);
    assert.equal((await w.post(big)).status, 413);
    for (const body of ["{not json", "null", "[]", JSON.stringify({ type: 2 }), JSON.stringify({ type: 2, id: "1", token: "t", application_id: "1" }),
      JSON.stringify({ type: 2, id: "1", token: "t/../x", application_id: "1", member: { user: { id: "100" } } }), JSON.stringify({ type: 3, id: "1", token: "t", application_id: "1", user: { id: "100" } })]) {
      const r = await w.post(body);
      assert.equal(r.status, 400, body);
      assert.equal((r.body as any).error.code, "invalid_request");
    }
    // A command with its options missing or of the wrong type: the core's catch-all answers.
    const r = await w.post(JSON.stringify({ type: 2, id: "9", token: "tk", application_id: "4242", channel_id: "55", member: { user: { id: "100" }, roles: "x" }, data: { name: "torrent", options: "nope" } }));
    assert.equal(r.status, 200);
    assert.equal((r.body as any).type, 4);
    assert.match((r.body as any).data.content, /went wrong/);
    assert.equal(w.handed.length, 0);
  });

  it("refuses a stranger at once (ephemeral), with no hand-off", async () => {
    const w = world();
    const r = await w.post(command({ user: "666", name: "torrent", sub: "magnet", options: { uri: "magnet:?xt=urn:btih:" + id } }));
    assert.deepEqual(r, { status: 200, body: { type: 4, data: { content: refusal, flags: 64, allowed_mentions: { parse: [] } } } });
    assert.equal(w.handed.length, 0);
    assert.deepEqual(w.calls, []);
  });

  it("allows a member by role", async () => {
    const w = world();
    const r = await w.post(command({ user: "667", roles: ["900"], name: "jobs" }));
    assert.equal((r.body as any).type, 5);
  });

  it("/torrent magnet: defers, hands off, and the worker submits, shows and edits the reply", async () => {
    const w = world();
    const body = command({ name: "torrent", sub: "magnet", options: { uri: ` magnet:?xt=urn:btih:${id} ` } });
    const r = await w.post(body);
    assert.deepEqual(r, { status: 200, body: { type: 5, data: { flags: 64 } } });
    assert.equal(w.handed.length, 1);
    assert.deepEqual(w.calls, [], "nothing slow runs before the answer");
    await w.endpoint.work(w.handed[0]!);
    assert.deepEqual(w.calls, [`submit {"magnet":"magnet:?xt=urn:btih:${id}"} 100 55`, `show ${id}`]);
    assert.equal(w.edits.length, 1);
    assert.match(w.edits[0]!, /^4242\/itok-\d+: Added \*\*ubuntu\.iso\*\* \(3\.00 GiB\)/);
  });

  it("/torrent's optional files option goes to ingest as indexes and globs; left out, every file", async () => {
    const w = world();
    await w.post(command({ name: "torrent", sub: "url", options: { url: "https://example.com/a.torrent", files: " 0, 2 ,*.mkv, " } }));
    await w.endpoint.work(w.handed.at(-1)!);
    assert.equal(w.calls[0], 'submit {"url":"https://example.com/a.torrent","files":[0,2,"*.mkv"]} 100 55');
    await w.post(command({ name: "torrent", sub: "url", options: { url: "https://example.com/b.torrent", files: " , " } }));
    await w.endpoint.work(w.handed.at(-1)!);
    assert.equal(w.calls.at(-2), 'submit {"url":"https://example.com/b.torrent"} 100 55');
  });

  it("/torrent url and /torrent file go the same way; an oversized attachment is refused at once", async () => {
    const w = world();
    await w.post(command({ name: "torrent", sub: "url", options: { url: "https://example.com/a.torrent" } }));
    await w.endpoint.work(w.handed.at(-1)!);
    assert.equal(w.calls[0], 'submit {"url":"https://example.com/a.torrent"} 100 55');
    const big = await w.post(command({ name: "torrent", sub: "file", attachment: { size: 11 * 2 ** 20 } }));
    assert.equal((big.body as any).type, 4);
    assert.match((big.body as any).data.content, /at most 10 MiB/);
    // A small attachment that cannot be fetched: deferred, then the worker says so.
    const small = await w.post(command({ name: "torrent", sub: "file", attachment: { size: 1000 } }));
    assert.equal((small.body as any).type, 5);
    await w.endpoint.work(w.handed.at(-1)!);
    assert.match(w.edits.at(-1)!, /could not download the attachment/);
  });

  it("/jobs and /cancel through the worker; autocomplete answers in the response", async () => {
    const w = world();
    await w.post(command({ name: "jobs" }));
    await w.endpoint.work(w.handed.at(-1)!);
    assert.match(w.edits.at(-1)!, /ubuntu\.iso/);
    await w.post(command({ name: "cancel", options: { job: id } }));
    await w.endpoint.work(w.handed.at(-1)!);
    assert.deepEqual(w.calls.slice(-2), [`get ${id}`, `cancel ${id}`]);
    assert.match(w.edits.at(-1)!, /Cancelled \*\*ubuntu\.iso\*\*/);
    const ac = await w.post(command({ name: "cancel", options: { job: "ubu" }, focused: "job" }));
    assert.deepEqual(ac.body, { type: 8, data: { choices: [{ name: "ubuntu.iso · queued", value: id }] } });
    const stranger = await w.post(command({ user: "666", name: "cancel", options: { job: "" }, focused: "job" }));
    assert.deepEqual(stranger.body, { type: 8, data: { choices: [] } });
  });

  it("answers an unknown command, and the worker ignores a forged hand-off", async () => {
    const w = world();
    const r = await w.post(command({ name: "rm-rf" }));
    assert.equal((r.body as any).type, 4);
    assert.match((r.body as any).data.content, /do not know that command/);
    const forged = signRequest(testKeys().privateKey, command({ name: "jobs" }));
    await w.endpoint.work(forged);
    const old = signRequest(w.keys.privateKey, command({ name: "jobs" }), Math.floor(Date.now() / 1000) - 16 * 60);
    await w.endpoint.work(old);
    assert.deepEqual(w.calls, []);
    assert.deepEqual(w.edits, []);
  });

  it("inline mode answers first and goes on in-process", async () => {
    const w = world({ handoff: "inline" });
    const r = await w.post(command({ name: "jobs" }));
    assert.equal((r.body as any).type, 5);
    for (let i = 0; i < 50 && w.edits.length === 0; i++) await new Promise((res) => setTimeout(res, 10));
    assert.match(w.edits[0]!, /ubuntu\.iso/);
  });

  it("the Lambda app: function URL events in and out, the hand-off message, and junk on the topic or the queue skipped", async () => {
    const keys = testKeys();
    const published: WorkMessage[] = [];
    const lines: string[] = [];
    const app = createBotLambda({
      DISCORD_PUBLIC_KEY: keys.publicKeyHex, DISCORD_ALLOWED_USERS: "100", T2S_API_URL: "http://127.0.0.1:9", T2S_API_TOKEN: "tok-secret-1", DISCORD_TOKEN: "bot-secret-2",
    }, createLogger("bot", { write: (l) => lines.push(l) }), { publish: async (m) => { published.push(m); } });
    const body = command({ name: "jobs" });
    const signed = signRequest(keys.privateKey, body);
    const r = await app.interactions({
      version: "2.0", rawPath: "/", headers: { "X-Signature-Ed25519": signed.signature, "X-Signature-Timestamp": signed.timestamp, "Content-Type": "application/json" },
      body: Buffer.from(body).toString("base64"), isBase64Encoded: true, requestContext: { http: { method: "POST" } },
    });
    assert.deepEqual([r.statusCode, r.headers["content-type"], JSON.parse(r.body)], [200, "application/json", { type: 5, data: { flags: 64 } }]);
    assert.deepEqual(published, [{ v: 1, type: "interaction", request: signed }]);
    const big = await app.interactions({ version: "2.0", rawPath: "/", headers: {}, body: "x".repeat(70_000), requestContext: { http: { method: "POST" } } });
    assert.equal(big.statusCode, 413);
    await app.work({ Records: [{ Sns: { Message: "not json" } }, { Sns: { Message: JSON.stringify({ v: 1, type: "interaction", request: { body: "{}" } }) } }, {}] });
    const u = await app.updates({ Records: [{ messageId: "m1", body: "junk" }, { messageId: "m2", body: JSON.stringify({ v: 1, type: "other" }) }] });
    assert.deepEqual(u.batchItemFailures, []);
    assert.ok(lines.some((l) => l.includes("not an interaction hand-off")));
    assert.ok(!lines.some((l) => l.includes("tok-secret-1") || l.includes("bot-secret-2")), "a token reached the logs");
  });

  it("recognises Discord's REST errors from both builds of @discordjs/rest (discord.js loads the CommonJS one)", () => {
    const cjs = createRequire(import.meta.url)("@discordjs/rest") as { DiscordAPIError: typeof DiscordAPIError };
    assert.notEqual(cjs.DiscordAPIError, DiscordAPIError, "two classes: instanceof alone is not enough");
    const make = (C: typeof DiscordAPIError, code: number, status: number) =>
      new C({ message: "x", code }, code, status, "POST", "http://127.0.0.1/api/v10/channels/1/messages", { body: undefined, files: undefined });
    for (const C of [cjs.DiscordAPIError, DiscordAPIError]) {
      assert.equal(isPermanent(make(C, 50001, 403)), true);
      assert.equal(isPermanent(make(C, 0, 429)), false);
      assert.equal(isPermanent(make(C, 0, 502)), false);
      assert.equal(isUnknownMessage(make(C, 10008, 404)), true);
      assert.equal(isUnknownMessage(make(C, 50001, 403)), false);
    }
    assert.equal(isPermanent(new Error("403")), false);
  });

  it("cold start: module load plus the first deferred answer (printed)", () => {
    // A fresh process loads the transport and the core, then answers one signed /torrent.
    const script = `
      const t0 = performance.now();
      const { discordVerifier, interactionsEndpoint } = await import(${JSON.stringify(join(root, "bot", "http-interaction.ts"))});
      const { interactionHandler } = await import(${JSON.stringify(join(root, "bot", "interactions.ts"))});
      const c = await import("node:crypto");
      const { publicKey, privateKey } = c.generateKeyPairSync("ed25519");
      const hex = Buffer.from(publicKey.export({ format: "jwk" }).x, "base64url").toString("hex");
      const t1 = performance.now();
      const log = { debug() {}, info() {}, warn() {}, error() {}, with() { return log; } };
      const handler = interactionHandler({ ingest: {}, board: {}, access: { users: ["1"], roles: [] }, publicUrl: "x", log });
      const ep = interactionsEndpoint({ verify: discordVerifier(hex), handler, followups: {}, handoff: async () => {}, log });
      const body = JSON.stringify({ id: "1", application_id: "2", type: 2, token: "t", channel_id: "3", member: { user: { id: "1" }, roles: [] }, data: { name: "jobs", type: 1 } });
      const ts = String(Math.floor(Date.now() / 1000));
      const sig = c.sign(null, Buffer.from(ts + body), privateKey).toString("hex");
      const r = await ep.http({ method: "POST", headers: { "x-signature-ed25519": sig, "x-signature-timestamp": ts }, body: Buffer.from(body) });
      const t2 = performance.now();
      console.log(JSON.stringify({ type: r.body.type, ms: t2 - t0, keygenMs: t1 - t0 }));
    `;
    const out = JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" }).trim().split("\n").at(-1)!);
    assert.equal(out.type, 5);
    console.log(`interactions_cold_start_ms (unbundled sources, in-process hand-off) ${out.ms.toFixed(0)}`);
  });
});
