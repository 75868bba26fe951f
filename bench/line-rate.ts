// Line rate, side by side from the same seeders and payloads in one run (docs/design.md "Line rate"):
// - a 1 GiB .torrent through the local stack (submit → completed with a link) against aria2c alone
//   (download only) and the usual self-hosted recipe (qBittorrent, then `aws s3 cp` to the same store);
// - a swarm: one torrent from 4 capped seeders on 127.0.0.2–5 against the same from one of them;
// - 8 torrents at once on one seedbox against aria2c with the same 8;
// - a magnet's metadata from a peer, and the CPU seconds per GiB of the seedbox, Deluge and the store.
// Peers for aria2c and qBittorrent come from a tracker of the bench's own (bench/tracker.ts).
import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sleep } from "../lib/time.ts";
import { freePort } from "../scripts/local/net.ts";
import { repoRoot } from "../scripts/local/paths.ts";
import { run, startProc } from "../scripts/local/proc.ts";
import type { MadeTorrent } from "../test/support/torrents.ts";
import { seederAddress, type TestStack } from "../test/support/stack.ts";
import { cpuSeconds } from "./cpu.ts";
import { timeJob, whenLinked } from "./pipeline.ts";
import { median } from "./stats.ts";
import { startTracker, withTracker } from "./tracker.ts";
import { startSeeder } from "./tuning.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const say = (line: string) => process.stderr.write(`bench: ${line}\n`);
const seconds = (ms: number) => ms / 1000;

export interface LineRate {
  e2e_1gib_s: number;
  aria2c_1gib_s: number;
  e2e_vs_aria2c: number;
  seedbox_recipe_1gib_s: number;
  e2e_vs_recipe: number;
  download_mb_s: number;
  cpu_s_per_gib: { seedbox: number; deluge: number; store: number };
  swarm1_s: number;
  swarm4_s: number;
  swarm4_speedup: number;
  many8_mb_s: number;
  many8_aria2c_mb_s: number;
  many8_vs_aria2c: number;
  magnet_metadata_ms: number;
}

/** aria2c downloads the torrents (all at once) from the tracker's peers, on loopback; resolves with the seconds it took. */
async function aria2c(dir: string, torrents: Buffer[]): Promise<number> {
  const out = join(dir, `aria2c-${randomBytes(3).toString("hex")}`);
  await mkdir(out, { recursive: true });
  const files = await Promise.all(torrents.map(async (t, i) => {
    const f = join(out, `${i}.torrent`);
    await writeFile(f, t);
    return f;
  }));
  const port = await freePort();
  const t0 = performance.now();
  await run("aria2c", [
    "--dir", join(out, "data"), "--interface=127.0.0.1", `--listen-port=${port}`, "--seed-time=0", "--enable-dht=false", "--enable-dht6=false",
    "--bt-enable-lpd=false", "--enable-peer-exchange=false", "--file-allocation=none", "--summary-interval=0", "--console-log-level=error",
    "--quiet=true", "--bt-save-metadata=false", `--max-concurrent-downloads=${torrents.length}`, "--bt-hash-check-seed=false", "--follow-torrent=false", ...files,
  ], { timeoutMs: 1_800_000 });
  const s = seconds(performance.now() - t0);
  await rm(out, { recursive: true, force: true });
  return s;
}

/**
 * The self-hosted recipe: qbittorrent-nox (Debian, its defaults) downloads the torrent from the tracker's peers,
 * then `aws s3 cp` (awscli from PyPI) puts it in the store. Resolves with the seconds from add to stored.
 */
async function recipe(s: TestStack, dir: string, torrent: Buffer, made: MadeTorrent): Promise<number> {
  const profile = join(dir, `qbt-${randomBytes(3).toString("hex")}`);
  const save = join(profile, "data");
  const [webPort, peerPort] = [await freePort(), await freePort()];
  await mkdir(join(profile, "qBittorrent", "config"), { recursive: true });
  await writeFile(join(profile, "qBittorrent", "config", "qBittorrent.conf"), [
    "[LegalNotice]", "Accepted=true", "",
    "[BitTorrent]", `Session\\Port=${peerPort}`, "Session\\Interface=lo", "Session\\InterfaceName=lo", "Session\\InterfaceAddress=127.0.0.1",
    "Session\\DHTEnabled=false", "Session\\LSDEnabled=false", "Session\\PeXEnabled=false", `Session\\DefaultSavePath=${save}`, "",
    "[Preferences]", "WebUI\\Address=127.0.0.1", `WebUI\\Port=${webPort}`, "WebUI\\LocalHostAuth=false", "WebUI\\CSRFProtection=false",
    "WebUI\\HostHeaderValidation=false", "Connection\\UPnP=false", "General\\Locale=en", "",
  ].join("\n"));
  const qbt = startProc("qbittorrent-nox", "qbittorrent-nox", [`--profile=${profile}`, `--webui-port=${webPort}`], { logFile: join(dir, "qbittorrent-nox.log") });
  try {
    const api = `http://127.0.0.1:${webPort}/api/v2`;
    for (const deadline = Date.now() + 30_000; ; await sleep(200)) {
      const ok = await fetch(`${api}/app/version`).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error("qbittorrent-nox did not start");
    }
    const form = new FormData();
    form.append("torrents", new Blob([new Uint8Array(torrent)]), "bench.torrent");
    form.append("savepath", save);
    const t0 = performance.now();
    const added = await fetch(`${api}/torrents/add`, { method: "POST", body: form });
    if (!added.ok) throw new Error(`qBittorrent refused the torrent: ${added.status} ${await added.text()}`);
    for (const deadline = Date.now() + 1_800_000; ; await sleep(100)) {
      const [t] = (await (await fetch(`${api}/torrents/info?hashes=${made.infoHash}`)).json()) as { progress: number; state: string }[];
      if (t && t.progress >= 1 && !/^(checking|moving|allocating)/.test(t.state)) break;
      if (Date.now() > deadline) throw new Error("qBittorrent never finished");
    }
    const { AWS_CA_BUNDLE: _, ...base } = process.env;
    await run(join(repoRoot, ".cache", "bench-venv", "bin", "aws"), ["--endpoint-url", s.store.endpoint, "s3", "cp", "--no-progress", join(save, made.name), `s3://${s.outputs.bucket}/bench-recipe/${made.name}`], {
      env: { ...base, AWS_ACCESS_KEY_ID: s.keys.accessKeyId, AWS_SECRET_ACCESS_KEY: s.keys.secretAccessKey, AWS_REGION: "us-east-1", AWS_DEFAULT_REGION: "us-east-1" },
      timeoutMs: 1_800_000,
    });
    return seconds(performance.now() - t0);
  } finally {
    await qbt.stop(10_000);
    await rm(profile, { recursive: true, force: true });
  }
}

/** Frees the disk a finished job used: its files in the store and the seedbox. */
const forget = async (s: TestStack, made: MadeTorrent) => void (await s.call("DELETE", `/api/jobs/${made.infoHash}/files`).catch(() => {}));

export async function lineRateRun(s: TestStack, o: { dir: string; size: number; swarmSize: number; swarmKiBs: number; manyCount: number; manySize: number }): Promise<LineRate> {
  const tracked: { close(): Promise<void> }[] = [];
  const seeders: { stop(): Promise<void> }[] = [];
  try {
    // 1 GiB: the stack, aria2c and the recipe from the stack's own seeder (libtorrent defaults, on its own loopback address).
    say(`line rate: ${o.size / MiB} MiB through the stack, aria2c and qBittorrent + aws s3 cp`);
    const big = await s.seed({ name: `bench-line-${randomBytes(4).toString("hex")}.bin`, single: { path: [], size: o.size }, pieceLength: MiB });
    const tracker = await startTracker([{ ip: seederAddress, port: s.seeder.listenPort }]);
    tracked.push(tracker);
    const procs = { seedbox: s.seedbox.pid, deluge: s.deluge.daemon.pid, store: s.store.proc.pid };
    const cpu0 = Object.fromEntries(await Promise.all(Object.entries(procs).map(async ([k, pid]) => [k, await cpuSeconds(pid)] as const)));
    const e2e = await timeJob(s, big, 1_800_000);
    const cpu1 = Object.fromEntries(await Promise.all(Object.entries(procs).map(async ([k, pid]) => [k, await cpuSeconds(pid)] as const)));
    const perGiB = (k: keyof typeof procs) => Number(((cpu1[k]! - cpu0[k]!) / (o.size / GiB)).toFixed(2));
    await forget(s, big);
    const aria = await aria2c(o.dir, [withTracker(big.torrent, tracker.url)]);
    say(`line rate: stack ${seconds(e2e.submitToLinkMs).toFixed(1)} s, aria2c ${aria.toFixed(1)} s`);
    // A failing recipe (qbittorrent-nox missing, say) costs its figure only, not the rest of the run.
    const qbt = await recipe(s, o.dir, withTracker(big.torrent, tracker.url), big).catch((err: Error) => (say(`line rate: the recipe failed: ${err.message}`), Number.NaN));
    say(`line rate: qBittorrent + aws s3 cp ${qbt.toFixed(1)} s`);
    await s.seederClient.remove(big.infoHash, true).catch(() => {});

    // A magnet's metadata from the seeder (named in the magnet), 5 rounds.
    const metaMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const m = await s.seed({ name: `bench-magnet-${randomBytes(4).toString("hex")}.bin`, single: { path: [], size: 4 * MiB } });
      const t0 = performance.now();
      const r = await s.call("POST", "/api/jobs", { magnet: s.magnet(m) });
      if (r.status !== 202) throw new Error(`magnet submit answered ${r.status}`);
      for (const deadline = Date.now() + 60_000; ; await sleep(5)) {
        const st = await s.boxClient.status(m.infoHash);
        if (st && st.total_wanted > 0) break;
        if (Date.now() > deadline) throw new Error("no metadata");
      }
      metaMs.push(performance.now() - t0);
      await whenLinked(s, m.infoHash, 60_000);
      await forget(s, m);
    }

    // The swarm: 4 seeders on 127.0.0.2–5, each capped at swarmKiBs, against the first alone.
    say(`line rate: swarm of 4 seeders at ${o.swarmKiBs / 1024} MiB/s each, ${o.swarmSize / MiB} MiB, against 1`);
    const mk = (tag: string) => s.seed({ name: `bench-${tag}-${randomBytes(4).toString("hex")}.bin`, single: { path: [], size: o.swarmSize }, pieceLength: MiB });
    const [one, four] = [await mk("swarm1"), await mk("swarm4")];
    const addrs = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];
    const swarm = [];
    for (const [i, a] of addrs.entries()) {
      const sd = await startSeeder(o.dir, `swarm-${i + 2}`, a, i === 0 ? [one, four] : [four], { uploadKiBs: o.swarmKiBs });
      seeders.push(sd.handle);
      swarm.push({ ip: a, port: sd.handle.listenPort });
    }
    const [t1, t4] = [await startTracker(swarm.slice(0, 1)), await startTracker(swarm)];
    tracked.push(t1, t4);
    // The stack's own seeder stops seeding these, so only the swarm serves them.
    for (const m of [one, four]) await s.seederClient.call("core.pause_torrent", [[m.infoHash]]);
    const swarmRun = async (m: MadeTorrent, url: string) => {
      const r = await timeJob(s, { ...m, torrent: withTracker(m.torrent, url) }, 1_800_000);
      await forget(s, m);
      return seconds(r.submitToLinkMs);
    };
    const swarm1 = await swarmRun(one, t1.url);
    const swarm4 = await swarmRun(four, t4.url);
    say(`line rate: swarm 1 seeder ${swarm1.toFixed(1)} s, 4 seeders ${swarm4.toFixed(1)} s`);
    for (const sd of seeders.splice(0)) await sd.stop();
    for (const m of [one, four]) await s.seederClient.remove(m.infoHash, true).catch(() => {});

    // Many at once: manyCount torrents submitted together, until all have links; then aria2c with the same.
    say(`line rate: ${o.manyCount} × ${o.manySize / MiB} MiB at once, the stack against aria2c`);
    const many: MadeTorrent[] = [];
    for (let i = 0; i < o.manyCount; i++) many.push(await s.seed({ name: `bench-many-${i}-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: o.manySize }, pieceLength: MiB }));
    const m0 = performance.now();
    for (const m of many) {
      const r = await s.call("POST", "/api/jobs", { torrent: m.torrent.toString("base64") });
      if (r.status !== 202) throw new Error(`submit answered ${r.status}`);
    }
    for (const m of many) await whenLinked(s, m.infoHash, 1_800_000);
    const manyS = seconds(performance.now() - m0);
    for (const m of many) await forget(s, m);
    const manyAria = await aria2c(o.dir, many.map((m) => withTracker(m.torrent, tracker.url)));
    for (const m of many) await s.seederClient.remove(m.infoHash, true).catch(() => {});
    const mb = (o.manyCount * o.manySize) / 1e6;

    return {
      e2e_1gib_s: Number(seconds(e2e.submitToLinkMs).toFixed(2)),
      aria2c_1gib_s: Number(aria.toFixed(2)),
      e2e_vs_aria2c: Number((seconds(e2e.submitToLinkMs) / aria).toFixed(2)),
      seedbox_recipe_1gib_s: Number(qbt.toFixed(2)),
      e2e_vs_recipe: Number((seconds(e2e.submitToLinkMs) / qbt).toFixed(2)),
      download_mb_s: Number((o.size / 1e6 / seconds(e2e.addedToFinishMs)).toFixed(1)),
      cpu_s_per_gib: { seedbox: perGiB("seedbox"), deluge: perGiB("deluge"), store: perGiB("store") },
      swarm1_s: Number(swarm1.toFixed(2)),
      swarm4_s: Number(swarm4.toFixed(2)),
      swarm4_speedup: Number((swarm1 / swarm4).toFixed(2)),
      many8_mb_s: Number((mb / manyS).toFixed(1)),
      many8_aria2c_mb_s: Number((mb / manyAria).toFixed(1)),
      many8_vs_aria2c: Number((manyAria / manyS).toFixed(2)),
      magnet_metadata_ms: Math.round(median(metaMs)),
    };
  } finally {
    for (const sd of seeders) await sd.stop().catch(() => {});
    for (const t of tracked) await t.close();
  }
}
