// The seedbox's uploader against `aws s3 cp` (awscli from PyPI) and `rclone copyto` (Debian): the same
// file to the same S3 endpoint (the local store), each tool as its own process, the order rotated every round.
import { randomBytes } from "node:crypto";
import { open, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CreateBucketCommand, DeleteObjectCommand, HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { bundleService } from "../scripts/bundle-service.ts";
import { repoRoot } from "../scripts/local/paths.ts";
import { localUploadQueueSize, serviceNodeFlags } from "../scripts/local/stack.ts";
import { cpuSeconds } from "./cpu.ts";
import { timed, type Timed } from "./timed.ts";

export const tools = ["torrent2s3", "awscli", "rclone"] as const;
export type Tool = (typeof tools)[number];
export interface UploadRun extends Timed {
  tool: Tool;
  round: number;
  /** CPU seconds the store spent taking this upload in. */
  storeCpuS: number;
}

async function writeRandomFile(path: string, size: number): Promise<void> {
  const fh = await open(path, "w");
  try {
    const chunk = 8 * 1024 * 1024;
    for (let at = 0; at < size; at += chunk) await fh.write(randomBytes(Math.min(chunk, size - at)));
  } finally {
    await fh.close();
  }
}

export async function compareUploads(o: { endpoint: string; storePid: number; keys: { accessKeyId: string; secretAccessKey: string }; dir: string; size: number; rounds: number }): Promise<UploadRun[]> {
  const file = join(o.dir, "upload.bin");
  await writeRandomFile(file, o.size);
  const bucket = `t2s-bench-${randomBytes(3).toString("hex")}`;
  const creds = { AWS_ACCESS_KEY_ID: o.keys.accessKeyId, AWS_SECRET_ACCESS_KEY: o.keys.secretAccessKey, AWS_REGION: "us-east-1", AWS_DEFAULT_REGION: "us-east-1" };
  const s3 = new S3Client({ endpoint: o.endpoint, region: "us-east-1", forcePathStyle: true, credentials: o.keys });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const rcloneConf = join(o.dir, "rclone.conf");
  await writeFile(rcloneConf, "");
  // A CA bundle from the machine's env makes rclone's S3 backend refuse to start; the store speaks plain HTTP.
  const { AWS_CA_BUNDLE: _, ...base } = process.env;
  const env = { ...base, ...creds, AWS_ENDPOINT_URL: o.endpoint };
  // The uploader runs as the local seedbox does: from a bundle, with its flags and its two parts in flight.
  const uploadFile = await bundleService(join(repoRoot, "bench", "upload-file.ts"), join(o.dir, "upload-file.mjs"));
  const commands: Record<Tool, (key: string) => [string, string[], NodeJS.ProcessEnv]> = {
    torrent2s3: (key) => [process.execPath, [...serviceNodeFlags, uploadFile, file, bucket, key], { T2S_UPLOAD_QUEUE_SIZE: localUploadQueueSize, ...env }],
    awscli: (key) => [join(repoRoot, ".cache", "bench-venv", "bin", "aws"), ["--endpoint-url", o.endpoint, "s3", "cp", "--no-progress", file, `s3://${bucket}/${key}`], env],
    rclone: (key) => ["rclone", ["--config", rcloneConf, "copyto", file, `bench:${bucket}/${key}`], {
      ...env,
      RCLONE_CONFIG_BENCH_TYPE: "s3", RCLONE_CONFIG_BENCH_PROVIDER: "Other", RCLONE_CONFIG_BENCH_ENDPOINT: o.endpoint,
      RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: o.keys.accessKeyId, RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: o.keys.secretAccessKey, RCLONE_CONFIG_BENCH_REGION: "us-east-1",
      RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: "true",
    }],
  };
  const runs: UploadRun[] = [];
  try {
    for (let round = 1; round <= o.rounds; round++) {
      // Rotate the order so no tool always runs first (cold cache) or last.
      const order = tools.map((_, i) => tools[(i + round - 1) % tools.length]!);
      for (const tool of order) {
        const key = `${tool}-${round}.bin`;
        const [cmd, args, e] = commands[tool](key);
        const storeBefore = await cpuSeconds(o.storePid);
        const t = await timed(cmd, args, e);
        const storeCpuS = (await cpuSeconds(o.storePid)) - storeBefore;
        const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        if (head.ContentLength !== o.size) throw new Error(`${tool} stored ${head.ContentLength} bytes, not ${o.size}`);
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
        runs.push({ tool, round, ...t, storeCpuS });
      }
    }
  } finally {
    s3.destroy();
  }
  return runs;
}
