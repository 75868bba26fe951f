// Applies the CDKTF local stack to the local endpoints with real terraform, offline where a provider
// mirror is present.
import { existsSync } from "node:fs";
import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { HeadBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { motoApi, replayRecording } from "./moto.ts";
import { repoRoot } from "./paths.ts";
import { run } from "./proc.ts";

export interface StackOutputs {
  bucket: string;
  requests_topic_arn: string;
  requests_queue_url: string;
  requests_dlq_url: string;
  facts_topic_arn: string;
  facts_queue_url: string;
  facts_dlq_url: string;
  updates_topic_arn: string;
  updates_bot_queue_url: string;
  jobs_table: string;
  webhooks_queue_url: string;
}

const awsProviderVersion = "5.100.0";

/** A filesystem mirror holding the AWS provider, if this machine has one. */
export function findProviderMirror(env = process.env): string | null {
  const candidates = [
    env.T2S_TF_PROVIDER_MIRROR,
    "/opt/tf-plugins",
    join(homedir(), ".terraform.d", "plugins"),
    join(homedir(), ".local", "share", "terraform", "plugins"),
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
  ];
  for (const dir of candidates) {
    if (dir && existsSync(join(dir, "registry.terraform.io", "hashicorp", "aws", awsProviderVersion))) return dir;
  }
  return null;
}

async function cliConfig(dataDir: string): Promise<NodeJS.ProcessEnv> {
  const mirror = findProviderMirror();
  if (!mirror) return {};
  const file = join(dataDir, "terraformrc");
  await writeFile(file, `provider_installation {\n  filesystem_mirror {\n    path = ${JSON.stringify(mirror)}\n  }\n}\n`);
  return { TF_CLI_CONFIG_FILE: file };
}

export async function synth(outDir: string): Promise<string> {
  await run(process.execPath, [join(repoRoot, "stacks", "main.ts")], {
    cwd: repoRoot,
    // Local mode needs only the local stack; building the AWS Lambda bundle would be wasted work.
    env: { ...process.env, CDKTF_OUTDIR: outDir, CHECKPOINT_DISABLE: "1", T2S_SKIP_AWS_STACK: "1" },
  });
  return join(outDir, "stacks", "local");
}

export interface LocalEndpoints {
  /** moto: queues and topics, in memory, behind a front that takes only requests signed with `keys`. */
  endpoint: string;
  /** The local S3 store, on disk. */
  s3Endpoint: string;
  keys: { accessKeyId: string; secretAccessKey: string };
}

/** What the last full apply left: the stack it applied, moto's endpoint then, and the outputs. */
interface Applied {
  hash: string;
  endpoint: string;
  outputs: StackOutputs;
}

/**
 * Brings the local endpoints to the synthesized stack. The bucket lives on disk and the state beside it,
 * but moto starts empty each run. A full terraform apply (which recreates what moto lost) runs only when
 * the stack changed; otherwise moto's part is restored by replaying the calls the last apply made,
 * recorded by moto itself: seconds instead of a minute of provider waits.
 */
export async function applyLocalStack(o: LocalEndpoints & { dataDir: string; name?: string; retentionDays?: number; log?: (s: string) => void }): Promise<StackOutputs> {
  const tfDir = join(o.dataDir, "terraform");
  await mkdir(tfDir, { recursive: true });
  const dir = await synth(join(tfDir, "cdktf.out"));
  const hash = createHash("sha256").update(await readFile(join(dir, "cdk.tf.json"))).update(o.name ?? "t2s").update(` ${o.retentionDays ?? 7}`).digest("hex");
  const appliedFile = join(tfDir, "applied.json");
  const recording = join(tfDir, "moto-recording.jsonl");
  const applied = existsSync(appliedFile) ? (JSON.parse(await readFile(appliedFile, "utf8")) as Applied) : null;
  const moto = recorder(o.endpoint, o.keys);
  if (applied?.hash === hash && existsSync(recording) && existsSync(join(dir, "terraform.tfstate"))) {
    const swap = (text: string) => text.replaceAll(new URL(applied.endpoint).host, new URL(o.endpoint).host);
    await replayRecording(o.endpoint, o.keys, swap(await readFile(recording, "utf8")));
    const outputs = JSON.parse(swap(JSON.stringify(applied.outputs))) as StackOutputs;
    // The replay does not check what it replays, and the store's folder may have been lost or restored
    // without terraform/: a stack found incomplete is applied in full below.
    const missing = await missingPart(outputs, o);
    if (!missing) {
      o.log?.("restored the stack's queues and topics (stacks/ unchanged)");
      return outputs;
    }
    o.log?.(`the stack is incomplete after the replay (${missing}); applying stacks/ in full`);
    // From an empty moto, so that the new recording holds the whole stack.
    const reset = await motoApi(o.endpoint, o.keys)("/moto-api/reset");
    if (!reset.ok) throw new Error(`moto reset: HTTP ${reset.status}`);
  }

  const env = {
    ...process.env,
    ...(await cliConfig(tfDir)),
    CHECKPOINT_DISABLE: "1",
    TF_IN_AUTOMATION: "1",
    TF_PLUGIN_CACHE_DIR: "",
    // The local store's keys; the owner's real AWS credentials stay out of local mode.
    AWS_ACCESS_KEY_ID: o.keys.accessKeyId,
    AWS_SECRET_ACCESS_KEY: o.keys.secretAccessKey,
    AWS_SESSION_TOKEN: "",
    AWS_PROFILE: "",
  };
  const tf = (...args: string[]) => run("terraform", [`-chdir=${dir}`, ...args], { env, timeoutMs: 300_000 });
  if (!existsSync(join(dir, ".terraform", "providers"))) await tf("init", "-input=false", "-no-color");
  await rm(appliedFile, { force: true });
  await moto("reset-recording");
  await moto("start-recording");
  // The state is kept: the bucket it names is on disk. What moto lost, terraform finds gone and recreates.
  await tf("apply", "-auto-approve", "-input=false", "-no-color",
    `-var=aws_endpoint=${o.endpoint}`, `-var=s3_endpoint=${o.s3Endpoint}`, `-var=name=${o.name ?? "t2s"}`, `-var=retention_days=${o.retentionDays ?? 7}`);
  await moto("stop-recording");
  await writeFile(recording, await moto("download-recording"), { mode: 0o600 });
  const raw = JSON.parse(await tf("output", "-json", "-no-color")) as Record<string, { value: string }>;
  const outputs = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, v.value])) as unknown as StackOutputs;
  const record: Applied = { hash, endpoint: o.endpoint, outputs };
  await writeFile(appliedFile, JSON.stringify(record), { mode: 0o600 });
  return outputs;
}

/** What of the stack the endpoints lack: the bucket or a queue, by its output name; null when nothing. */
async function missingPart(outputs: StackOutputs, o: LocalEndpoints): Promise<string | null> {
  const common = { region: "us-east-1", credentials: o.keys, maxAttempts: 1 };
  const s3 = new S3Client({ ...common, endpoint: o.s3Endpoint, forcePathStyle: true });
  const sqs = new SQSClient({ ...common, endpoint: o.endpoint });
  const queues = Object.entries(outputs).filter(([k]) => k.endsWith("_queue_url") || k.endsWith("_dlq_url"));
  try {
    const ok = (p: Promise<unknown>) => p.then(() => true, () => false);
    if (!(await ok(s3.send(new HeadBucketCommand({ Bucket: outputs.bucket }))))) return "bucket";
    for (const [name, url] of queues) {
      if (!(await ok(sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }))))) return name;
    }
    return null;
  } finally {
    s3.destroy();
    sqs.destroy();
  }
}

/** moto's recorder API: POST /moto-api/recorder/<action>. */
function recorder(endpoint: string, keys: LocalEndpoints["keys"]): (action: string) => Promise<string> {
  const call = motoApi(endpoint, keys);
  return async (action) => {
    const res = await call(`/moto-api/recorder/${action}`);
    if (!res.ok) throw new Error(`moto recorder ${action}: HTTP ${res.status}`);
    return res.text();
  };
}
