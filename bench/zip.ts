// What a job's zip costs, for a 1 GiB multi-file job (7 × 128 MiB + 128 × 1 MiB of random bytes), with the
// seedbox's own uploader against moto on loopback: the bytes it adds to the bucket (and their price), the
// time to upload the files, the time to build and upload the zip, and the time to build it alone (read
// by parts from disk, no network), which is what the seedbox spends beyond the upload itself.
// Usage: node bench/zip.ts [total MiB, default 1024]
import { randomFillSync } from "node:crypto";
import { mkdir, mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { crc32 } from "node:zlib";
import { CreateBucketCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import { awsClients, destroyClients } from "../lib/aws/clients.ts";
import { Bucket } from "../lib/aws/bucket.ts";
import { zipKey } from "../lib/layout.ts";
import { createLogger } from "../lib/log.ts";
import { startMoto } from "../scripts/local/moto.ts";
import { uploadTunables } from "../seedbox/config.ts";
import { readFully } from "../seedbox/multipart.ts";
import { Uploader, type UploadJob } from "../seedbox/uploader.ts";
import { readZipRange, zipLayout } from "../seedbox/zip.ts";

const MiB = 1024 ** 2;
const totalMiB = Number(process.argv[2] ?? 1024);
const bigMiB = totalMiB / 8;
const sizes = [...Array.from({ length: 7 }, () => bigMiB * MiB), ...Array.from({ length: 128 }, () => (totalMiB / 8 / 128) * MiB)];
const total = sizes.reduce((a, b) => a + b, 0);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const rate = (bytes: number, ms: number) => `${(bytes / MiB / (ms / 1000)).toFixed(0)} MiB/s`;

const tmp = await mkdtemp(join(tmpdir(), "t2s-bench-zip-"));
const moto = await startMoto({ logDir: tmp });
const clients = awsClients({ region: "us-east-1", endpoint: moto.endpoint }, { accessKeyId: "test", secretAccessKey: "test" });
try {
  const root = join(tmp, "completed");
  const name = "Bench Album ü";
  const files = sizes.map((size, i) => ({ index: i, path: `${name}/${i < 7 ? `disc ${i + 1}.mkv` : `extras/photo ${i - 6}.jpg`}`, size }));
  const chunk = randomFillSync(Buffer.allocUnsafe(16 * MiB));
  for (const f of files) {
    const p = join(root, f.path);
    await mkdir(dirname(p), { recursive: true });
    const fh = await open(p, "w");
    for (let at = 0; at < f.size; at += chunk.length) {
      chunk.writeUInt32LE(f.index * 1e6 + at / MiB, 0); // no two chunks alike
      await fh.write(chunk, 0, Math.min(chunk.length, f.size - at), at);
    }
    await fh.close();
  }
  const bucketName = "bench-zip";
  await clients.s3.send(new CreateBucketCommand({ Bucket: bucketName }));
  const bucket = new Bucket(clients.s3, bucketName);
  const log = createLogger("bench", { level: "error" });
  const tunables = uploadTunables(process.env);
  const job = (id: string): UploadJob => ({ id, name, saveRoot: root, files });
  const signal = AbortSignal.timeout(3_600_000);

  const off = new Uploader({ bucket, roots: [root], ...tunables, zip: false, log });
  let t = performance.now();
  await off.upload(job("a".repeat(40)), () => {}, signal);
  const filesMs = performance.now() - t;

  const on = new Uploader({ bucket, roots: [root], ...tunables, zip: true, log });
  t = performance.now();
  await on.upload(job("b".repeat(40)), () => {}, signal);
  const withZipMs = performance.now() - t;
  const zipSize = (await clients.s3.send(new HeadObjectCommand({ Bucket: bucketName, Key: zipKey("b".repeat(40)) }))).ContentLength!;

  // Building alone: the same part reads the upload makes, into one reused buffer, with each part's CRC (as
  // the upload computes it), and nothing sent. The files' CRCs come from their own upload, so are given here.
  const entries = await Promise.all(files.map(async (f) => {
    const fh = await open(join(root, f.path), "r");
    const crc = crc32(await readFully(fh, Buffer.allocUnsafe(f.size), 0));
    await fh.close();
    return { name: f.path, size: f.size, crc32: crc };
  }));
  const handles = await Promise.all(files.map((f) => open(join(root, f.path), "r")));
  t = performance.now();
  const layout = zipLayout(entries);
  const part = Buffer.allocUnsafe(tunables.partSizeMin);
  for (let pos = 0; pos < layout.size; pos += part.length) {
    const buf = part.subarray(0, Math.min(part.length, layout.size - pos));
    crc32(await readZipRange(layout, buf, pos, (i, dest, start) => readFully(handles[i]!, dest, start)));
  }
  const buildMs = performance.now() - t;
  await Promise.all(handles.map((h) => h.close()));

  const GB = 1e9;
  const perMonth = 0.023;
  const retention = 7;
  const out = {
    job: `${files.length} files, ${(total / MiB).toFixed(0)} MiB`,
    zipBytes: zipSize,
    zipOverheadBytes: zipSize - total,
    storedWithoutZip: total,
    storedWithZip: total + zipSize,
    extraStorageUsdPer7Days: +((zipSize / GB) * perMonth * (retention / 30)).toFixed(5),
    uploadFilesS: +(filesMs / 1000).toFixed(2),
    uploadFilesAndZipS: +(withZipMs / 1000).toFixed(2),
    zipUploadS: +((withZipMs - filesMs) / 1000).toFixed(2),
    zipBuildOnlyS: +(buildMs / 1000).toFixed(2),
  };
  console.log(JSON.stringify(out));
  console.log(`zip of ${out.job}: ${zipSize} bytes (${out.zipOverheadBytes} bytes of zip headers); the bucket holds ${(out.storedWithZip / MiB).toFixed(0)} MiB instead of ${(total / MiB).toFixed(0)} MiB`);
  console.log(`extra storage: $${out.extraStorageUsdPer7Days} for ${retention} days at $${perMonth}/GB-month`);
  console.log(`upload to moto on loopback: files ${secs(filesMs)} (${rate(total, filesMs)}); files + zip ${secs(withZipMs)}; the zip alone ${secs(withZipMs - filesMs)}`);
  console.log(`building the zip without sending it (part reads + CRC): ${secs(buildMs)} (${rate(layout.size, buildMs)})`);
} finally {
  destroyClients(clients);
  await moto.proc.stop();
  await rm(tmp, { recursive: true, force: true });
}
