// fleet_2_vs_1_wall: the wall time of a batch of torrents on two seedboxes over that on one, at the same
// capped rate per seedbox, so the figure shows what a second host adds. The cap is Deluge's per-torrent
// max_download_speed (T2S_MAX_DOWNLOAD_KIBS) times the torrents a seedbox holds at once (T2S_MAX_TORRENTS):
// Deluge's session-wide cap does not apply on loopback (libtorrent exempts the local network by default).
// One stack with two seedboxes; the one-seedbox run has seedbox-2 stopped. Each job's files are deleted
// after its run (moto keeps objects in memory).
import { randomBytes } from "node:crypto";
import { sleep } from "../lib/time.ts";
import type { TestStack } from "../test/support/stack.ts";
import type { MadeTorrent } from "../test/support/torrents.ts";

export interface FleetRun {
  seedboxes: number;
  wallS: number;
}

/** Once more on a dropped connection: seeding 256 MiB torrents takes long enough for ingest to close an idle keep-alive socket. */
async function again<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    await sleep(500);
    return f();
  }
}

async function batch(s: TestStack, o: { count: number; size: number; seedboxes: number }): Promise<FleetRun> {
  const made: MadeTorrent[] = [];
  for (let i = 0; i < o.count; i++) {
    made.push(await s.seed({ name: `bench-fleet-${o.seedboxes}-${i}-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: o.size }, pieceLength: 1024 * 1024 }));
  }
  const start = performance.now();
  // A submission twice is one job: retrying is harmless.
  for (const m of made) await again(() => s.call("POST", "/api/jobs", { torrent: m.torrent.toString("base64") }));
  for (const m of made) {
    const j = await again(() => s.waitForJob(m.infoHash, (j) => ["completed", "failed", "cancelled"].includes(j.status), 3_600_000));
    if (j.status !== "completed") throw new Error(`bench job ${m.infoHash} ended ${j.status}: ${JSON.stringify(j.error)}`);
  }
  const wallS = (performance.now() - start) / 1000;
  for (const m of made) await s.call("DELETE", `/api/jobs/${m.infoHash}/files`).catch(() => {});
  return { seedboxes: o.seedboxes, wallS };
}

/** `s` has two seedboxes, started with the per-torrent cap and the capacity of the run. */
export async function fleetRun(s: TestStack, o: { count: number; size: number }): Promise<{ one: FleetRun; two: FleetRun; ratio: number }> {
  const box2 = s.seedboxes[1]!;
  await box2.proc.stop();
  const one = await batch(s, { ...o, seedboxes: 1 });
  await box2.start();
  const two = await batch(s, { ...o, seedboxes: 2 });
  return { one, two, ratio: two.wallS / one.wallS };
}
