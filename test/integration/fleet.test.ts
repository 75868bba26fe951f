// Two seedboxes on one queue (T2S_SEEDBOXES=2), each with its own Deluge, against the real local stack:
// jobs spread over both; a seedbox killed for good mid-download loses nothing (its jobs move to the other
// once their leases run out); one that comes back after its lease was taken drops the job; a cancel
// reaches the seedbox that holds the job.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import type { Job } from "../../lib/job.ts";
import { sleep } from "../../lib/time.ts";
import { clientOptions, startTestStack, testLeaseEnv, type TestStack } from "../support/stack.ts";
import type { MadeTorrent } from "../support/torrents.ts";

let s: TestStack;
let s3: S3Client;
const ended = (j: Job) => ["completed", "failed", "cancelled"].includes(j.status);
const b64 = (b: Buffer) => b.toString("base64");
const leaseTimeoutS = Number(testLeaseEnv.T2S_LEASE_TIMEOUT_S);
const job = async (id: string) => (await s.call("GET", `/api/jobs/${id}`)).body.job as Job;
const count = (service: string, msg: string, id: string) => s.logs.filter((l) => l.service === service && l.msg === msg && l.job === id).length;

async function objects(id: string): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: s.outputs.bucket, Prefix: `files/${id}/` }));
  return (out.Contents ?? []).map((o) => o.Key!).sort();
}

async function torrentsIn(box: number): Promise<string[]> {
  // A Deluge just started again takes a moment before deluge-web reaches it.
  for (let attempt = 1; ; attempt++) {
    try {
      return Object.keys(await s.boxClients[box]!.call<Record<string, unknown>>("core.get_torrents_status", [{}, ["state"]]));
    } catch (err) {
      if (attempt >= 50) throw err;
      await sleep(200);
    }
  }
}

describe("fleet: two seedboxes, leases", () => {
  before(async () => {
    s = await startTestStack({
      seedboxes: 2,
      // Four jobs at most per seedbox, each capped, so that downloads last long enough to kill one mid-way.
      seedboxEnv: { T2S_MAX_TORRENTS: "4", T2S_MAX_DOWNLOAD_KIBS: "1024" },
    });
    s3 = new S3Client(clientOptions(s).s3);
  });
  after(async () => {
    s3?.destroy();
    await s?.stop();
  });

  const made: MadeTorrent[] = [];
  const killedJobs: string[] = [];

  it("spreads 8 jobs over both seedboxes; kill -9 one mid-download for good: its jobs complete on the other, 0 lost, 0 duplicated, identical bytes", async () => {
    for (let i = 0; i < 8; i++) made.push(await s.seed({ name: `fleet-${i}-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 8 * 1024 * 1024 } }));
    for (const m of made) assert.equal((await s.call("POST", "/api/jobs", { torrent: b64(m.torrent) })).status, 202);
    // Who holds what, as the jobs show it.
    const holders = new Map<string, Set<string>>(made.map((m) => [m.infoHash, new Set<string>()]));
    const look = async () => {
      for (const m of made) {
        const j = await job(m.infoHash);
        if (j.seedbox) holders.get(m.infoHash)!.add(j.seedbox);
      }
    };
    let onTwo: Job[] = [];
    for (let i = 0; i < 300; i++) {
      await look();
      onTwo = (await Promise.all(made.map((m) => job(m.infoHash)))).filter((j) => j.seedbox === "seedbox-2" && j.status === "downloading" && j.progress > 0.1);
      if (onTwo.length > 0) break;
      await sleep(100);
    }
    assert.ok(onTwo.length > 0, "seedbox-2 never downloaded a job");
    const held = (who: string) => made.filter((m) => holders.get(m.infoHash)!.has(who)).length;
    const spread = { "seedbox-1": held("seedbox-1"), "seedbox-2": held("seedbox-2") };
    assert.ok(spread["seedbox-1"] > 0 && spread["seedbox-2"] > 0, `not spread: ${JSON.stringify(spread)}`);

    // The host dies: the seedbox by SIGKILL, and its Deluge with it. It stays down.
    const box2 = s.seedboxes[1]!;
    for (const m of made) if ((await job(m.infoHash)).seedbox === "seedbox-2") killedJobs.push(m.infoHash);
    const killedAt = Date.now();
    box2.proc.kill("SIGKILL");
    await box2.proc.exited;
    await box2.deluge.stopDaemon();

    const recoveredAt = new Map<string, number>();
    const doneAt = new Map<string, number>();
    const deadline = Date.now() + (leaseTimeoutS + 120) * 1000;
    while (doneAt.size < made.length && Date.now() < deadline) {
      for (const m of made) {
        const j = await job(m.infoHash);
        if (j.seedbox) holders.get(m.infoHash)!.add(j.seedbox);
        if (killedJobs.includes(m.infoHash) && j.seedbox === "seedbox-1" && !recoveredAt.has(m.infoHash)) recoveredAt.set(m.infoHash, Date.now());
        if (ended(j) && !doneAt.has(m.infoHash)) doneAt.set(m.infoHash, Date.now());
      }
      await sleep(200);
    }
    let lost = 0;
    let duplicated = 0;
    for (const m of made) {
      const j = await job(m.infoHash);
      if (j.status !== "completed") {
        lost++;
        continue;
      }
      await s.checkLinks(j, m);
      // Once: one completion, and nothing in the bucket but the job's file and its manifest.
      if (count("ingest", "job completed", m.infoHash) !== 1) duplicated++;
      const keys = await objects(m.infoHash);
      if (keys.length !== 2) duplicated++;
    }
    const firstTakeover = Math.min(...killedJobs.map((id) => recoveredAt.get(id) ?? Infinity)) - killedAt;
    const lastDone = Math.max(...killedJobs.map((id) => doneAt.get(id) ?? Infinity)) - killedAt;
    console.log(`fleet kill -9: ${killedJobs.length} jobs on the killed seedbox; spread ${JSON.stringify(spread)}; ` +
      `first takeover ${(firstTakeover / 1000).toFixed(1)} s after the kill (lease timeout ${leaseTimeoutS} s); ` +
      `last of its jobs completed ${(lastDone / 1000).toFixed(1)} s after; lost ${lost}, duplicated ${duplicated}`);
    assert.equal(lost, 0);
    assert.equal(duplicated, 0);
    for (const id of killedJobs) assert.ok(holders.get(id)!.has("seedbox-1"), `job ${id} never moved to seedbox-1`);
  });

  it("a seedbox that comes back after its lease was taken drops the job", async () => {
    assert.ok(killedJobs.length > 0);
    const box2 = s.seedboxes[1]!;
    await box2.deluge.startDaemon();
    // Its Deluge still has the torrents it held when it died.
    const before = await torrentsIn(1);
    assert.ok(killedJobs.some((id) => before.includes(id)), "the dead seedbox's Deluge kept none of its torrents");
    await box2.start();
    for (let i = 0; i < 100 && killedJobs.some((id) => before.includes(id)); i++) {
      const now = await torrentsIn(1);
      if (!killedJobs.some((id) => now.includes(id))) break;
      await sleep(200);
    }
    const now = await torrentsIn(1);
    assert.deepEqual(killedJobs.filter((id) => now.includes(id)), [], "the returning seedbox kept a job it had lost");
    for (const id of killedJobs) {
      assert.equal((await job(id)).status, "completed");
      // Dropped at once; or, when its Deluge finished the torrent before the seedbox came up (it resumes
      // downloading on its own), let go as a completed job's copy is: never uploaded or completed again.
      const letGo = ["dropping a torrent this seedbox does not hold", "removed after seeding"];
      assert.ok(s.logs.some((l) => l.seedbox === "seedbox-2" && letGo.includes(String(l.msg)) && l.job === id), `seedbox-2 did not let ${id} go`);
      assert.equal(count("ingest", "job completed", id), 1, "completed once");
    }
  });

  it("a cancel of a job held by seedbox-2 removes it there", async () => {
    // Nobody seeds these: they stay downloading (no metadata) until cancelled.
    const ids = Array.from({ length: 6 }, () => randomBytes(20).toString("hex"));
    for (const id of ids) assert.equal((await s.call("POST", "/api/jobs", { magnet: `magnet:?xt=urn:btih:${id}&dn=fleet-cancel` })).status, 202);
    let target: string | undefined;
    for (let i = 0; i < 200 && !target; i++) {
      for (const id of ids) if ((await job(id)).seedbox === "seedbox-2" && (await torrentsIn(1)).includes(id)) target = id;
      if (!target) await sleep(100);
    }
    assert.ok(target, "seedbox-2 took none of the jobs");
    const c = await s.call("DELETE", `/api/jobs/${target}`);
    assert.equal(c.body.job.status, "cancelled");
    const cancelledAt = Date.now();
    for (let i = 0; i < 100 && (await torrentsIn(1)).includes(target); i++) await sleep(100);
    assert.ok(!(await torrentsIn(1)).includes(target), "seedbox-2 still holds the cancelled torrent");
    console.log(`fleet cancel: removed from seedbox-2 ${((Date.now() - cancelledAt) / 1000).toFixed(1)} s after the cancel (renewal every ${testLeaseEnv.T2S_LEASE_RENEW_S} s)`);
    assert.ok(!(await torrentsIn(0)).includes(target), "seedbox-1 got the cancelled torrent");
    assert.ok(s.logs.some((l) => l.seedbox === "seedbox-2" && l.msg === "job cancelled; removing it" && l.job === target));
    for (const id of ids) await s.call("DELETE", `/api/jobs/${id}`);
  });

  it("a spot interruption notice hands every job back at once: the other seedbox finishes them, well within a lease timeout", async () => {
    // A stand-in for the instance metadata service (IMDSv2): 404 until the notice.
    let notice = false;
    const imds = createServer((req, res) => {
      if (req.method === "PUT" && req.url === "/latest/api/token") return res.end("token");
      if (req.url === "/latest/meta-data/spot/instance-action" && req.headers["x-aws-ec2-metadata-token"] === "token") {
        return notice ? res.end(JSON.stringify({ action: "terminate", time: new Date(Date.now() + 120_000).toISOString() })) : res.writeHead(404).end();
      }
      res.writeHead(401).end();
    });
    await new Promise<void>((r) => imds.listen(0, "127.0.0.1", r));
    try {
      const [box1, box2] = [s.seedboxes[0]!, s.seedboxes[1]!];
      await box2.proc.stop();
      await box2.start({ T2S_SPOT: "1", T2S_IMDS_URL: `http://127.0.0.1:${(imds.address() as AddressInfo).port}`, T2S_SPOT_POLL_MS: "200" });
      // Only seedbox-2 takes requests while these go in.
      await box1.proc.stop();
      const jobs: MadeTorrent[] = [];
      for (let i = 0; i < 2; i++) jobs.push(await s.seed({ name: `fleet-spot-${i}-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 8 * 1024 * 1024 } }));
      for (const m of jobs) assert.equal((await s.call("POST", "/api/jobs", { torrent: b64(m.torrent) })).status, 202);
      for (const m of jobs) await s.waitForJob(m.infoHash, (j) => j.seedbox === "seedbox-2" && j.status === "downloading");
      await box1.start();
      notice = true;
      const noticeAt = Date.now();
      const movedAt = new Map<string, number>();
      for (let i = 0; i < 300 && movedAt.size < jobs.length; i++) {
        for (const m of jobs) if (!movedAt.has(m.infoHash) && (await job(m.infoHash)).seedbox === "seedbox-1") movedAt.set(m.infoHash, Date.now());
        await sleep(100);
      }
      const moved = Math.max(...jobs.map((m) => movedAt.get(m.infoHash) ?? Infinity)) - noticeAt;
      console.log(`fleet spot notice: both jobs on seedbox-1 ${(moved / 1000).toFixed(1)} s after the notice (lease timeout ${leaseTimeoutS} s)`);
      assert.ok(moved < leaseTimeoutS * 1000, `the jobs moved only after ${moved} ms`);
      const left = await torrentsIn(1);
      assert.deepEqual(jobs.filter((m) => left.includes(m.infoHash)).map((m) => m.infoHash), [], "seedbox-2 kept a torrent it handed back");
      for (const m of jobs) {
        const j = await s.waitForJob(m.infoHash, ended, 120_000);
        assert.equal(j.status, "completed", JSON.stringify(j.error));
        await s.checkLinks(j, m);
      }
      assert.ok(s.logs.some((l) => l.seedbox === "seedbox-2" && l.msg === "handed every held job back" && l.count === 2));
    } finally {
      imds.close();
    }
  });
});
