// Overlapped upload: parts go to S3 while the torrent downloads, and the finished object is still exactly
// the seeded bytes. The end-to-end cases use the whole real stack with the seedbox's download rate capped;
// the piece-order cases drive EarlyUploads against moto with piece states given in a chosen order.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, open, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { Bucket } from "../../lib/aws/bucket.ts";
import type { Job } from "../../lib/job.ts";
import { createLogger } from "../../lib/log.ts";
import { parseTorrent } from "../../lib/torrent.ts";
import { sleep } from "../../lib/time.ts";
import { EarlyUploads } from "../../seedbox/early-upload.ts";
import { testStack } from "../support/shared.ts";
import { clientOptions, type TestStack } from "../support/stack.ts";
import { makeTorrent } from "../support/torrents.ts";

let s: TestStack;
let s3: S3Client;
const ended = (j: Job) => ["completed", "failed", "cancelled"].includes(j.status);
const b64 = (b: Buffer) => b.toString("base64");
const MiB = 1024 * 1024;

const openUploads = async (id: string) =>
  (await s3.send(new ListMultipartUploadsCommand({ Bucket: s.outputs.bucket, Prefix: `files/${id}/` }))).Uploads ?? [];
const earlyLog = (id: string) => s.logs.filter((l) => l.msg === "overlapped upload completed" && l.job === id);

before(async () => {
  s = await testStack();
  s3 = new S3Client(clientOptions(s).s3);
});
after(() => s3?.destroy());

describe("overlapped upload, end to end", () => {
  before(async () => {
    await s.seedbox.stop();
    await s.startSeedbox({ T2S_MAX_DOWNLOAD_KIBS: "6144" });
  });
  after(async () => {
    await s.seedbox.stop();
    await s.startSeedbox();
  });

  it("sends parts while downloading, and the object is the seeded bytes", async () => {
    const made = await s.seed({ name: `overlap-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 40 * MiB + 12345 } });
    assert.equal((await s.call("POST", "/api/jobs", { torrent: b64(made.torrent) })).status, 202);
    const job = await s.waitForJob(made.infoHash, ended, 120_000);
    assert.equal(job.status, "completed", JSON.stringify(job.error));
    await s.checkLinks(job, made);
    const [line] = earlyLog(made.infoHash);
    assert.ok(line, "no overlapped upload was completed for the job");
    assert.ok(Number(line.partsEarly) > 0, `no part was sent before the finish: ${JSON.stringify(line)}`);
    assert.equal((await openUploads(made.infoHash)).length, 0);
  });

  it("a multi-file torrent: aligned files go early, the others whole, all byte-identical", async () => {
    const made = await s.seed({
      name: `overlap-multi-${randomBytes(3).toString("hex")}`,
      files: [{ path: ["a.bin"], size: 20 * MiB }, { path: ["b.txt"], size: 1000 }, { path: ["c.bin"], size: 17 * MiB + 5 }],
    });
    assert.equal((await s.call("POST", "/api/jobs", { torrent: b64(made.torrent) })).status, 202);
    const job = await s.waitForJob(made.infoHash, ended, 120_000);
    assert.equal(job.status, "completed", JSON.stringify(job.error));
    await s.checkLinks(job, made);
    // a.bin starts at offset 0 and is piece-aligned; c.bin starts mid-piece, so it goes whole at the finish.
    assert.deepEqual(earlyLog(made.infoHash).map((l) => String(l.key).split("/").pop()), ["a.bin"]);
  });

  it("cancel mid-download aborts the open multipart upload and leaves no object", async () => {
    const made = await s.seed({ name: `overlap-cancel-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 60 * MiB } });
    assert.equal((await s.call("POST", "/api/jobs", { torrent: b64(made.torrent) })).status, 202);
    let open = 0;
    for (let i = 0; i < 600 && open === 0; i++) {
      open = (await openUploads(made.infoHash)).length;
      if (open === 0) await sleep(50);
    }
    assert.equal(open, 1, "no overlapped upload started while downloading");
    assert.equal((await s.call("DELETE", `/api/jobs/${made.infoHash}`)).status, 200);
    let left = 1;
    for (let i = 0; i < 200 && left > 0; i++) {
      left = (await openUploads(made.infoHash)).length;
      if (left > 0) await sleep(100);
    }
    assert.equal(left, 0, "the multipart upload was not aborted");
    const objects = await s3.send(new ListObjectsV2Command({ Bucket: s.outputs.bucket, Prefix: `files/${made.infoHash}/` }));
    assert.equal(objects.KeyCount ?? 0, 0);
    assert.equal((await s.boxClient.status(made.infoHash)), null, "the torrent is still in Deluge");
  });
});

describe("overlapped upload, piece order and bad pieces (moto, scripted piece states)", () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), "t2s-overlap-"));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("uploads parts as pieces arrive out of order, skips a part whose bytes fail the hash, and ends byte-identical", async () => {
    const pieceLength = 256 * 1024;
    const made = await makeTorrent({ name: "ooo.bin", single: { path: [], size: 26 * MiB + 777 }, dir: join(tmp, "seed"), pieceLength });
    const t = parseTorrent(made.torrent);
    const good = await readFile(join(made.seedDir, "ooo.bin"));
    const downloading = join(tmp, "dl");
    await rm(downloading, { recursive: true, force: true });
    await mkdir(downloading);
    const fh = await open(join(downloading, "ooo.bin"), "w+");
    await fh.truncate(good.length);
    const pieces = Math.ceil(good.length / pieceLength);
    const states: number[] = new Array(pieces).fill(0);
    const lines: Record<string, unknown>[] = [];
    const log = createLogger("test", { write: (l) => void lines.push(JSON.parse(l)) });
    const bucket = new Bucket(s3, s.outputs.bucket);
    const early = new EarlyUploads({
      bucket, partSizeMin: 5 * MiB, concurrency: 2, log,
      deluge: { call: async <T>() => ({ pieces: [...states] }) as T },
      torrentOf: async () => made.torrent,
    });
    const files = [{ index: 0, path: "ooo.bin", size: good.length }];
    const pass = () => early.advance(t.infoHash, downloading, files);
    const write = async (i: number, bytes: Buffer) => {
      await fh.write(bytes, 0, bytes.length, i * pieceLength);
      states[i] = 3;
    };
    const piece = (i: number) => good.subarray(i * pieceLength, Math.min(good.length, (i + 1) * pieceLength));
    await pass(); // loads the torrent
    // 5 MiB parts of 20 pieces. Pieces arrive in reverse; piece 25 (in part 2) arrives corrupted but reported as done.
    const order = Array.from({ length: pieces }, (_, i) => pieces - 1 - i);
    for (const i of order) {
      await write(i, i === 25 ? randomBytes(piece(i).length) : piece(i));
      if (i % 16 === 0) await pass();
    }
    const open1 = (await openUploads(t.infoHash)).length;
    assert.equal(open1, 1, "no multipart upload was started early");
    // The bad piece is fixed (libtorrent downloads it again); the finish sends what is left from the final file.
    await write(25, piece(25));
    await fh.close();
    assert.equal(typeof (await early.finish(t.infoHash, 0, join(downloading, "ooo.bin"), AbortSignal.timeout(60_000))), "number");
    const done = lines.find((l) => l.msg === "overlapped upload completed");
    assert.ok(done && Number(done.partsEarly) > 0 && Number(done.partsEarly) < Number(done.parts), JSON.stringify(done));
    const key = String(done.key);
    const obj = await s3.send(new GetObjectCommand({ Bucket: s.outputs.bucket, Key: key }));
    const got = Buffer.from(await obj.Body!.transformToByteArray());
    assert.equal(createHash("sha256").update(got).digest("hex"), createHash("sha256").update(good).digest("hex"));
    assert.equal((await openUploads(t.infoHash)).length, 0);
  });

  it("discard aborts the open upload", async () => {
    const made = await makeTorrent({ name: "gone.bin", single: { path: [], size: 12 * MiB }, dir: join(tmp, "seed2"), pieceLength: 256 * 1024 });
    const t = parseTorrent(made.torrent);
    const bucket = new Bucket(s3, s.outputs.bucket);
    const early = new EarlyUploads({
      bucket, partSizeMin: 5 * MiB, concurrency: 2, log: createLogger("test", { level: "error" }),
      deluge: { call: async <T>() => ({ pieces: new Array(48).fill(3) }) as T },
      torrentOf: async () => made.torrent,
    });
    const files = [{ index: 0, path: "gone.bin", size: 12 * MiB }];
    await early.advance(t.infoHash, made.seedDir, files); // loads the torrent
    await early.advance(t.infoHash, made.seedDir, files); // sends every part
    assert.equal((await openUploads(t.infoHash)).length, 1);
    await early.discard(t.infoHash);
    assert.equal((await openUploads(t.infoHash)).length, 0);
  });
});
