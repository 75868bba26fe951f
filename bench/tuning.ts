// The libtorrent settings one at a time: a 1 GiB download (BENCH_TUNE_MB) from one seeder on 127.0.0.2
// running libtorrent's defaults, into a fresh Deluge with each variant, Deluge to Deluge (no upload).
// `BENCH_ONLY=tuning npm run bench`. Figures: MB/s and Deluge's CPU seconds per GiB.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../lib/log.ts";
import { sleep } from "../lib/time.ts";
import { startDeluge, type DelugeHandle } from "../scripts/local/deluge.ts";
import { Deluge } from "../seedbox/deluge.ts";
import { tuningSettings, type SettingValue } from "../seedbox/deluge-tuning.ts";
import { makeTorrent, type MadeTorrent } from "../test/support/torrents.ts";
import { cpuSeconds } from "./cpu.ts";

const log = createLogger("bench", { level: "error" });
export const clientOf = (d: DelugeHandle) => new Deluge({ url: d.webUrl, password: d.password, daemonPort: d.daemonPort, log });

/** deluge-web can answer "Unknown method" for a moment after it connects (it is still fetching the daemon's list). */
export async function whenReady(c: Deluge): Promise<Deluge> {
  for (const deadline = Date.now() + 30_000; ; await sleep(200)) {
    try {
      await c.call("core.get_session_state", []);
      return c;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
  }
}

/** Starts a Deluge on `address` seeding `made` from its folder, optionally capped (KiB/s); resolves once it seeds. */
export async function startSeeder(tmp: string, name: string, address: string, made: MadeTorrent[], o: { uploadKiBs?: number; libtorrent?: Record<string, SettingValue> } = {}): Promise<{ handle: DelugeHandle; client: Deluge }> {
  const handle = await startDeluge({ dir: join(tmp, name), logDir: tmp, name, downloadDir: join(tmp, `${name}-dl`), offline: true, maxActive: -1, peerAddress: address, libtorrent: o.libtorrent ?? {} });
  const client = await whenReady(clientOf(handle));
  // libtorrent exempts peers on the local network (loopback too) from rate limits unless told otherwise.
  if (o.uploadKiBs) await client.setConfig({ max_upload_speed: o.uploadKiBs, ignore_limits_on_local_network: false });
  for (const m of made) await client.addTorrentFile(`${m.infoHash}.torrent`, m.torrent, { download_location: m.seedDir, move_completed: false, move_completed_path: m.seedDir });
  for (const m of made) {
    for (const deadline = Date.now() + 120_000; ; await sleep(200)) {
      if ((await client.status(m.infoHash))?.state === "Seeding") break;
      if (Date.now() > deadline) throw new Error(`${name} never seeded ${m.name}`);
    }
  }
  return { handle, client };
}

export interface TuneRun {
  variant: string;
  mbS: number;
  delugeCpuSPerGiB: number;
}

/** Downloads `made` from the seeder into a new Deluge with `settings`; stops after `limitS` and rates what it got. */
async function downloadWith(tmp: string, variant: string, settings: Record<string, SettingValue>, made: MadeTorrent, seeder: DelugeHandle, limitS: number): Promise<TuneRun> {
  const name = `tune-${randomBytes(3).toString("hex")}`;
  const d = await startDeluge({ dir: join(tmp, name), logDir: tmp, name, downloadDir: join(tmp, `${name}-dl`), offline: true, libtorrent: settings });
  try {
    const c = await whenReady(clientOf(d));
    const cpu0 = await cpuSeconds(d.daemon.pid);
    const t0 = performance.now();
    await c.addTorrentFile(`${made.infoHash}.torrent`, made.torrent, { download_location: join(tmp, `${name}-dl`), move_completed: false, move_completed_path: join(tmp, `${name}-dl`) });
    await c.connectPeer(made.infoHash, "127.0.0.2", seeder.listenPort);
    let done = 0;
    for (;;) {
      const st = await c.status(made.infoHash);
      done = st?.total_done ?? 0;
      if (st && st.progress >= 100) break;
      if ((performance.now() - t0) / 1000 > limitS) break;
      await sleep(100);
    }
    const s = (performance.now() - t0) / 1000;
    const cpu = (await cpuSeconds(d.daemon.pid)) - cpu0;
    return { variant, mbS: done / 1e6 / s, delugeCpuSPerGiB: cpu / (done / 1024 ** 3) };
  } finally {
    await d.stop();
    await rm(join(tmp, `${name}-dl`), { recursive: true, force: true });
  }
}

export async function tuningRuns(o: { size: number; limitS: number; rounds: number }): Promise<TuneRun[]> {
  const tmp = await mkdtemp(join(tmpdir(), "t2s-tune-"));
  try {
    const made = await makeTorrent({ name: `tune-${randomBytes(4).toString("hex")}.bin`, single: { path: [], size: o.size }, dir: join(tmp, "payload"), pieceLength: 1024 * 1024 });
    const { handle: seeder } = await startSeeder(tmp, "seeder", "127.0.0.2", [made]);
    const table = tuningSettings();
    const noUtp = { enable_outgoing_utp: false, enable_incoming_utp: false };
    const variants: [string, Record<string, SettingValue>][] = [
      ["libtorrent defaults (uTP)", {}],
      ["prefer TCP (mixed_mode_algorithm 0), uTP on", { mixed_mode_algorithm: 0 }],
      ["uTP off", noUtp],
      ["uTP off + aio_threads 4, hashing_threads 2", { ...noUtp, aio_threads: 4, hashing_threads: 2 }],
      ["uTP off + aio_threads 16", { ...noUtp, aio_threads: 16 }],
      ["uTP off + socket buffers 4 MiB", { ...noUtp, send_socket_buffer_size: 4 << 20, recv_socket_buffer_size: 4 << 20 }],
      ["the seedbox's table", table],
    ];
    const only = process.env.BENCH_TUNE_VARIANTS?.split(",").map(Number);
    const runs: TuneRun[] = [];
    for (let r = 0; r < o.rounds; r++) {
      for (const [i, [variant, settings]] of variants.entries()) {
        if (only && !only.includes(i)) continue;
        const run = await downloadWith(tmp, variant, settings, made, seeder, o.limitS);
        process.stderr.write(`bench: tuning: ${variant}: ${run.mbS.toFixed(1)} MB/s, Deluge ${run.delugeCpuSPerGiB.toFixed(1)} CPU s/GiB\n`);
        runs.push(run);
      }
    }
    await seeder.stop();
    return runs;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
