// AWS mode offline: `terraform validate` of the synthesized production stack through the provider
// mirror, terraform's own variable checks refusing bad -var values at plan time, and the budget's count
// evaluated by terraform under each setting.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { App } from "cdktf";
import { generateKeyPairSync } from "node:crypto";
import { buildAws, type AwsBuild } from "../../scripts/build-lambda.ts";
import { freePort } from "../../scripts/local/net.ts";
import { run } from "../../scripts/local/proc.ts";
import { awsDefaults } from "../../stacks/aws-settings.ts";
import { AwsStack } from "../../stacks/aws.ts";
import { terraformPreflight } from "../support/preflight.ts";

describe("aws stack: terraform validate (offline)", { timeout: 300_000 }, () => {
  let dir: string;
  let build: AwsBuild;
  let env: NodeJS.ProcessEnv;

  const synth = (out: string, localEndpoint?: string, settings = awsDefaults) => {
    const app = new App({ outdir: join(dir, out) });
    new AwsStack(app, "aws", { settings, build, statePath: join(dir, out, "terraform.tfstate"), ...(localEndpoint ? { localEndpoint } : {}) });
    app.synth();
    return join(dir, out, "stacks", "aws");
  };
  const tf = (stackDir: string, ...args: string[]) => run("terraform", [`-chdir=${stackDir}`, ...args, "-no-color"], { env, timeoutMs: 120_000 });

  before(async () => {
    const mirror = terraformPreflight("terraform validate");
    dir = await mkdtemp(join(tmpdir(), "t2s-aws-validate-"));
    await writeFile(join(dir, "terraformrc"), `provider_installation {\n  filesystem_mirror {\n    path = ${JSON.stringify(mirror)}\n  }\n}\n`);
    // No real credentials and no network: everything stays on this machine.
    env = { ...process.env, TF_CLI_CONFIG_FILE: join(dir, "terraformrc"), CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1", TF_PLUGIN_CACHE_DIR: "", AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", AWS_PROFILE: "" };
    build = await buildAws(join(import.meta.dirname, "..", ".."), join(dir, "build"));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("passes terraform validate with the pinned AWS provider 5.100.0 (with downloads through CloudFront: every resource)", async () => {
    const downloadsPublicKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "pem" }).toString();
    const stackDir = synth("prod", undefined, { ...awsDefaults, downloadsPublicKey });
    const init = await tf(stackDir, "init", "-input=false", "-backend=false");
    assert.match(init, /hashicorp\/aws v5\.100\.0/);
    assert.match(await tf(stackDir, "validate"), /The configuration is valid/);
  });

  it("refuses an unknown arch, a volume under 8 GiB, a retention of 0, a malformed Discord public key, bad fleet settings, a budget that is no number, a bad alarm e-mail, log retention and qBittorrent concurrency at plan time", async () => {
    // Pointed at a closed loopback port: the plan stops at the variable checks, before any API call matters.
    const stackDir = synth("local", `http://127.0.0.1:${await freePort()}`);
    await tf(stackDir, "init", "-input=false");
    const plan = await tf(stackDir, "plan", "-input=false", "-refresh=false", "-var=arch=sparc", "-var=volume_size_gib=4", "-var=retention_days=0", "-var=discord_public_key=not-a-key",
      "-var=max_seedboxes=0", "-var=idle_minutes=0.5", "-var=max_torrents=0", '-var=instance_types=["t4g.medium","nope"]', "-var=monthly_budget_usd=lots",
      "-var=alarm_email=owner-at-example", "-var=log_retention_days=10", "-var=qbittorrent_concurrency=-2").then(
      () => assert.fail("terraform plan accepted bad variables"),
      (err: Error) => err.message,
    );
    assert.match(plan, /arch must be "arm64" or "x86_64"/);
    assert.match(plan, /volume_size_gib must be at least 8/);
    assert.match(plan, /retention_days must be at least 1/);
    assert.match(plan, /discord_public_key must be the 64 hex characters/);
    assert.match(plan, /max_seedboxes must be a whole number from 1 to 100/);
    assert.match(plan, /idle_minutes must be a whole number of at least 1/);
    assert.match(plan, /max_torrents must be a whole number of at least 1/);
    assert.match(plan, /instance_types must be EC2 instance types/);
    assert.match(plan, /monthly_budget_usd must be empty \(no guard\) or a number of dollars/);
    assert.match(plan, /alarm_email must be an e-mail address or empty/);
    assert.match(plan, /log_retention_days must be one of 1, 3, 5, 7, 14, 30,/);
    assert.match(plan, /qbittorrent_concurrency must be a whole number from -1 to 100/);
  });
  it("creates the AWS Budgets budget only with both monthly_budget_usd above 0 and alarm_email (its count, evaluated by terraform)", async () => {
    // console reads the (empty, local) state: a full init.
    const stackDir = synth("budget");
    await tf(stackDir, "init", "-input=false");
    const synthesized = JSON.parse(await readFile(join(stackDir, "cdk.tf.json"), "utf8")) as { resource: { aws_budgets_budget: Record<string, { count: string }> } };
    const [budget] = Object.values(synthesized.resource.aws_budgets_budget);
    const count = budget!.count.replace(/^\$\{([\s\S]*)\}$/, "$1");
    const countWith = (budgetUsd: string, email: string) =>
      execFileSync("terraform", [`-chdir=${stackDir}`, "console", "-no-color", `-var=monthly_budget_usd=${budgetUsd}`, `-var=alarm_email=${email}`], { input: `${count}\n`, env, encoding: "utf8", timeout: 60_000 }).trim();
    assert.deepEqual(
      [["", ""], ["25", ""], ["", "owner@example.com"], ["0", "owner@example.com"], ["25", "owner@example.com"], ["12.5", "owner@example.com"], ["0.5", "owner@example.com"]].map(([b, e]) => countWith(b!, e!)),
      ["0", "0", "0", "0", "1", "1", "1"],
    );
  });
});
