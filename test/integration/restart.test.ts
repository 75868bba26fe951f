// Restarts of the whole local stack on one data folder: a graceful stop, a kill -9 of every process,
// and a job caught mid-download. Jobs, files and links must come back as they were, and nothing twice.
// This file runs its own stack (not the shared one): restarting it moves every endpoint.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { HeadBucketCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import type { Job } from "../../lib/job.ts";
import { filesPrefix } from "../../lib/layout.ts";
import { clientOptions, completeTorrent, startTestStack, type TestStack } from "../support/stack.ts";
import type { MadeTorrent } from "../support/torrents.ts";

let s: TestStack;
const b64 = (b: Buffer) => b.toString("base64");
const ended = (j: Job) => ["completed", "failed", "cancelled"].includes(j.status);
const done: { made: MadeTorrent; job: Job }[] = [];

const complete = (made: MadeTorrent) => completeTorrent(s, made);

/** What a link's presigned redirect serves, apart from the body. */
async function linkHeaders(job: Job): Promise<{ type: string | null; disposition: string | null }[]> {
  const out = [];
  for (const f of job.files) {
    const hop = await fetch(f.url!, { redirect: "manual" });
    assert.equal(hop.status, 302, f.path);
    // The presigned URL is for GET; one byte of it is enough to see the headers (and that Range works).
    const res = await fetch(hop.headers.get("location")!, { headers: { range: "bytes=0-0" } });
    assert.equal(res.status, f.size > 0 ? 206 : 200, f.path);
    await res.arrayBuffer();
    out.push({ type: res.headers.get("content-type"), disposition: res.headers.get("content-disposition") });
  }
  return out;
}

const listed = async () => {
  const r = await s.call("GET", "/api/jobs?limit=200");
  assert.equal(r.status, 200);
  return (r.body.jobs as Job[]).map((j) => ({ id: j.id, name: j.name, status: j.status, size: j.size, files: j.files.map((f) => [f.path, f.size]) }));
};

async function restartAndCheck(hard: boolean): Promise<number> {
  const before = await listed();
  const headers = await Promise.all(done.map(({ job }) => linkHeaders(job)));
  const seconds = await s.restart({ hard });
  assert.deepEqual(await listed(), before, "the job list after the restart");
  for (const [i, { made }] of done.entries()) {
    const job = (await s.call("GET", `/api/jobs/${made.infoHash}`)).body.job as Job;
    await s.checkLinks(job, made);
    assert.deepEqual(await linkHeaders(job), headers[i], `headers of ${made.name}'s links`);
  }
  return seconds;
}

describe("restarts of the local stack", () => {
  before(async () => {
    s = await startTestStack();
    const tag = randomBytes(3).toString("hex");
    done.push({ made: await s.seed({ name: `report ü ${tag}.pdf`, single: { path: [], size: 3 * 1024 * 1024 + 7 } }), job: undefined as unknown as Job });
    done.push({
      made: await s.seed({ name: `Album ${tag}`, files: [{ path: ["CD 1", "01 – Intro.flac"], size: 700_000 }, { path: ["notes.txt"], data: Buffer.from("liner notes") }] }),
      job: undefined as unknown as Job,
    });
    for (const d of done) d.job = await complete(d.made);
    const types = (await linkHeaders(done[0]!.job)).map((h) => h.type);
    assert.deepEqual(types, ["application/pdf"]);
  });
  after(async () => {
    await s?.stop();
  });

  it("graceful stop, then start: every job listed as before, links byte-identical with the same headers", async () => {
    const seconds = await restartAndCheck(false);
    console.log(JSON.stringify({ restart: "graceful", restart_to_ready_s: seconds }));
  });

  it("kill -9 of every process, then start: the same", async () => {
    const seconds = await restartAndCheck(true);
    console.log(JSON.stringify({ restart: "kill -9", restart_to_ready_s: seconds }));
  });

  it("a job caught mid-download by a kill -9 of everything completes once after the start", async () => {
    // A capped rate keeps the download going while everything is killed; Deluge keeps the cap per torrent.
    await s.seedbox.stop();
    await s.startSeedbox({ T2S_MAX_DOWNLOAD_KIBS: "2048" });
    const made = await s.seed({ name: `midway-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 24 * 1024 * 1024 } });
    assert.equal((await s.call("POST", "/api/jobs", { torrent: b64(made.torrent) })).status, 202);
    await s.waitForJob(made.infoHash, (j) => j.status === "downloading" && j.progress > 0.1, 60_000);
    const mark = s.logs.length;
    const t0 = Date.now();
    await s.restart({ hard: true });
    const job = await s.waitForJob(made.infoHash, ended, 180_000);
    assert.equal(job.status, "completed", JSON.stringify(job.error));
    await s.checkLinks(job, made);
    const s3 = new S3Client(clientOptions(s).s3);
    try {
      const prefix = filesPrefix(made.infoHash);
      const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: s.outputs.bucket, Prefix: prefix }));
      assert.deepEqual(uploads.Uploads ?? [], [], "no multipart upload is left open");
      const objects = await s3.send(new ListObjectsV2Command({ Bucket: s.outputs.bucket, Prefix: prefix }));
      // Each file once, and the manifest.
      const keys = (objects.Contents ?? []).map((o) => o.Key!);
      assert.equal(keys.length, job.files.length + 1, keys.join(", "));
      assert.ok(keys.includes(`${prefix}manifest.json`));
    } finally {
      s3.destroy();
    }
    const completions = s.logs.slice(mark).filter((l) => l.msg === "job completed" && l.job === made.infoHash).length;
    assert.equal(completions, 1, "completed once");
    console.log(JSON.stringify({ restart: "mid-download", size_mib: 24, rate_kib_s: 2048, restart_to_completed_s: (Date.now() - t0) / 1000 }));
  });

  it("a store folder lost while stopped: the start finds the bucket gone, applies the stack in full, and jobs go on", async () => {
    const mark = s.logs.length;
    await s.restart({ hard: false, whileStopped: () => rm(join(s.dataDir, "s3", "data"), { recursive: true, force: true }) });
    const s3 = new S3Client(clientOptions(s).s3);
    try {
      await s3.send(new HeadBucketCommand({ Bucket: s.outputs.bucket }));
    } finally {
      s3.destroy();
    }
    await complete(await s.seed({ name: `after-loss-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 1024 * 1024 } }));
    // The records outlive the store's folder; their files did not, and the job list says what it knew.
    assert.ok((await listed()).length >= done.length + 2);
    assert.equal(s.logs.slice(mark).filter((l) => l.msg === "job completed").length, 1);
  });
});
