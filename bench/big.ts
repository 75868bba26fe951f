// One big single-file torrent through the local stack, as a home server would get it: its time, the
// peak RSS summed over the stack's own processes (ingest, seedbox, the local store, moto; Deluge is
// left out, since libtorrent 2 maps files into memory), and what the payload takes on the store's disk.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "../scripts/local/proc.ts";
import type { TestStack } from "../test/support/stack.ts";
import { timeJob } from "./pipeline.ts";

export interface BigRun {
  sizeGiB: number;
  /** POST → completed with a link. */
  wallS: number;
  finishToLinkS: number;
  peakRssMb: number;
  peakRssMbBy: Record<string, number>;
  /** Bytes the store's folder grew by, over the payload's size (1.0: the payload is there once). */
  storeDiskRatio: number;
}

async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

const duBytes = async (dir: string) => Number((await run("du", ["-sb", dir])).split("\t")[0]);

export async function bigRun(s: TestStack, o: { size: number }): Promise<BigRun> {
  const made = await s.seed({ name: `bench-big-${randomBytes(4).toString("hex")}.bin`, single: { path: [], size: o.size }, pieceLength: 4 * 1024 * 1024 });
  const storeDir = join(s.dataDir, "s3");
  const diskBefore = await duBytes(storeDir);
  const procs = { ingest: s.ingest.pid, seedbox: s.seedbox.pid, store: s.store.proc.pid, moto: s.moto.proc.pid };
  const peakBy: Record<string, number> = {};
  let peakSum = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      let sum = 0;
      for (const [name, pid] of Object.entries(procs)) {
        const kb = await rssKb(pid);
        peakBy[name] = Math.max(peakBy[name] ?? 0, kb);
        sum += kb;
      }
      peakSum = Math.max(peakSum, sum);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  const t0 = performance.now();
  try {
    const timing = await timeJob(s, made, 3_600_000);
    const wallS = (performance.now() - t0) / 1000;
    const diskAfter = await duBytes(storeDir);
    return {
      sizeGiB: o.size / 1024 ** 3,
      wallS,
      finishToLinkS: timing.finishToLinkMs / 1000,
      peakRssMb: peakSum / 1024,
      peakRssMbBy: Object.fromEntries(Object.entries(peakBy).map(([k, v]) => [k, Math.round(v / 1024)])),
      storeDiskRatio: (diskAfter - diskBefore) / o.size,
    };
  } finally {
    sampling = false;
    await sampler;
    // Free the disk for what runs next: the job's files, and the seeder's copy.
    await s.call("DELETE", `/api/jobs/${made.infoHash}/files`).catch(() => {});
    await s.seederClient.remove(made.infoHash, true).catch(() => {});
  }
}
