// Choosing files against the real local stack: only the chosen files of a torrent are downloaded (Deluge's
// priorities, the bytes on the seedbox's disk), uploaded, listed in the manifest and zipped; the same
// torrent with other files is one job whose selection widens; a choice that names no file is a 400.
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

/** waitForJob, saying on failure whom the box and the seeder are connected to. */
async function waitFor(id: string, done: (j: Job) => boolean, timeoutMs?: number): Promise<Job> {
  return s.waitForJob(id, done, timeoutMs).catch(async (err: Error) => {
    const keys = ["num_peers", "state", "file_priorities"];
    const box = await s.boxClient.call("core.get_torrent_status", [id, keys]).catch(() => null);
    const seeder = await s.seederClient.call("core.get_torrent_status", [id, keys]).catch(() => null);
    throw new Error(`${err.message}; box: ${JSON.stringify(box)}; seeder: ${JSON.stringify(seeder)}`);
  });
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
