// Overlapped upload: a large single-file torrent downloaded at a capped rate, timed from the last
// piece (Deluge's progress at 100 %) until the link, with the seedbox's overlap on and then off.
import { randomBytes } from "node:crypto";
import type { TestStack } from "../test/support/stack.ts";
import { timeJob } from "./pipeline.ts";

export interface OverlapRun {
  overlap: boolean;
  downloadMiBs: number;
  finishToLinkS: number;
}

export async function overlapRun(s: TestStack, o: { overlap: boolean; size: number; rateKiBs: number }): Promise<OverlapRun> {
  const made = await s.seed({ name: `bench-overlap-${randomBytes(4).toString("hex")}.bin`, single: { path: [], size: o.size }, pieceLength: 1024 * 1024 });
  await s.seedbox.stop();
  await s.startSeedbox({ T2S_MAX_DOWNLOAD_KIBS: String(o.rateKiBs), T2S_OVERLAP_UPLOAD: o.overlap ? "on" : "off" });
  try {
    const run = await timeJob(s, made, 900_000);
    return { overlap: o.overlap, downloadMiBs: o.rateKiBs / 1024, finishToLinkS: run.finishToLinkMs / 1000 };
  } finally {
    await s.call("DELETE", `/api/jobs/${made.infoHash}`).catch(() => {});
  }
}
