// The rehearsal's stack: stacks/aws.ts synthesized and applied by real terraform to moto, as the owner's
// `npm run deploy` applies it to AWS. Everything the rehearsal runs afterwards reads its configuration back
// from what was applied (moto's API and terraform's state), never from the sources.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { App } from "cdktf";
import { DeleteBucketPolicyCommand, GetBucketPolicyCommand, ListBucketsCommand, PutBucketPolicyCommand, type S3Client } from "@aws-sdk/client-s3";
import { buildAws, type AwsBuild } from "../build-lambda.ts";
import { findProviderMirror } from "../local/terraform.ts";
import { repoRoot } from "../local/paths.ts";
import { run } from "../local/proc.ts";
import { awsDefaults, type AwsSettings } from "../../stacks/aws-settings.ts";
import { AwsStack } from "../../stacks/aws.ts";
import { debianOwner, debianRelease } from "../../stacks/seedbox-fleet.ts";

export const rehearsalRegion = "us-east-1";

/**
 * Debian's own images as Debian publishes them (owner 136693071363, the release the rehearsal boots);
 * moto ships none, so it loads these from MOTO_AMIS_PATH at start.
 */
export function debianAmis(): object[] {
  return (["arm64", "x86_64"] as const).map((arch, i) => ({
    ami_id: `ami-0deb${debianRelease.version}${i}000000000`, state: "available", public: true, owner_id: debianOwner,
    image_location: `${debianOwner}/debian-${debianRelease.version}`, root_device_type: "ebs", root_device_name: "/dev/xvda",
    description: `Debian ${debianRelease.version} (rehearsal image)`, image_type: "machine", architecture: arch,
    name: `debian-${debianRelease.version}-${arch === "arm64" ? "arm64" : "amd64"}-20251101-1000`,
    virtualization_type: "hvm", hypervisor: "xen",
  }));
}

/** moto's environment for the rehearsal: Debian's images, and AWS managed policies for the IAM checks. */
export async function motoEnv(dir: string): Promise<Record<string, string>> {
  const amis = join(dir, "amis.json");
  await writeFile(amis, JSON.stringify(debianAmis()));
  return { MOTO_AMIS_PATH: amis, MOTO_IAM_LOAD_MANAGED_POLICIES: "true" };
}

export interface AppliedStack {
  build: AwsBuild;
  stackDir: string;
  statePath: string;
  outputs: Record<string, string>;
  settings: AwsSettings;
  /** terraform in the stack's folder, with the mirror and moto's keys. */
  tf(...args: string[]): Promise<string>;
  /** Each resource's attributes as terraform recorded them (type.name -> attributes). */
  state(): Promise<Map<string, Record<string, unknown>>>;
}

/** Builds what the stack uploads, synthesizes it against moto, and applies it. */
export async function applyAwsStack(o: { dir: string; motoEndpoint: string; settings: Partial<AwsSettings>; log: (line: string) => void }): Promise<AppliedStack> {
  const mirror = findProviderMirror();
  if (!mirror) throw new Error("the rehearsal needs a filesystem mirror of the AWS provider 5.100.0 (set T2S_TF_PROVIDER_MIRROR)");
  const settings: AwsSettings = { ...awsDefaults, ...o.settings };
  let t0 = Date.now();
  const build = await buildAws(repoRoot, join(o.dir, "build"));
  o.log(`built the Lambda bundles and the release in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const statePath = join(o.dir, "terraform.tfstate");
  const app = new App({ outdir: join(o.dir, "out") });
  new AwsStack(app, "aws", { settings, build, localEndpoint: o.motoEndpoint, statePath });
  app.synth();
  const stackDir = join(o.dir, "out", "stacks", "aws");
  await writeFile(join(o.dir, "terraformrc"), `provider_installation {\n  filesystem_mirror {\n    path = ${JSON.stringify(mirror)}\n  }\n}\n`);
  const env = {
    ...process.env, TF_CLI_CONFIG_FILE: join(o.dir, "terraformrc"), CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1", TF_PLUGIN_CACHE_DIR: "",
    // moto's keys: not secrets.
    AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", AWS_SESSION_TOKEN: "", AWS_PROFILE: "",
  };
  const tf = (...args: string[]) => run("terraform", [`-chdir=${stackDir}`, ...args, "-no-color"], { env, timeoutMs: 900_000 });
  await tf("init", "-input=false");
  t0 = Date.now();
  await tf("apply", "-auto-approve", "-input=false");
  o.log(`terraform apply to moto in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const raw = JSON.parse(await tf("output", "-json")) as Record<string, { value: unknown }>;
  const outputs = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, String(v.value)]));
  const state = async () => {
    const s = JSON.parse(await tf("show", "-json")) as { values?: { root_module?: Module } };
    const all = new Map<string, Record<string, unknown>>();
    const walk = (m: Module | undefined) => {
      for (const r of m?.resources ?? []) all.set(`${r.type}.${r.name}${r.index === undefined ? "" : `[${JSON.stringify(r.index)}]`}`, r.values);
      for (const c of m?.child_modules ?? []) walk(c);
    };
    walk(s.values?.root_module);
    return all;
  };
  return { build, stackDir, statePath, outputs, settings, tf, state };
}

interface Module {
  resources?: { type: string; name: string; index?: unknown; values: Record<string, unknown> }[];
  child_modules?: Module[];
}

/** The resources of one type in the applied state. */
export function resourcesOf(state: Map<string, Record<string, unknown>>, type: string): Record<string, unknown>[] {
  return [...state].filter(([k]) => k.startsWith(`${type}.`)).map(([, v]) => v);
}

/**
 * moto evaluates a bucket policy's Deny without the request's context, so the TLS-only statement
 * (Deny unless aws:SecureTransport) denies every object request, over TLS or not. After the apply, the
 * rehearsal takes out only the statements conditioned on aws:SecureTransport, and says which; the
 * policy as applied is checked by test/integration/aws-apply.test.ts.
 */
export async function liftTlsOnlyStatements(s3: S3Client, log: (line: string) => void): Promise<void> {
  for (const b of (await s3.send(new ListBucketsCommand({}))).Buckets ?? []) {
    const policy = await s3.send(new GetBucketPolicyCommand({ Bucket: b.Name })).then((r) => r.Policy, () => undefined);
    if (!policy) continue;
    const doc = JSON.parse(policy) as { Statement: { Condition?: { Bool?: Record<string, unknown> } }[] };
    const kept = doc.Statement.filter((st) => st.Condition?.Bool?.["aws:SecureTransport"] === undefined);
    if (kept.length === doc.Statement.length) continue;
    if (kept.length === 0) await s3.send(new DeleteBucketPolicyCommand({ Bucket: b.Name }));
    else await s3.send(new PutBucketPolicyCommand({ Bucket: b.Name, Policy: JSON.stringify({ ...doc, Statement: kept }) }));
    log(`moto cannot evaluate aws:SecureTransport: lifted the TLS-only statement from the bucket policy of ${b.Name}`);
  }
}
