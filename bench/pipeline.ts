// Pipeline latencies on the real local stack: from the 202 of POST /api/jobs until Deluge holds the
// torrent, and from Deluge's is_finished until the job is completed with links.
import { randomBytes } from "node:crypto";
import { sleep } from "../lib/time.ts";
import type { MadeTorrent } from "../test/support/torrents.ts";
import type { TestStack } from "../test/support/stack.ts";

export interface PipelineRun {
  submitToAddedMs: number;
  /** Deluge has every piece (is_finished, or progress 100 %) → job completed with a link on every file. */
  finishToLinkMs: number;
  /** Deluge holds the torrent → it has every piece: the download alone. */
  addedToFinishMs: number;
  /** The 202 → completed with a link on every file. */
  submitToLinkMs: number;
}

/** Polls Deluge every 5 ms until `ok` holds for the torrent's status; the time it first held. */
async function whenDeluge(s: TestStack, id: string, ok: (st: Awaited<ReturnType<TestStack["boxClient"]["status"]>>) => boolean, timeoutMs: number): Promise<number> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (ok(await s.boxClient.status(id))) return performance.now();
    await sleep(5);
  }
  throw new Error(`torrent ${id}: Deluge never reached the state`);
}

export async function whenLinked(s: TestStack, id: string, timeoutMs: number): Promise<number> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const j = (await s.call("GET", `/api/jobs/${id}`)).body.job;
    if (j.status === "completed" && j.files?.length > 0 && j.files.every((f: { url?: string }) => f.url)) return performance.now();
    if (j.status === "failed") throw new Error(`job failed: ${JSON.stringify(j.error)}`);
    await sleep(5);
  }
  throw new Error(`job ${id} never completed`);
}

/** Submits a seeded torrent and times it through. */
export async function timeJob(s: TestStack, made: MadeTorrent, timeoutMs = 600_000): Promise<PipelineRun> {
  const r = await s.call("POST", "/api/jobs", { torrent: made.torrent.toString("base64") });
  if (r.status !== 202) throw new Error(`submit answered ${r.status}: ${JSON.stringify(r.body)}`);
  const submitted = performance.now();
  const added = await whenDeluge(s, made.infoHash, (st) => st !== null, 30_000);
  // The last piece (progress 100 %, or is_finished: the torrent downloads in place, so Deluge sets it
  // as the last piece is checked).
  const finished = await whenDeluge(s, made.infoHash, (st) => {
    if (st === null) throw new Error(`torrent ${made.infoHash} left Deluge before it was seen finished`);
    return st.is_finished || st.progress >= 100;
  }, timeoutMs);
  const linked = await whenLinked(s, made.infoHash, timeoutMs);
  return { submitToAddedMs: added - submitted, finishToLinkMs: linked - finished, addedToFinishMs: finished - added, submitToLinkMs: linked - submitted };
}

/** `rounds` jobs of a 1 MB payload, one after another. */
export async function pipelineRuns(s: TestStack, rounds: number): Promise<PipelineRun[]> {
  const runs: PipelineRun[] = [];
  for (let i = 0; i < rounds; i++) {
    const made = await s.seed({ name: `bench-${randomBytes(4).toString("hex")}.bin`, single: { path: [], size: 1_000_000 } });
    runs.push(await timeJob(s, made));
  }
  return runs;
}
