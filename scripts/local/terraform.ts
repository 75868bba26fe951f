// Applies the CDKTF local stack to the local AWS endpoint with real terraform, offline where a
// provider mirror is present.
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
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

/** Synthesizes and applies the local stack against `endpoint`; returns its outputs. */
export async function applyLocalStack(o: { dataDir: string; endpoint: string; name?: string }): Promise<StackOutputs> {
  const tfDir = join(o.dataDir, "terraform");
  await mkdir(tfDir, { recursive: true });
  const dir = await synth(join(tfDir, "cdktf.out"));
  const env = {
    ...process.env,
    ...(await cliConfig(tfDir)),
    CHECKPOINT_DISABLE: "1",
    TF_IN_AUTOMATION: "1",
    TF_PLUGIN_CACHE_DIR: "",
    // moto takes any credentials; keep the owner's real ones out of local mode.
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    AWS_SESSION_TOKEN: "",
    AWS_PROFILE: "",
  };
  const tf = (...args: string[]) => run("terraform", [`-chdir=${dir}`, ...args], { env, timeoutMs: 300_000 });
  if (!existsSync(join(dir, ".terraform", "providers"))) await tf("init", "-input=false", "-no-color");
  // moto keeps nothing across restarts, so an old state would only describe resources that are gone.
  await rm(join(dir, "terraform.tfstate"), { force: true });
  await rm(join(dir, "terraform.tfstate.backup"), { force: true });
  await tf("apply", "-auto-approve", "-input=false", "-no-color", `-var=aws_endpoint=${o.endpoint}`, `-var=name=${o.name ?? "t2s"}`);
  const raw = JSON.parse(await tf("output", "-json", "-no-color")) as Record<string, { value: string }>;
  const outputs = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, v.value]));
  return outputs as unknown as StackOutputs;
}
