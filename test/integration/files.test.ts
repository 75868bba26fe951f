// Choosing files against the real local stack: only the chosen files of a torrent are downloaded (Deluge's
// priorities, the bytes on the seedbox's disk), uploaded, listed in the manifest and zipped; the same
// torrent with other files is one job whose selection widens (a completed job runs again for the union,
// an uploading one fetches it before it completes, a subset changes nothing); a choice that names no file
// is a 400.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { Job } from "../../lib/job.ts";
import { sleep } from "../../lib/time.ts";
import { clientOptions, startTestStack, type TestStack } from "../support/stack.ts";
import type { MadeTorrent } from "../support/torrents.ts";

let s: TestStack;
let s3: S3Client;
let dir: string;
const ended = (j: Job) => ["completed", "failed", "cancelled"].includes(j.status);
const b64 = (b: Buffer) => b.toString("base64");
const kib = 1024;

before(async () => {
  // Its own stack, whose seedbox keeps torrents after upload: what Deluge holds is looked at then.
  s = await startTestStack({ seedboxEnv: { T2S_SEED_TIME_S: "3600" } });
  s3 = new S3Client(clientOptions(s).s3);
  dir = await mkdtemp(join(tmpdir(), "t2s-files-it-"));
});
after(async () => {
  s3?.destroy();
  await s?.stop();
  await rm(dir, { recursive: true, force: true });
});

// Whole pieces (256 KiB) per file: no piece spans a chosen and a skipped file, so a skipped file gets no byte.
const three = (tag: string) => s.seed({
  name: `Three ${tag} ${randomBytes(3).toString("hex")}`,
  files: [{ path: ["a.bin"], size: 512 * kib }, { path: ["notes.txt"], size: 256 * kib }, { path: ["c.bin"], size: 768 * kib }],
});

async function manifestPaths(id: string): Promise<string[]> {
  const o = await s3.send(new GetObjectCommand({ Bucket: s.outputs.bucket, Key: `files/${id}/manifest.json` }));
  const m = JSON.parse(await o.Body!.transformToString()) as { files: { path: string }[] };
  return m.files.map((f) => f.path).sort();
}

/** What the seedbox's Deluge wants of the torrent, and which files lie on its disk with how many bytes. */
async function onBox(id: string): Promise<{ wanted: boolean[]; disk: (number | null)[] }> {
  const files = (await s.boxClient.files(id))!;
  const root = (await s.boxClient.status(id))!.save_path;
  const disk = await Promise.all(files.map(async (f) => (existsSync(join(root, f.path)) ? (await stat(join(root, f.path))).size : null)));
  return { wanted: files.map((f) => f.wanted), disk };
}

/** waitForJob, saying on failure whom the box and the seeder are connected to, and what the services logged of the job. */
async function waitFor(id: string, done: (j: Job) => boolean, timeoutMs?: number): Promise<Job> {
  return s.waitForJob(id, done, timeoutMs).catch(async (err: Error) => {
    const keys = ["num_peers", "state", "is_finished", "file_priorities", "total_done", "total_wanted"];
    const box = await s.boxClient.call("core.get_torrent_status", [id, keys]).catch(() => null);
    const seeder = await s.seederClient.call("core.get_torrent_status", [id, keys]).catch(() => null);
    const lines = s.logs.filter((l) => l.job === id).map((l) => `${l.t} ${l.service} ${l.msg} ${JSON.stringify({ ...l, t: undefined, service: undefined, msg: undefined, job: undefined, level: undefined })}`);
    throw new Error(`${err.message}; box: ${JSON.stringify(box)}; seeder: ${JSON.stringify(seeder)}\n${lines.join("\n")}`);
  });
}

/** Polls `check` (every 50 ms, 30 s at most) until it holds. */
async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(50)) if (await check()) return;
  throw new Error(`timed out waiting until ${what}`);
}

/** The names in a completed job's zip, read by Python's zipfile. */
async function zipNames(job: Job): Promise<string[]> {
  assert.ok(job.zip, "more than one file: a zip");
  const path = join(dir, `${job.id}-${Date.now()}.zip`);
  await writeFile(path, Buffer.from(await (await fetch(job.zip.url)).arrayBuffer()));
  return (JSON.parse(execFileSync("python3", ["-c", "import json,sys,zipfile; print(json.dumps(zipfile.ZipFile(sys.argv[1]).namelist()))", path], { encoding: "utf8" })) as string[]).sort();
}

/** A completed job holds exactly `files` of `made` (by index): listed, in the manifest, zipped, linked, and as Deluge wants them on the box. */
async function holdsExactly(job: Job, made: MadeTorrent, files: number[]): Promise<void> {
  assert.equal(job.status, "completed", JSON.stringify(job.error));
  const chosen = files.map((i) => made.files[i]!);
  const paths = chosen.map((f) => f.path).sort();
  assert.deepEqual(job.files.map((f) => f.path).sort(), paths);
  assert.equal(job.size, chosen.reduce((n, f) => n + f.size, 0));
  assert.deepEqual(await manifestPaths(made.infoHash), paths);
  if (files.length > 1) assert.deepEqual(await zipNames(job), paths);
  else assert.equal(job.zip, null, "one file: no zip");
  await checkChosenLinks(job, made);
  const box = await onBox(made.infoHash);
  assert.deepEqual(box.wanted, made.files.map((_, i) => files.includes(i)), "Deluge wants the chosen files alone");
  for (const i of files) assert.equal(box.disk[i], made.files[i]!.size, `${made.files[i]!.path} is whole on the box`);
}

async function checkChosenLinks(job: Job, made: MadeTorrent): Promise<void> {
  for (const f of job.files) {
    const body = Buffer.from(await (await fetch(f.url!)).arrayBuffer());
    assert.equal(createHash("sha256").update(body).digest("hex"), made.sha256.get(f.path), `${f.path} is what was seeded`);
  }
}

describe("choosing files", () => {
  /** A job of 1 file chosen of 3, completed: only that file downloaded, uploaded and listed. */
  async function oneOfThree(tag: string): Promise<MadeTorrent> {
    const made = await three(tag);
    const chosen = made.files[1]!;
    const r = await s.call("POST", "/api/jobs", { torrent: b64(made.torrent), files: [1] });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.job.size, chosen.size, "the size is the chosen file's");
    assert.deepEqual(r.body.job.requesters[0].files, [1]);
    const job = await waitFor(made.infoHash, ended);
    assert.equal(job.status, "completed", JSON.stringify(job.error));
    assert.deepEqual(job.files.map((f) => [f.path, f.size]), [[chosen.path, chosen.size]]);
    assert.equal(job.size, chosen.size);
    assert.equal(job.zip, null, "one file: no zip");
    assert.deepEqual(await manifestPaths(made.infoHash), [chosen.path]);
    await checkChosenLinks(job, made);
    // Deluge skips the other two (priority 0), and not one byte of them is on the disk.
    assert.deepEqual(await onBox(made.infoHash), { wanted: [false, true, false], disk: [null, chosen.size, null] });
    return made;
  }

  it("downloads, uploads and lists only the one file chosen of three", async () => {
    await oneOfThree("one");
  });

  it("runs a completed job again for the union when another requester chooses another file; a subset changes nothing", async () => {
    const made = await three("again");
    const id = made.infoHash;
    const r = await s.call("POST", "/api/jobs", { torrent: b64(made.torrent), files: [0] });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const first = await waitFor(id, ended);
    await holdsExactly(first, made, [0]);
    assert.deepEqual((await onBox(id)).disk, [made.files[0]!.size, null, null], "only the chosen file's bytes are on the box");

    // Someone else wants c.bin of the same torrent: the same job runs again, for both files.
    const again = await s.call("POST", "/api/jobs", { torrent: b64(made.torrent), files: [2], requester: { via: "discord", user: "77" } });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(again.body.job.status, "queued");
    const wider = await waitFor(id, ended, 120_000);
    await holdsExactly(wider, made, [0, 2]);
    // Each requester's entry keeps what they chose; the job holds the union.
    assert.deepEqual(wider.requesters.map((q) => [q.via, q.user, q.files]), [["api", "api", [0]], ["discord", "77", [2]]]);
    assert.notEqual(wider.files[0]!.url, first.files[0]!.url, "a new run: new links");

    // A third requester's choice, and the first's again, hold nothing new: no rerun, the same links.
    for (const [files, requester] of [[[2], { via: "discord", user: "78" }], [[0], undefined]] as const) {
      const same = await s.call("POST", "/api/jobs", { torrent: b64(made.torrent), files, ...(requester ? { requester } : {}) });
      assert.equal(same.status, 200, JSON.stringify(same.body));
      assert.equal(same.body.job.status, "completed");
      assert.deepEqual((same.body.job as Job).files.map((f) => f.url), wider.files.map((f) => f.url));
    }
    const after = (await s.call("GET", `/api/jobs/${id}`)).body.job as Job;
    assert.equal(after.status, "completed");
    assert.deepEqual(after.requesters.map((q) => [q.user, q.files]), [["api", [0]], ["77", [2]], ["78", [2]]]);
    assert.deepEqual(after.files.map((f) => f.url), wider.files.map((f) => f.url));
  });

  it("fetches another file chosen while the job uploads, before it completes", async () => {
    const made = await three("uploading");
    const id = made.infoHash;
    // The box gets no byte until the store holds the services' requests: then its upload waits, in view.
    await s.seederClient.call("core.pause_torrent", [[id]]);
    const r = await s.call("POST", "/api/jobs", { torrent: b64(made.torrent), files: [0] });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    await until("the box has the torrent", async () => (await s.boxClient.status(id)) !== null);
    s.storeProxy.hold();
    try {
      await s.seederClient.call("core.resume_torrent", [[id]]);
      await waitFor(id, (j) => j.status === "uploading" || ended(j));
      // A magnet: this submission needs nothing of the store, which still holds the upload.
      const again = await s.call("POST", "/api/jobs", { magnet: `magnet:?xt=urn:btih:${id}`, files: [2], requester: { via: "discord", user: "79" } });
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.equal(again.body.job.status, "uploading");
      await until("the seedbox has the wider choice", () => s.logs.some((l) => l.job === id && l.msg === "request for a job held here already"));
    } finally {
      s.storeProxy.release();
    }
    const job = await waitFor(id, (j) => ended(j), 120_000);
    await holdsExactly(job, made, [0, 2]);
    assert.deepEqual(job.requesters.map((q) => [q.user, q.files]), [["api", [0]], ["79", [2]]]);
  });

  it("zips exactly the two files a glob chooses of three, from a magnet (chosen once its metadata is in)", async () => {
    const made = await three("two");
    const r = await s.call("POST", "/api/jobs", { magnet: s.magnet(made), files: ["*.bin"] });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const job = await waitFor(made.infoHash, ended);
    assert.equal(job.status, "completed", JSON.stringify(job.error));
    const bins = [made.files[0]!.path, made.files[2]!.path].sort();
    assert.deepEqual(job.files.map((f) => f.path).sort(), bins);
    assert.equal(job.size, made.files[0]!.size + made.files[2]!.size);
    assert.deepEqual(await manifestPaths(made.infoHash), bins);
    assert.ok(job.zip, "two files: a zip");
    const path = join(dir, `${made.infoHash}.zip`);
    await writeFile(path, Buffer.from(await (await fetch(job.zip.url)).arrayBuffer()));
    const names = JSON.parse(execFileSync("python3", ["-c", "import json,sys,zipfile; print(json.dumps(zipfile.ZipFile(sys.argv[1]).namelist()))", path], { encoding: "utf8" })) as string[];
    assert.deepEqual(names.sort(), bins);
    // Skipped from the pass after its metadata came in (what libtorrent fetched before that may be on disk).
    assert.deepEqual((await onBox(made.infoHash)).wanted, [true, false, true]);
  });

  it("refuses a choice that names no file of the .torrent given, with a plain 400, and records nothing", async () => {
    const made = await three("bad");
    for (const [files, re] of [[[3], /names file 3, but this torrent has 3 files/], [["*.mkv"], /"\*\.mkv", which matches no file/], [[-1], /not a file index/], [[], /at least one/], ["*.bin", /list/]] as const) {
      const r = await s.call("POST", "/api/jobs", { torrent: b64(made.torrent), files });
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error.code, "invalid_request");
      assert.match(r.body.error.message, re);
    }
    assert.equal((await s.call("GET", `/api/jobs/${made.infoHash}`)).status, 404);
  });
});
