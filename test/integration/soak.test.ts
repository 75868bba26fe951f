// "Every job ends" (issue #21): a soak on the real local stack. 40 mixed jobs (good torrents, torrents no
// seedbox can take, magnets nobody seeds, resubmissions after a delete, cancels in flight) under faults
// (update publishes refused, a seedbox killed and brought back, concurrent writers on the job records, all
// AWS traffic of the services cut for 20 s). It passes when every job ends within the bound, each
// completed run has one ping in the Discord stand-in's channel and one completed webhook, and the DLQs
// hold nothing new. T2S_SOAK_JOBS scales the count down (the run prints what ran).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SQSClient } from "@aws-sdk/client-sqs";
import bencode from "bencode";
import type { Job } from "../../lib/job.ts";
import { sleep } from "../../lib/time.ts";
import { displayName } from "../../bot/status.ts";
import { repoRoot } from "../../scripts/local/paths.ts";
import { startNoticeRig, type NoticeRig } from "../support/notice-rig.ts";
import { queueDepth } from "../support/queues.ts";
import { testStack } from "../support/shared.ts";
import { clientOptions, type TestStack } from "../support/stack.ts";
import type { MadeTorrent } from "../support/torrents.ts";

/** Every job ends within this long of its submission (the magnets nobody seeds end at 20 s, plus requeues). */
const boundS = 240;
const terminal = (j: Job) => ["completed", "failed", "cancelled"].includes(j.status);
const b64 = (b: Buffer) => b.toString("base64");
const tag = () => randomBytes(3).toString("hex");

let s: TestStack;
let rig: NoticeRig;
let sqs: SQSClient;
let cut = false;

type Kind = "good" | "resubmit" | "too_big" | "no_peers" | "cancel";
interface Planned { kind: Kind; id: string; name: string; body: Record<string, unknown>; hook: string; made?: MadeTorrent }

/** How many of each kind, scaled to `n` jobs (40 by default: 15, 5, 4, 8, 8). */
function mix(n: number): Record<Kind, number> {
  const k = (share: number) => Math.max(1, Math.round((n * share) / 40));
  const m = { resubmit: k(5), too_big: k(4), no_peers: k(8), cancel: k(8) };
  return { good: Math.max(1, n - m.resubmit - m.too_big - m.no_peers - m.cancel), ...m };
}

/** A torrent of 10 TiB: ingest takes it (libtorrent would), and no seedbox's disk can hold it. */
function hugeTorrent(name: string): { id: string; torrent: Buffer } {
  const pieceLength = 2 ** 28;
  const length = 10 * 2 ** 40;
  const info = { name, "piece length": pieceLength, length, pieces: Buffer.alloc((length / pieceLength) * 20, 7) };
  return { id: createHash("sha1").update(bencode.encode(info)).digest("hex"), torrent: Buffer.from(bencode.encode({ info })) };
}

/** A separate process adding requesters to a job through the registry: conflicting writes on its record. */
function conflictingWriter(id: string, who: string, count: number): Promise<number | null> {
  const child = spawn(process.execPath, [join(repoRoot, "test", "support", "db-writer.ts"), s.jobsDb, id, who, String(count)], { stdio: "ignore" });
  return new Promise((resolve) => child.on("exit", resolve));
}

describe("soak: every job ends", () => {
  before(async () => {
    s = await testStack();
    sqs = new SQSClient(clientOptions(s).aws);
    rig = await startNoticeRig(s);
  });

  after(async () => {
    try {
      if (cut) await s.awsProxy.restore();
    } finally {
      sqs?.destroy();
      await rig?.close();
    }
  });

  it("ends every job within the bound, with one completion notice per completed run and no DLQ entry", { timeout: 600_000 }, async () => {
    const n = Math.max(5, Number(process.env.T2S_SOAK_JOBS ?? 40));
    const counts = mix(n);
    const dlqBefore = await Promise.all([s.outputs.requests_dlq_url, s.outputs.facts_dlq_url].map((u) => queueDepth(sqs, u)));
    const requester = { via: "discord", user: rig.user, channelId: rig.sd.channelId };
    const plan: Planned[] = [];
    for (const kind of ["good", "resubmit"] as const) {
      for (let i = 0; i < counts[kind]; i++) {
        const made = await s.seed({ name: `soak-${kind}-${i}-${tag()}.bin`, single: { path: [], size: 150_000 } });
        const body = i % 2 === 0 ? { torrent: b64(made.torrent) } : { magnet: s.magnet(made) };
        plan.push({ kind, id: made.infoHash, name: made.name, made, body, hook: `/hook/soak-${made.infoHash}` });
      }
    }
    for (let i = 0; i < counts.too_big; i++) {
      const name = `soak-huge-${i}-${tag()}.bin`;
      const t = hugeTorrent(name);
      plan.push({ kind: "too_big", id: t.id, name, body: { torrent: b64(t.torrent) }, hook: `/hook/soak-${t.id}` });
    }
    for (const kind of ["no_peers", "cancel"] as const) {
      for (let i = 0; i < counts[kind]; i++) {
        const id = randomBytes(20).toString("hex");
        const name = `soak-${kind}-${i}-${tag()}`;
        plan.push({ kind, id, name, body: { magnet: `magnet:?xt=urn:btih:${id}&dn=${name}` }, hook: `/hook/soak-${id}` });
      }
    }
    const faults: string[] = [];
    const t0 = Date.now();
    const at = () => ((Date.now() - t0) / 1000).toFixed(1);

    // Submissions, with the update publishes refused from the start for 20 s.
    rig.refuse(true);
    faults.push(`update publishes refused 0-20 s`);
    const stopRefusing = sleep(20_000).then(() => rig.refuse(false));
    for (const p of plan) {
      const r = await s.call("POST", "/api/jobs", { ...p.body, callback_url: `${s.files.base}${p.hook}`, requester });
      assert.equal(r.status, 202, `${p.kind} ${p.name}: ${JSON.stringify(r.body)}`);
    }

    // Conflicting writers on a few records while they run.
    const writers = plan.filter((p) => p.kind === "good").slice(0, 3).map((p, k) => conflictingWriter(p.id, `w${k}`, 20));
    faults.push(`${writers.length} concurrent writers × 20 requesters`);

    // Cancels in flight.
    await sleep(3_000);
    for (const p of plan.filter((x) => x.kind === "cancel")) assert.equal((await s.call("DELETE", `/api/jobs/${p.id}`)).status, 200);
    faults.push(`${counts.cancel} cancels at ~${at()} s`);

    // The seedbox killed mid-work and brought back.
    await sleep(2_000);
    s.seedbox.kill("SIGKILL");
    await s.seedbox.exited;
    faults.push(`seedbox kill -9 at ${at()} s`);
    await s.startSeedbox();
    assert.deepEqual((await Promise.all(writers)).filter((c) => c !== 0), [], "every writer finished");
    await stopRefusing;

    // Every AWS endpoint (the S3 store, queues, topics) refuses the services for 20 s.
    await sleep(5_000);
    await s.awsProxy.cut();
    cut = true;
    const cutAt = at();
    await sleep(20_000);
    await s.awsProxy.restore();
    cut = false;
    faults.push(`AWS endpoints cut ${cutAt}-${at()} s`);

    // Resubmissions after a delete: a completed job's files deleted, then the torrent handed in again.
    const resubmitted: Planned[] = [];
    const deadline = t0 + boundS * 1000;
    for (const p of plan.filter((x) => x.kind === "resubmit")) {
      const done = await s.waitForJob(p.id, terminal, Math.max(1000, deadline - Date.now()));
      assert.equal(done.status, "completed", `${p.name}: ${JSON.stringify(done.error)}`);
      assert.equal((await s.call("DELETE", `/api/jobs/${p.id}/files`)).status, 200);
      const again = await s.call("POST", "/api/jobs", { ...p.body, callback_url: `${s.files.base}${p.hook}`, requester });
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.equal(again.body.job.status, "queued");
      resubmitted.push(p);
    }

    // Every job ends within the bound.
    const ends = new Map<string, Job>();
    while (ends.size < plan.length && Date.now() < deadline) {
      for (const p of plan) {
        if (ends.has(p.id)) continue;
        // A resubmitted job was queued again above: its end now is its second run's.
        const j = (await s.call("GET", `/api/jobs/${p.id}`)).body.job as Job;
        if (terminal(j)) ends.set(p.id, j);
      }
      if (ends.size < plan.length) await sleep(1000);
    }
    const lastEndS = (Date.now() - t0) / 1000;
    const open = plan.filter((p) => !ends.has(p.id)).map((p) => `${p.kind} ${p.name}`);
    assert.deepEqual(open, [], `jobs still open after ${boundS} s`);
    const want: Record<Kind, (j: Job) => boolean> = {
      good: (j) => j.status === "completed",
      resubmit: (j) => j.status === "completed",
      too_big: (j) => j.status === "failed" && j.error?.code === "too_big",
      no_peers: (j) => j.status === "failed" && j.error?.code === "no_peers",
      cancel: (j) => j.status === "cancelled",
    };
    for (const p of plan) assert.ok(want[p.kind](ends.get(p.id)!), `${p.kind} ${p.name} ended ${JSON.stringify([ends.get(p.id)!.status, ends.get(p.id)!.error])}`);

    // One completion notice per completed run, in the channel and by webhook (after the sweeper's retries).
    const runs = (p: Planned) => (p.kind === "resubmit" ? 2 : p.kind === "good" ? 1 : 0);
    const pings = (p: Planned) => [...rig.sd.messages.values()].filter((m) => m.mentions.includes(rig.user) && m.content.includes(`**${displayName(p.name)}** is ready`)).length;
    const hooks = (p: Planned) => new Set(s.files.hooks.filter((h) => h.path === p.hook && h.answered === "200" && JSON.parse(h.body).event === "completed").map((h) => h.headers["t2s-event-id"])).size;
    const hookCalls = (p: Planned) => s.files.hooks.filter((h) => h.path === p.hook && h.answered === "200" && JSON.parse(h.body).event === "completed").length;
    const settle = Date.now() + 90_000;
    while (Date.now() < settle && plan.some((p) => pings(p) < runs(p) || hooks(p) < runs(p))) await sleep(1000);
    await sleep(3_000);
    const lost = plan.reduce((k, p) => k + Math.max(0, runs(p) - pings(p)) + Math.max(0, runs(p) - hooks(p)), 0);
    const extra = plan.reduce((k, p) => k + Math.max(0, pings(p) - runs(p)) + Math.max(0, hookCalls(p) - runs(p)), 0);
    const dlqAfter = await Promise.all([s.outputs.requests_dlq_url, s.outputs.facts_dlq_url].map((u) => queueDepth(sqs, u)));
    console.log(`# soak: ${plan.length} jobs (${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(", ")}); ` +
      `faults: ${faults.join("; ")}; update publishes refused: ${rig.refused()}; last terminal state at ${lastEndS.toFixed(1)} s (bound ${boundS} s); ` +
      `lost notices: ${lost}; repeated notices: ${extra}; new DLQ messages: ${dlqAfter[0]! - dlqBefore[0]!} requests, ${dlqAfter[1]! - dlqBefore[1]!} facts`);
    const short = plan.filter((p) => pings(p) !== runs(p) || hooks(p) !== runs(p) || hookCalls(p) !== runs(p))
      .map((p) => `${p.kind} ${p.name}: ${runs(p)} runs, ${pings(p)} pings, ${hookCalls(p)} completed webhooks`);
    assert.equal(lost, 0, `lost notices: ${short.join("; ")}`);
    assert.equal(extra, 0, `repeated notices: ${short.join("; ")}`);
    assert.deepEqual(dlqAfter, dlqBefore, "nothing new in a DLQ (no poison in this soak)");
    for (const p of plan.filter((x) => x.made && x.kind === "good").slice(0, 3)) await s.checkLinks(ends.get(p.id)!, p.made!);
  });
});
