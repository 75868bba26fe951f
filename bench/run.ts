// `npm run bench`: the whole set against the real local stack (the disk-backed store, moto, Deluge, a
// seeding peer). Prints a table per part, then one JSON line with the figures. Sizes and rounds can be
// turned down for a quick look: BENCH_UPLOAD_MB, BENCH_UPLOAD_ROUNDS, BENCH_OVERLAP_MB, BENCH_RATE_KIBS,
// BENCH_SUBMITS, BENCH_FACTS, BENCH_BIG_GB, BENCH_RESTARTS. BENCH_ONLY=store runs the job store's part
// alone; BENCH_ONLY=interactions the Discord function's; BENCH_ONLY=durable the big torrent and restarts;
// BENCH_ONLY=fleet two seedboxes against one (BENCH_FLEET_MB, BENCH_FLEET_JOBS, BENCH_FLEET_RATE_KIBS);
// BENCH_ONLY=arr the qBittorrent API and t2s sync against e2e (BENCH_ARR_MB); BENCH_ONLY=finish the
// finish → link latency alone (BENCH_SUBMITS jobs).
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { startTestStack } from "../test/support/stack.ts";
import { arrRun } from "./arr.ts";
import { bigRun, type BigRun } from "./big.ts";
import { fleetRun } from "./fleet.ts";
import { overlapRun, type OverlapRun } from "./overlap.ts";
import { pipelineRuns } from "./pipeline.ts";
import { interactionsRun, printInteractions } from "./interactions.ts";
import { storeRun } from "./store.ts";
import { tuningRuns } from "./tuning.ts";
import { lineRateRun, type LineRate } from "./line-rate.ts";
import { median, percentile } from "./stats.ts";
import { compareUploads, tools, type UploadRun } from "./upload.ts";

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const MiB = 1024 * 1024;
const uploadSize = env("BENCH_UPLOAD_MB", 1024) * MiB;
const uploadRounds = env("BENCH_UPLOAD_ROUNDS", 3);
const overlapSize = env("BENCH_OVERLAP_MB", 1024) * MiB;
const rateKiBs = env("BENCH_RATE_KIBS", 20 * 1024);
const submits = env("BENCH_SUBMITS", 20);
const factCount = env("BENCH_FACTS", 2000);
const bigSize = env("BENCH_BIG_GB", 8) * 1024 * MiB;
const restartRounds = env("BENCH_RESTARTS", 3);
const only = process.env.BENCH_ONLY;
// BENCH_SKIP=store,fleet,line-rate leaves those parts out of a whole run (their own BENCH_ONLY runs still work).
const skip = new Set((process.env.BENCH_SKIP ?? "").split(",").map((x) => x.trim()));
const say = (line: string) => process.stderr.write(`bench: ${line}\n`);
const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);

const fleetJobs = env("BENCH_FLEET_JOBS", 8);
const fleetSize = env("BENCH_FLEET_MB", 256) * MiB;
const fleetRate = env("BENCH_FLEET_RATE_KIBS", 8 * 1024);
/** Two seedboxes against one, on a stack of its own (two seedboxes, each with its own Deluge). */
async function fleetPart(): Promise<{ fleet_2_vs_1_wall: number }> {
  say(`fleet: ${fleetJobs} × ${fleetSize / MiB} MiB at ${fleetRate / 1024} MiB/s per seedbox, two seedboxes against one`);
  // Each seedbox holds half the batch at most (with one, the rest wait in the queue), each torrent capped
  // so that a seedbox downloads at fleetRate in all.
  const perSeedbox = Math.ceil(fleetJobs / 2);
  const fs = await startTestStack({ seedboxes: 2, seedboxEnv: { T2S_MAX_TORRENTS: String(perSeedbox), T2S_MAX_DOWNLOAD_KIBS: String(Math.floor(fleetRate / perSeedbox)) } });
  try {
    const r = await fleetRun(fs, { count: fleetJobs, size: fleetSize });
    console.log(`fleet: ${fleetJobs} × ${fleetSize / MiB} MiB at ${fleetRate / 1024} MiB/s per seedbox`);
    console.log(`one seedbox:  ${f1(r.one.wallS)} s`);
    console.log(`two seedboxes: ${f1(r.two.wallS)} s  (fleet_2_vs_1_wall ${f2(r.ratio)})`);
    return { fleet_2_vs_1_wall: Number(r.ratio.toFixed(3)) };
  } finally {
    await fs.stop();
  }
}
if (only === "tuning") {
  const runs = await tuningRuns({ size: env("BENCH_TUNE_MB", 1024) * MiB, limitS: env("BENCH_TUNE_LIMIT_S", 60), rounds: env("BENCH_TUNE_ROUNDS", 1) });
  console.log(`libtorrent settings, one at a time: ${env("BENCH_TUNE_MB", 1024)} MiB from one default-settings seeder, Deluge to Deluge`);
  console.log("variant                                          MB/s   Deluge CPU s/GiB");
  for (const r of runs) console.log(`${r.variant.padEnd(46)} ${f1(r.mbS).padStart(7)} ${f1(r.delugeCpuSPerGiB).padStart(10)}`);
  // Medians per variant, in the order they ran.
  const variants = [...new Set(runs.map((r) => r.variant))];
  console.log(JSON.stringify(Object.fromEntries(variants.map((v, i) => [`tune_${i}_mb_s`, Number(median(runs.filter((r) => r.variant === v).map((r) => r.mbS)).toFixed(1))]))));
  process.exit(0);
}
const lineRateOptions = (dir: string) => ({
  dir,
  size: env("BENCH_LINE_MB", 1024) * MiB,
  swarmSize: env("BENCH_SWARM_MB", 512) * MiB,
  swarmKiBs: env("BENCH_SWARM_KIBS", 10 * 1024),
  manyCount: env("BENCH_MANY", 8),
  manySize: env("BENCH_MANY_MB", 256) * MiB,
});
const lineRateTable = (r: LineRate) => {
  console.log(`line rate, side by side (same seeder, same payload)    seconds`);
  console.log(`the stack: 1 GiB .torrent, submit → completed with a link ${f1(r.e2e_1gib_s).padStart(7)}`);
  console.log(`aria2c alone, download only                             ${f1(r.aria2c_1gib_s).padStart(7)}   (stack / aria2c ${f2(r.e2e_vs_aria2c)})`);
  console.log(`qbittorrent-nox, then aws s3 cp to the same store       ${f1(r.seedbox_recipe_1gib_s).padStart(7)}   (stack / recipe ${f2(r.e2e_vs_recipe)})`);
  console.log(`download rate in the stack: ${f1(r.download_mb_s)} MB/s; CPU s per GiB: seedbox ${r.cpu_s_per_gib.seedbox}, Deluge ${r.cpu_s_per_gib.deluge}, store ${r.cpu_s_per_gib.store}`);
  console.log(`swarm: 1 seeder ${f1(r.swarm1_s)} s, 4 seeders ${f1(r.swarm4_s)} s (speedup ${f2(r.swarm4_speedup)})`);
  console.log(`many at once: the stack ${f1(r.many8_mb_s)} MB/s, aria2c ${f1(r.many8_aria2c_mb_s)} MB/s (${f2(r.many8_vs_aria2c)} of aria2c)`);
  console.log(`a magnet's metadata from a peer: ${r.magnet_metadata_ms} ms (median of 5)`);
};
const lineRateLine = (r: LineRate) => {
  const { cpu_s_per_gib: cpu, ...rest } = r;
  return { ...rest, seedbox_cpu_s_per_gib: cpu.seedbox, deluge_cpu_s_per_gib: cpu.deluge, store_cpu_s_per_gib: cpu.store };
};
if (only === "finish") {
  const s = await startTestStack();
  try {
    const runs = await pipelineRuns(s, submits);
    const linked = runs.map((r) => r.finishToLinkMs);
    console.log(`finish → link, ${submits} jobs of 1 MB: p50 ${f1(median(linked))} ms, p95 ${f1(percentile(linked, 95))} ms`);
    console.log(JSON.stringify({ finish_to_link_ms_p50: Math.round(median(linked)), finish_to_link_ms_p95: Math.round(percentile(linked, 95)) }));
  } finally {
    await s.stop();
  }
  process.exit(0);
}

if (only === "line-rate") {
  const s = await startTestStack();
  const dir = await mkdtemp(join(tmpdir(), "t2s-bench-"));
  try {
    say("10 jobs of 1 MB: finish → link");
    const linked = (await pipelineRuns(s, 10)).map((r) => r.finishToLinkMs);
    const r = await lineRateRun(s, lineRateOptions(dir));
    lineRateTable(r);
    console.log(`finish → link, 10 jobs of 1 MB: p50 ${f1(median(linked))} ms`);
    console.log(JSON.stringify({ ...lineRateLine(r), finish_to_link_ms_p50: Math.round(median(linked)) }));
  } finally {
    await s.stop();
    await rm(dir, { recursive: true, force: true });
  }
  process.exit(0);
}
if (only === "fleet") {
  console.log(JSON.stringify(await fleetPart()));
  process.exit(0);
}

say("Discord interactions function: cold start and bundle size");
const interactionsLine = printInteractions(await interactionsRun());
if (only === "interactions") {
  console.log(JSON.stringify(interactionsLine));
  process.exit(0);
}

/** A big torrent, then restarts of the whole stack on its data folder (graceful, then kill -9). */
async function durableRun(s: Awaited<ReturnType<typeof startTestStack>>) {
  say(`a ${bigSize / 1024 / MiB} GiB single-file torrent through the local stack`);
  const big = await bigRun(s, { size: bigSize });
  // At once, so a long run's figures outlive a later failure.
  say(`big torrent: ${JSON.stringify(big)}`);
  const restarts: { graceful: number[]; kill9: number[] } = { graceful: [], kill9: [] };
  for (let i = 0; i < restartRounds; i++) {
    say(`restart ${i + 1} of ${restartRounds}: graceful stop then start, kill -9 of everything then start`);
    restarts.graceful.push(await s.restart({ hard: false }));
    restarts.kill9.push(await s.restart({ hard: true }));
    say(`restart ${i + 1}: ${f1(restarts.graceful.at(-1)!)} s, after kill -9 ${f1(restarts.kill9.at(-1)!)} s`);
  }
  return { big, restarts };
}
const durableTable = ({ big, restarts }: { big: BigRun; restarts: { graceful: number[]; kill9: number[] } }) => {
  console.log(`${f1(big.sizeGiB)} GiB torrent: ${f1(big.wallS)} s submit → link, ${f2(big.finishToLinkS)} s last piece → link`);
  console.log(`  peak RSS of the stack's processes (Deluge excluded): ${f1(big.peakRssMb)} MB in all (${Object.entries(big.peakRssMbBy).map(([k, v]) => `${k} ${v}`).join(", ")})`);
  console.log(`  the store's folder grew by ${f2(big.storeDiskRatio)} × the payload`);
  console.log(`start → ready after a graceful stop: ${restarts.graceful.map(f1).join(", ")} s; after kill -9 of everything: ${restarts.kill9.map(f1).join(", ")} s`);
};
const durableLine = ({ big, restarts }: { big: BigRun; restarts: { graceful: number[]; kill9: number[] } }) => ({
  restart_to_ready_s: Number(median(restarts.graceful).toFixed(2)),
  restart_to_ready_after_kill9_s: Number(median(restarts.kill9).toFixed(2)),
  [`local_peak_rss_mb_${Math.round(big.sizeGiB)}gib`]: Math.round(big.peakRssMb),
  [`local_wall_s_${Math.round(big.sizeGiB)}gib`]: Number(big.wallS.toFixed(1)),
  store_disk_per_payload: Number(big.storeDiskRatio.toFixed(3)),
});
if (only === "durable") {
  const s = await startTestStack();
  try {
    const d = await durableRun(s);
    durableTable(d);
    console.log(JSON.stringify(durableLine(d)));
  } finally {
    await s.stop();
  }
  process.exit(0);
}

if (only === "arr") {
  const size = env("BENCH_ARR_MB", 256) * MiB;
  say(`arr: ${size / MiB} MiB through the qBittorrent API until complete after t2s sync, against e2e`);
  const s = await startTestStack();
  try {
    const r = await arrRun(s, { size });
    console.log(`${size / MiB} MiB: e2e (POST /api/jobs → completed) ${f1(r.e2eS)} s; qBittorrent API add → complete after t2s sync ${f1(r.arrS)} s`);
    console.log(JSON.stringify({ arr_add_to_complete_s: Number(r.arrS.toFixed(1)), arr_e2e_s: Number(r.e2eS.toFixed(1)) }));
  } finally {
    await s.stop();
  }
  process.exit(0);
}
const storePart = async () => {
  say(`job store: AWS calls at 10 and 10,000 jobs, one page at 10,000, ${factCount} facts`);
  const store = await storeRun({ facts: factCount, listRounds: 50 });
  const line = {
    aws_calls_per_list_10k: store.callsAt10k.list!,
    aws_calls_per_fact_10k: store.callsAt10k.fact!,
    aws_calls_per_post_10k: store.callsAt10k.post!,
    list_ms_p50_10k: Number(store.listMsP50At10k.toFixed(1)),
    list_ms_p50_10k_moto_dynamodb: Number(store.listMsP50At10kMoto.toFixed(1)),
    facts_per_s: Math.round(store.factsPerS),
  };
  const table = () => {
    console.log("job store (moto; AWS calls counted by a proxy)     10 jobs   10,000 jobs");
    for (const k of ["list", "fact", "post"]) console.log(`AWS calls per ${k.padEnd(36)} ${String(store.callsAt10[k]).padStart(7)} ${String(store.callsAt10k[k]).padStart(13)}`);
    console.log(`one page (50) at 10,000 jobs from a local ingest, p50: ${f1(store.listMsP50At10k)} ms on SQLite, ${f1(store.listMsP50At10kMoto)} ms on moto's DynamoDB`);
    console.log(`facts applied by one local ingest (SQLite): ${Math.round(store.factsPerS)}/s`);
  };
  return { line, table };
};
const { line: storeLine, table: storeTable } = skip.has("store") && only !== "store" ? { line: {}, table: () => {} } : await storePart();
if (only === "store") {
  storeTable();
  console.log(JSON.stringify(storeLine));
  process.exit(0);
}

const tmp = await mkdtemp(join(tmpdir(), "t2s-bench-"));
say("starting the local stack");
const s = await startTestStack();
let pipeline: Awaited<ReturnType<typeof pipelineRuns>>;
let uploads: UploadRun[];
const overlaps: OverlapRun[] = [];
let durable: Awaited<ReturnType<typeof durableRun>>;
let lineRate: LineRate | null = null;
try {
  say(`${submits} jobs of 1 MB: submit→added and finish→link`);
  pipeline = await pipelineRuns(s, submits);
  if (!skip.has("line-rate")) lineRate = await lineRateRun(s, lineRateOptions(tmp));
  say(`upload of ${uploadSize / MiB} MiB: torrent2s3 vs aws s3 cp vs rclone copyto, ${uploadRounds} rounds`);
  uploads = await compareUploads({ endpoint: s.store.endpoint, storePid: s.store.proc.pid, keys: s.keys, dir: tmp, size: uploadSize, rounds: uploadRounds });
  for (const overlap of [true, false]) {
    say(`${overlapSize / MiB} MiB torrent at ${rateKiBs / 1024} MiB/s, overlapped upload ${overlap ? "on" : "off"}`);
    overlaps.push(await overlapRun(s, { overlap, size: overlapSize, rateKiBs }));
  }
  await s.seedbox.stop();
  await s.startSeedbox();
  durable = await durableRun(s);
} finally {
  await s.stop();
  await rm(tmp, { recursive: true, force: true });
}

const fleetLine = skip.has("fleet") ? {} : await fleetPart();

const added = pipeline.map((r) => r.submitToAddedMs);
// finish→link over the first 10 of the jobs.
const linked = pipeline.slice(0, 10).map((r) => r.finishToLinkMs);
const by = (tool: string, k: "wallS" | "cpuS" | "peakRssMb" | "storeCpuS") => uploads.filter((u) => u.tool === tool).map((u) => u[k]);
const med = (tool: string, k: "wallS" | "cpuS" | "peakRssMb" | "storeCpuS") => median(by(tool, k));
const peak = (tool: string) => Math.max(...by(tool, "peakRssMb"));
const on = overlaps.find((o) => o.overlap)!;
const off = overlaps.find((o) => !o.overlap)!;

console.log(`torrent2s3 benchmarks — ${new Date().toISOString()} — ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB`);
console.log("");
console.log(`pipeline (${submits} jobs of 1 MB)        p50        p95`);
console.log(`submit → added in Deluge (ms)  ${f1(median(added)).padStart(9)}  ${f1(percentile(added, 95)).padStart(9)}`);
console.log(`finish → link, 10 jobs (ms)    ${f1(median(linked)).padStart(9)}  ${f1(percentile(linked, 95)).padStart(9)}`);
console.log("");
console.log(`upload of ${uploadSize / MiB} MiB to the local store, ${uploadRounds} rounds (median; peak RSS is the max)`);
console.log("tool          wall s   CPU s   peak RSS MB   store CPU s   per round (wall/CPU)");
for (const t of tools) {
  const rounds = uploads.filter((u) => u.tool === t).map((u) => `${f1(u.wallS)}/${f1(u.cpuS)}`).join("  ");
  console.log(`${t.padEnd(12)} ${f2(med(t, "wallS")).padStart(7)} ${f2(med(t, "cpuS")).padStart(7)} ${f1(peak(t)).padStart(13)} ${f2(med(t, "storeCpuS")).padStart(13)}   ${rounds}`);
}
console.log("");
console.log(`overlapped upload: ${overlapSize / MiB} MiB single file at ${rateKiBs / 1024} MiB/s`);
console.log(`overlap on:  last piece → link ${f2(on.finishToLinkS)} s`);
console.log(`overlap off: last piece → link ${f2(off.finishToLinkS)} s (baseline)`);
console.log("");
if (lineRate) lineRateTable(lineRate);
console.log("");
durableTable(durable);
console.log("");
storeTable();
console.log(JSON.stringify({
  submit_to_added_ms_p50: Math.round(median(added)),
  submit_to_added_ms_p95: Math.round(percentile(added, 95)),
  finish_to_link_ms_p50: Math.round(median(linked)),
  upload_wall_vs_awscli: Number((med("torrent2s3", "wallS") / med("awscli", "wallS")).toFixed(3)),
  upload_cpu_vs_awscli: Number((med("torrent2s3", "cpuS") / med("awscli", "cpuS")).toFixed(3)),
  upload_cpu_vs_rclone: Number((med("torrent2s3", "cpuS") / med("rclone", "cpuS")).toFixed(3)),
  upload_peak_rss_mb: Number(peak("torrent2s3").toFixed(1)),
  upload_store_cpu_s: Number(med("torrent2s3", "storeCpuS").toFixed(2)),
  awscli_peak_rss_mb: Number(peak("awscli").toFixed(1)),
  rclone_peak_rss_mb: Number(peak("rclone").toFixed(1)),
  overlap_finish_to_link_s: Number(on.finishToLinkS.toFixed(2)),
  overlap_off_finish_to_link_s: Number(off.finishToLinkS.toFixed(2)),
  ...(lineRate ? lineRateLine(lineRate) : {}),
  ...durableLine(durable),
  ...storeLine,
  ...interactionsLine,
  ...fleetLine,
}));
