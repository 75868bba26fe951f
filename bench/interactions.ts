// The Discord interactions function's cold start and bundle size (printed, not asserted).
// interactions_cold_start_ms: a fresh Node process loads the built bundle (dist/.../discord/index.mjs,
// what Lambda loads), builds the app and answers one signed /torrent with its deferral (type 5); the
// hand-off is timed on its own against a stand-in (Lambda's SNS publish is a regional call of a few
// tens of ms that this machine cannot measure). Runs standalone: `node bench/interactions.ts`, or in
// `npm run bench` (BENCH_ONLY=interactions for this part alone).
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildDiscordLambda } from "../scripts/build-lambda.ts";
import { median } from "./stats.ts";

export interface InteractionsRun {
  coldStartMs: number[];
  /** Every file of the bundle (index.mjs and its chunks). */
  bundleBytes: number;
  /** index.mjs alone (it imports some chunks at load; the rest load at first use). */
  indexBytes: number;
}

const probe = (bundle: string) => `
  const t0 = performance.now();
  const c = await import("node:crypto");
  const { publicKey, privateKey } = c.generateKeyPairSync("ed25519");
  const hex = Buffer.from(publicKey.export({ format: "jwk" }).x, "base64url").toString("hex");
  const body = JSON.stringify({ id: "1", application_id: "2", type: 2, token: "tok", channel_id: "3", member: { user: { id: "100" }, roles: [] }, data: { name: "torrent", type: 1, options: [{ type: 1, name: "magnet", options: [{ type: 3, name: "uri", value: "magnet:?xt=urn:btih:${"a".repeat(40)}" }] }] } });
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = c.sign(null, Buffer.from(ts + body), privateKey).toString("hex");
  const t1 = performance.now();
  const m = await import(${JSON.stringify(bundle)});
  const log = { debug() {}, info() {}, warn() {}, error() {}, with() { return log; } };
  const app = m.createBotLambda({ DISCORD_PUBLIC_KEY: hex, DISCORD_ALLOWED_USERS: "100", T2S_API_URL: "https://t2s.example" }, log, { publish: async () => {} });
  const r = await app.interactions({ version: "2.0", rawPath: "/", headers: { "x-signature-ed25519": sig, "x-signature-timestamp": ts }, body, isBase64Encoded: false, requestContext: { http: { method: "POST" } } });
  const t2 = performance.now();
  console.log(JSON.stringify({ type: JSON.parse(r.body).type, ms: t2 - t1, setupMs: t1 - t0 }));
`;

export async function interactionsRun(rounds = 5): Promise<InteractionsRun> {
  const dir = await mkdtemp(join(tmpdir(), "t2s-bench-discord-"));
  try {
    const out = await buildDiscordLambda(join(import.meta.dirname, ".."), join(dir, "discord"));
    const bundle = join(out, "index.mjs");
    const coldStartMs: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const line = execFileSync(process.execPath, ["--input-type=module", "-e", probe(bundle)], { encoding: "utf8" }).trim().split("\n").at(-1)!;
      const r = JSON.parse(line) as { type: number; ms: number };
      if (r.type !== 5) throw new Error(`the first answer was type ${r.type}, not a deferral`);
      coldStartMs.push(r.ms);
    }
    let bundleBytes = 0;
    for (const f of await readdir(out, { recursive: true, withFileTypes: true })) if (f.isFile()) bundleBytes += (await stat(join(f.parentPath, f.name))).size;
    return { coldStartMs, bundleBytes, indexBytes: (await stat(bundle)).size };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function printInteractions(r: InteractionsRun): Record<string, number> {
  const p50 = median(r.coldStartMs);
  console.log(`Discord interactions function: cold start (module load + first deferred answer) p50 ${p50.toFixed(0)} ms over ${r.coldStartMs.length} fresh processes (${r.coldStartMs.map((x) => x.toFixed(0)).join(", ")}); bundle ${(r.bundleBytes / 1024).toFixed(0)} KiB (index.mjs ${(r.indexBytes / 1024).toFixed(0)} KiB; the rest in chunks loaded at first use)`);
  return { interactions_cold_start_ms: Math.round(p50), interactions_bundle_bytes: r.bundleBytes, interactions_index_bytes: r.indexBytes };
}

if (import.meta.main) console.log(JSON.stringify(printInteractions(await interactionsRun())));
