// Pipeline timings on the real local stack: submit → added in Deluge, and Deluge finished → job
// completed with links, for a payload of BENCH_MB (default 50) MB. Prints a table, then one JSON line.
import { randomBytes } from "node:crypto";
import { cpus } from "node:os";
import { sleep } from "../lib/time.ts";
import { startTestStack } from "../test/support/stack.ts";

const mb = Number(process.env.BENCH_MB ?? 50);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const s = await startTestStack();
const rows: { round: number; submitToAddedMs: number; downloadMs: number; finishToCompletedMs: number }[] = [];
try {
  for (let round = 1; round <= rounds; round++) {
    const made = await s.seed({ name: `bench-${randomBytes(4).toString("hex")}.bin`, single: { path: [], size: mb * 1_000_000 } });
    const r = await s.call("POST", "/api/jobs", { torrent: made.torrent.toString("base64") });
    if (r.status !== 202) throw new Error(`submit answered ${r.status}: ${JSON.stringify(r.body)}`);
    const submitted = performance.now();
    while ((await s.boxClient.status(made.infoHash)) === null) await sleep(5);
    const added = performance.now();
    for (;;) {
      const st = await s.boxClient.status(made.infoHash);
      if (st === null || (st.is_finished && st.state !== "Moving")) break;
      await sleep(10);
    }
    const finished = performance.now();
    for (;;) {
      const j = (await s.call("GET", `/api/jobs/${made.infoHash}`)).body.job;
      if (j.status === "completed") break;
      if (j.status === "failed") throw new Error(`job failed: ${JSON.stringify(j.error)}`);
      await sleep(10);
    }
    const completed = performance.now();
    rows.push({ round, submitToAddedMs: added - submitted, downloadMs: finished - added, finishToCompletedMs: completed - finished });
  }
} finally {
  await s.stop();
}

console.log(`pipeline, ${mb} MB payload, ${rounds} rounds, ${cpus().length} cores (${cpus()[0]?.model ?? "?"})`);
console.log("round  submit→added ms  download ms  finished→completed ms");
for (const r of rows) console.log(`${String(r.round).padEnd(6)} ${r.submitToAddedMs.toFixed(0).padStart(15)} ${r.downloadMs.toFixed(0).padStart(12)} ${r.finishToCompletedMs.toFixed(0).padStart(22)}`);
console.log(JSON.stringify({
  payload_mb: mb,
  rounds,
  submit_to_added_ms_p50: Math.round(median(rows.map((r) => r.submitToAddedMs))),
  finish_to_completed_ms_p50: Math.round(median(rows.map((r) => r.finishToCompletedMs))),
}));
