// Secret rotation (scripts/rotate-secrets.ts) against moto's SSM and Lambda: each parameter gets a new
// value, and exactly the functions that read it are refreshed (the old README loop missed
// <name>-ingest-webhooks and <name>-ingest-sweep). No value is printed.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CreateFunctionCommand, DeleteFunctionCommand, GetFunctionConfigurationCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { refreshFunction } from "../../lib/aws/functions.ts";
import { putSecret } from "../../lib/aws/ssm.ts";
import { startMoto, type Moto } from "../../scripts/local/moto.ts";
import { repoRoot } from "../../scripts/local/paths.ts";
import { rotateSecrets } from "../../scripts/rotate-secrets.ts";
import { secretNames, secretReaders } from "../../stacks/aws-settings.ts";

const name = "rot";
const credentials = { accessKeyId: "test", secretAccessKey: "test" };
// An empty zip archive: moto stores the code without running it.
const emptyZip = Buffer.from([0x50, 0x4b, 0x05, 0x06, ...Array(18).fill(0)]);

describe("rotate-secrets against moto", () => {
  let dir: string;
  let moto: Moto;
  let ssm: SSMClient;
  let lambda: LambdaClient;
  const params = secretNames(name);
  const all = [...new Set(Object.values(secretReaders(name)).flat())].sort();
  const value = async (p: string) => (await ssm.send(new GetParameterCommand({ Name: p, WithDecryption: true }))).Parameter!.Value!;
  const description = async (fn: string) => (await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: fn }))).Description ?? "";
  const run = async (args: string[], discord = "") => {
    const lines: string[] = [];
    const code = await rotateSecrets(args, {
      name, print: (l) => lines.push(l), now: () => new Date("2026-12-07T03:00:00.000Z"),
      putSecret: (p, v) => putSecret(ssm, p, v),
      refresh: (fn, d) => refreshFunction(lambda, fn, d, 10_000),
      readDiscordToken: async () => discord,
    });
    return { code, lines };
  };
  const reset = async () => {
    for (const fn of [...all, `${name}-unrelated`]) await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: fn })).then(() => refreshFunction(lambda, fn, "", 10_000), () => {});
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "t2s-rotate-"));
    moto = await startMoto({ logDir: dir });
    const opts = { region: "us-east-1", endpoint: moto.endpoint, credentials };
    ssm = new SSMClient(opts);
    lambda = new LambdaClient(opts);
    const role = await fetch(moto.endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0" },
      body: new URLSearchParams({ Action: "CreateRole", Version: "2010-05-08", RoleName: "fn", AssumeRolePolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [] }) }),
    });
    assert.equal(role.status, 200, await role.text());
    for (const fn of [...all, `${name}-unrelated`]) {
      await lambda.send(new CreateFunctionCommand({ FunctionName: fn, Role: "arn:aws:iam::123456789012:role/fn", Runtime: "nodejs22.x", Handler: "index.h", Code: { ZipFile: emptyZip } }));
    }
    for (const p of Object.values(params)) await putSecret(ssm, p, `old-${p}`);
  });
  after(async () => {
    ssm?.destroy();
    lambda?.destroy();
    await moto?.proc.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("api-token: a new random value, and all eight functions that read it refreshed, the ingest webhooks, sweep and qBittorrent functions included", async () => {
    const r = await run(["api-token"]);
    assert.equal(r.code, 0, r.lines.join("\n"));
    const v = await value(params.apiToken);
    assert.match(v, /^[0-9a-f]{64}$/);
    assert.equal(all.length, 8);
    for (const fn of all) assert.equal(await description(fn), "secrets rotated 2026-12-07T03:00:00.000Z", fn);
    assert.ok(all.includes(`${name}-ingest-webhooks`) && all.includes(`${name}-ingest-sweep`) && all.includes(`${name}-ingest-qbt`));
    assert.equal(await description(`${name}-unrelated`), "");
    assert.equal(await value(params.signingSecret), `old-${params.signingSecret}`, "only the named parameter changes");
    assert.ok(!r.lines.some((l) => l.includes(v)), "the new value was printed");
    assert.match(r.lines.at(-1)!, /aws ssm get-parameter --with-decryption --name \/rot\/api-token/);
  });

  it("signing-secret: only the five ingest functions read it, so only they are refreshed", async () => {
    await reset();
    const r = await run(["signing-secret"]);
    assert.equal(r.code, 0, r.lines.join("\n"));
    assert.match(await value(params.signingSecret), /^[0-9a-f]{64}$/);
    const refreshed = [];
    for (const fn of all) if (await description(fn)) refreshed.push(fn);
    assert.deepEqual(refreshed, ["ingest", "ingest-facts", "ingest-qbt", "ingest-sweep", "ingest-webhooks"].map((f) => `${name}-${f}`));
  });

  it("discord-token: the value from stdin (trimmed), the worker and the updates consumer refreshed; an empty stdin changes nothing", async () => {
    await reset();
    assert.equal((await run(["discord-token"], "  \n")).code, 2);
    assert.equal(await value(params.discordToken), `old-${params.discordToken}`);
    const r = await run(["discord-token"], "new.discord.token\n");
    assert.equal(r.code, 0, r.lines.join("\n"));
    assert.equal(await value(params.discordToken), "new.discord.token");
    const refreshed = [];
    for (const fn of all) if (await description(fn)) refreshed.push(fn);
    assert.deepEqual(refreshed, [`${name}-discord-updates`, `${name}-discord-work`]);
  });

  it("names a function it could not refresh and exits 1; an unknown choice is a usage error", async () => {
    await lambda.send(new DeleteFunctionCommand({ FunctionName: `${name}-discord-work` }));
    const r = await run(["discord-token"], "another.token");
    assert.equal(r.code, 1);
    assert.ok(r.lines.some((l) => l.startsWith(`could not refresh ${name}-discord-work:`)), r.lines.join("\n"));
    assert.ok(r.lines.includes(`refreshed ${name}-discord-updates`));
    assert.equal((await run(["api-tokens"])).code, 2);
    assert.equal((await run([])).code, 2);
  });

  it("as a command: takes the name and the region from the settings file", async () => {
    const settings = join(dir, "t2s.aws.json");
    await writeFile(settings, JSON.stringify({ name, region: "us-east-1" }));
    const before = await value(params.signingSecret);
    // Not spawnSync: moto's front runs in this process, and a blocked event loop would hang the command.
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [join(repoRoot, "scripts", "rotate-secrets.ts"), "signing-secret"], {
        env: { ...process.env, T2S_AWS_SETTINGS: settings, AWS_ENDPOINT_URL: moto.endpoint, AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", AWS_REGION: "eu-west-3", AWS_PROFILE: "" },
      });
      let [stdout, stderr] = ["", ""];
      p.stdout.on("data", (d: Buffer) => void (stdout += d.toString()));
      p.stderr.on("data", (d: Buffer) => void (stderr += d.toString()));
      const timer = setTimeout(() => p.kill(), 60_000);
      p.once("close", (status) => (clearTimeout(timer), resolve({ status, stdout, stderr })));
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.notEqual(await value(params.signingSecret), before);
    assert.match(r.stdout, /^rotated \/rot\/signing-secret$/m);
    assert.match(r.stdout, /^refreshed rot-ingest-sweep$/m);
  });
});
