// The real CDKTF CLI (`npx cdktf`, the dev dependency) deploys and destroys the local stack against moto,
// through the offline provider mirror: the same command docs/aws.md gives for AWS mode, on the stack
// that needs no AMI or Lambda build.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { ListBucketsCommand, S3Client } from "@aws-sdk/client-s3";
import { startMoto, type Moto } from "../../scripts/local/moto.ts";
import { repoRoot } from "../../scripts/local/paths.ts";
import { run } from "../../scripts/local/proc.ts";
import { terraformPreflight } from "../support/preflight.ts";

describe("npx cdktf deploy / destroy (CDKTF CLI 0.21.0) against moto", { timeout: 600_000 }, () => {
  let dir: string;
  let moto: Moto;
  let s3: S3Client;
  let ddb: DynamoDBClient;
  let env: NodeJS.ProcessEnv;
  const cdktf = (...args: string[]) => run("npx", ["--no-install", "cdktf", ...args], { cwd: repoRoot, env, timeoutMs: 300_000 });
  const buckets = async () => (await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name) ?? [];
  const tables = async () => (await ddb.send(new ListTablesCommand({}))).TableNames ?? [];

  before(async () => {
    const mirror = terraformPreflight("npx cdktf deploy");
    dir = await mkdtemp(join(tmpdir(), "t2s-cdktf-cli-"));
    moto = await startMoto({ logDir: dir });
    s3 = new S3Client({ endpoint: moto.endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: "test", secretAccessKey: "test" } });
    ddb = new DynamoDBClient({ endpoint: moto.endpoint, region: "us-east-1", credentials: { accessKeyId: "test", secretAccessKey: "test" } });
    await writeFile(join(dir, "terraformrc"), `provider_installation {\n  filesystem_mirror {\n    path = ${JSON.stringify(mirror)}\n  }\n}\n`);
    env = {
      ...process.env, T2S_SKIP_AWS_STACK: "1", TF_CLI_CONFIG_FILE: join(dir, "terraformrc"), TF_IN_AUTOMATION: "1",
      // No checkpoint calls and no plugin cache in $HOME.
      CHECKPOINT_DISABLE: "1", CDKTF_DISABLE_PLUGIN_CACHE_ENV: "1",
      AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", AWS_PROFILE: "",
    };
  });
  after(async () => {
    s3?.destroy();
    ddb?.destroy();
    await moto?.proc.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("deploys the stack, then destroys it", async () => {
    const out = join(dir, "out");
    // --skip-provider-lock: `terraform providers lock` ignores filesystem mirrors and would go to the registry.
    const common = ["local", "--output", out, "--auto-approve", "--skip-provider-lock", `--var=aws_endpoint=${moto.endpoint}`];
    const deployed = await cdktf("deploy", ...common);
    assert.match(deployed, /Apply complete!/);
    assert.equal((await buckets()).length, 1, "the stack's bucket is not in moto");
    assert.deepEqual(await tables(), ["t2s-jobs"]);
    const destroyed = await cdktf("destroy", ...common);
    assert.match(destroyed, /Destroy complete!/);
    assert.deepEqual(await buckets(), []);
    assert.deepEqual(await tables(), []);
  });
});
