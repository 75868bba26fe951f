// Zips against the real local stack: a multi-file job's zip, fetched through its signed link, opens in
// Python's zipfile and Info-ZIP's unzip with every entry byte-identical to what was seeded; deleting the
// job's files removes the zip (its link answers 410) and leaves no multipart upload open.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { Job } from "../../lib/job.ts";
import { testStack } from "../support/shared.ts";
import { clientOptions, type TestStack } from "../support/stack.ts";

let s: TestStack;
let s3: S3Client;
let dir: string;
const ended = (j: Job) => ["completed", "failed", "cancelled"].includes(j.status);
const b64 = (b: Buffer) => b.toString("base64");

before(async () => {
  s = await testStack();
  s3 = new S3Client(clientOptions(s).s3);
  dir = await mkdtemp(join(tmpdir(), "t2s-zip-it-"));
});
after(async () => rm(dir, { recursive: true, force: true }));

const pyEntries = `
import hashlib, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
print(json.dumps({i.filename: [i.compress_type, i.file_size, hashlib.sha256(z.read(i)).hexdigest()] for i in z.infolist()}))`;

describe("zips", () => {
  it("links one STORE zip of a multi-file job that real tools open byte for byte, and deletes it with the files", async () => {
    const made = await s.seed({
      name: `Zip ü ${randomBytes(3).toString("hex")}`,
      files: [
        { path: ["CD 1", "01 – Intro.flac"], size: 9 * 1024 * 1024 + 17 },
        { path: ["CD 1", "deep", "deeper", "日本語.txt"], data: Buffer.from("こんにちは") },
        { path: ["Ελληνικά", "ñandú.bin"], size: 300_001 },
        { path: ["empty.txt"], data: Buffer.alloc(0) },
      ],
    });
    const r = await s.call("POST", "/api/jobs", { torrent: b64(made.torrent) });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const job = await s.waitForJob(made.infoHash, ended);
    assert.equal(job.status, "completed", JSON.stringify(job.error));
    assert.ok(job.zip, "a multi-file job has a zip");
    assert.match(job.zip.url, new RegExp(`/zip/${made.infoHash}\\?exp=\\d+&sig=`));

    // The signed link alone opens it (no credentials), through a redirect to the bucket.
    const res = await fetch(job.zip.url);
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(body.length, job.zip.size);
    const path = join(dir, "job.zip");
    await writeFile(path, body);

    const entries = JSON.parse(execFileSync("python3", ["-c", pyEntries, path], { encoding: "utf8" })) as Record<string, [number, number, string]>;
    assert.deepEqual(Object.keys(entries).sort(), job.files.map((f) => f.path).sort(), "paths as in the torrent");
    for (const f of job.files) {
      const [method, size, digest] = entries[f.path]!;
      assert.equal(method, 0, `${f.path} is stored`);
      assert.equal(size, f.size);
      assert.equal(digest, made.sha256.get(f.path), `${f.path} is byte-identical`);
    }
    assert.match(execFileSync("unzip", ["-t", path], { encoding: "utf8" }), /No errors detected in compressed data/);
    const out = join(dir, "out");
    execFileSync("unzip", ["-q", path, "-d", out]);
    const nested = made.files.find((f) => f.path.endsWith("日本語.txt"))!.path;
    assert.equal(execFileSync("cat", [join(out, nested)], { encoding: "utf8" }), "こんにちは");

    // A bad signature is refused; a deleted job's zip link answers 410 and the object is gone.
    assert.equal((await fetch(job.zip.url.replace(/sig=./, "sig=x"), { redirect: "manual" })).status, 401);
    const manifest = await s3.send(new GetObjectCommand({ Bucket: s.outputs.bucket, Key: `files/${made.infoHash}/manifest.json` }));
    const staleManifest = Buffer.from(await manifest.Body!.transformToByteArray());
    assert.equal((await s.call("DELETE", `/api/jobs/${made.infoHash}/files`)).status, 200);
    assert.equal((await fetch(job.zip.url, { redirect: "manual" })).status, 410);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: s.outputs.bucket, Prefix: `files/${made.infoHash}/` }));
    assert.equal(listed.KeyCount ?? 0, 0);
    const open = await s3.send(new ListMultipartUploadsCommand({ Bucket: s.outputs.bucket, Prefix: `files/${made.infoHash}/` }));
    assert.equal(open.Uploads?.length ?? 0, 0, "no multipart upload left open");

    // Links expire, and belong to one run: handed in again, the job's old links stay dead.
    const later = job.zip.url.replace(/exp=(\d+)/, (_m: string, e: string) => `exp=${Number(e) + 86400}`);
    assert.equal((await fetch(later, { redirect: "manual" })).status, 401, "an expiry moved by hand");
    // The bucket's lifecycle removes expired files only at its next pass: an earlier run's manifest may
    // still be there when the torrent comes back. It must not complete the new run.
    await s3.send(new PutObjectCommand({ Bucket: s.outputs.bucket, Key: `files/${made.infoHash}/manifest.json`, Body: staleManifest }));
    assert.equal((await s.call("POST", "/api/jobs", { torrent: b64(made.torrent) })).status, 200);
    const again = await s.waitForJob(made.infoHash, (j) => j.status === "completed" || j.status === "failed");
    assert.equal(again.status, "completed", JSON.stringify(again.error));
    assert.equal((await fetch(job.zip.url, { redirect: "manual" })).status, 401, "a link of the earlier run");
    const fresh = await fetch(again.zip!.url);
    assert.equal(fresh.status, 200, "the new run uploaded its files again");
    assert.equal(Buffer.from(await fresh.arrayBuffer()).length, again.zip!.size);
  });

  it("gives a single-file job no zip", async () => {
    const made = await s.seed({ name: `one-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 2000 } });
    const r = await s.call("POST", "/api/jobs", { torrent: b64(made.torrent) });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const job = await s.waitForJob(made.infoHash, ended);
    assert.equal(job.status, "completed", JSON.stringify(job.error));
    assert.equal(job.zip, null);
  });
});
