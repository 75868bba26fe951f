// The rehearsal's Lambda (scripts/rehearse/lambda.ts) against moto: functions created through the AWS SDK
// run from their zip by their handler string, with their environment, concurrency and timeout; an SQS
// mapping with ReportBatchItemFailures, a schedule, an SNS lambda subscription and an AWS_IAM function URL
// drive them as AWS would.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CreateEventSourceMappingCommand, CreateFunctionCommand, CreateFunctionUrlConfigCommand, LambdaClient, ListEventSourceMappingsCommand } from "@aws-sdk/client-lambda";
import { CreateTopicCommand, PublishCommand, SNSClient, SubscribeCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageBatchCommand, SQSClient } from "@aws-sdk/client-sqs";
import { signRequest } from "../../scripts/local/moto-guard.ts";
import { startMoto, type Moto } from "../../scripts/local/moto.ts";
import { run } from "../../scripts/local/proc.ts";
import { FunctionError, startLambdaRunner, type LambdaRunner } from "../../scripts/rehearse/lambda.ts";

const keys = { accessKeyId: "test", secretAccessKey: "test" };
const account = "123456789012";
const caller = { accessKeyId: "AKIDCLOUDFRONT", secretAccessKey: "cf-secret", arn: `arn:aws:iam::${account}:role/cf-origin` };

// The handler is src/app.main; the decoy index.mjs is what a runner ignoring the handler string would pick.
const app = `
import { setTimeout as sleep } from "node:timers/promises";
const instance = Math.random().toString(36).slice(2);
console.log("cold start " + instance);
export async function main(event, context) {
  if (event["detail-type"] === "Scheduled Event") return console.log("scheduled " + event.source + " " + event.resources[0]);
  if (event.Records?.[0]?.Sns) return console.log("sns " + event.Records[0].Sns.Message);
  if (event.Records) {
    console.log("batch " + event.Records.map((r) => r.body + "#" + r.attributes.ApproximateReceiveCount).join(","));
    return { batchItemFailures: event.Records.filter((r) => r.body.startsWith("fail")).map((r) => ({ itemIdentifier: r.messageId })) };
  }
  if (event.requestContext) {
    return { statusCode: 201, headers: { "x-echo": "yes" }, cookies: ["a=b; Path=/"], body: JSON.stringify({
      path: event.rawPath, query: event.rawQueryString, body: event.body, b64: event.isBase64Encoded,
      method: event.requestContext.http.method, domain: event.requestContext.domainName, caller: event.requestContext.authorizer?.iam?.userArn,
      cookies: event.cookies, header: event.headers["x-custom"] }) };
  }
  if (event.sleep) await sleep(event.sleep);
  return { instance, pid: process.pid, greeting: process.env.GREETING, endpoint: process.env.AWS_ENDPOINT_URL, name: process.env.AWS_LAMBDA_FUNCTION_NAME,
    memory: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, key: process.env.AWS_ACCESS_KEY_ID, token: process.env.AWS_SESSION_TOKEN,
    remainingOk: context.getRemainingTimeInMillis() > 0, inTaskRoot: process.cwd() === process.env.LAMBDA_TASK_ROOT };
}
`;

/** A DEFLATE zip as terraform's archiver makes one, written by Python's zipfile. */
async function makeZip(dir: string, files: Record<string, string>, out: string): Promise<Buffer> {
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, ".."), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  const py = "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n  for n in sys.argv[2:]: z.write(n)";
  await run("python3", ["-c", py, out, ...Object.keys(files)], { cwd: dir });
  return readFile(out);
}

/** An IAM call to moto (no IAM client is a dependency). */
async function iam(moto: Moto, params: Record<string, string>): Promise<void> {
  const body = Buffer.from(new URLSearchParams({ ...params, Version: "2010-05-08" }).toString());
  const headers = await signRequest({ method: "POST", host: new URL(moto.endpoint).host, path: "/", headers: { "content-type": "application/x-www-form-urlencoded" }, body }, keys, "iam");
  const res = await fetch(`${moto.endpoint}/`, { method: "POST", headers, body });
  assert.equal(res.status, 200, await res.text());
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("rehearsal Lambda runner against moto", () => {
  let dir: string;
  let moto: Moto;
  let lambda: LambdaClient;
  let sqs: SQSClient;
  let sns: SNSClient;
  let runner: LambdaRunner;
  let zipPath: string;
  let queueUrl: string;
  let dlqUrl: string;
  let topicArn: string;
  const logs: string[] = [];
  const roleArn = (n: string) => `arn:aws:iam::${account}:role/${n}`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "t2s-rehearse-lambda-"));
    moto = await startMoto({ logDir: dir });
    const aws = { region: "us-east-1", endpoint: moto.endpoint, credentials: keys };
    [lambda, sqs, sns] = [new LambdaClient(aws), new SQSClient(aws), new SNSClient(aws)];
    const trust = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }] });
    for (const r of ["echo-role", "batch-role"]) await iam(moto, { Action: "CreateRole", RoleName: r, AssumeRolePolicyDocument: trust });
    zipPath = join(dir, "bundle.zip");
    const zip = await makeZip(join(dir, "src-files"), { "src/app.mjs": app, "index.mjs": "export const handler = async () => 'the decoy';" }, zipPath);
    const fn = (name: string, role: string, o: { timeout: number; memory: number; env?: Record<string, string> }) => lambda.send(new CreateFunctionCommand({
      FunctionName: name, Role: roleArn(role), Runtime: "nodejs22.x", Handler: "src/app.main", Code: { ZipFile: zip },
      Timeout: o.timeout, MemorySize: o.memory, Environment: { Variables: o.env ?? {} },
    }));
    await fn("t-echo", "echo-role", { timeout: 2, memory: 256, env: { GREETING: "from the applied env" } });
    await fn("t-batch", "batch-role", { timeout: 10, memory: 128 });
    await lambda.send(new CreateFunctionUrlConfigCommand({ FunctionName: "t-echo", AuthType: "AWS_IAM" }));

    dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: "t-dlq" }))).QueueUrl!;
    queueUrl = (await sqs.send(new CreateQueueCommand({
      QueueName: "t-work",
      Attributes: { VisibilityTimeout: "2", RedrivePolicy: JSON.stringify({ deadLetterTargetArn: `arn:aws:sqs:us-east-1:${account}:t-dlq`, maxReceiveCount: 1 }) },
    }))).QueueUrl!;
    await lambda.send(new CreateEventSourceMappingCommand({
      FunctionName: "t-batch", EventSourceArn: `arn:aws:sqs:us-east-1:${account}:t-work`, BatchSize: 10,
      MaximumBatchingWindowInSeconds: 1, FunctionResponseTypes: ["ReportBatchItemFailures"],
    }));
    topicArn = (await sns.send(new CreateTopicCommand({ Name: "t-interactions" }))).TopicArn!;
    await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: "lambda", Endpoint: `arn:aws:lambda:us-east-1:${account}:function:t-batch` }));
    const events = async (action: string, input: object) => {
      const body = Buffer.from(JSON.stringify(input));
      const headers = await signRequest({ method: "POST", host: new URL(moto.endpoint).host, path: "/", headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": `AWSEvents.${action}` }, body }, keys, "events");
      const res = await fetch(`${moto.endpoint}/`, { method: "POST", headers, body });
      assert.equal(res.status, 200, await res.text());
    };
    await events("PutRule", { Name: "t-sweep", ScheduleExpression: "rate(1 minute)", State: "ENABLED" });
    await events("PutTargets", { Rule: "t-sweep", Targets: [{ Id: "fn", Arn: `arn:aws:lambda:us-east-1:${account}:function:t-batch` }] });

    runner = await startLambdaRunner({
      endpoint: moto.endpoint, keys, zips: { "t-echo": zipPath, "t-batch": zipPath },
      credentialsFor: (arn) => ({ accessKeyId: `key-of-${arn.split("/").pop()}`, secretAccessKey: "role-secret", sessionToken: "role-token" }),
      env: { AWS_ENDPOINT_URL: moto.endpoint },
      log: (fn, stream, line) => logs.push(`${fn} ${stream} ${line}`),
      schedulePeriod: () => 300,
      urlSigner: (id) => (id === caller.accessKeyId ? caller : undefined),
      tap: moto.tap,
    });
  });
  after(async () => {
    await runner?.close();
    for (const c of [lambda, sqs, sns]) c?.destroy();
    await moto?.proc.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("runs the handler string's module with the applied env, memory and the role's credentials; sequential events reuse one instance", async () => {
    const a = await runner.invoke("t-echo", {}) as Record<string, unknown>;
    const b = await runner.invoke("t-echo", {}) as Record<string, unknown>;
    assert.deepEqual({ ...a, instance: undefined, pid: undefined }, {
      instance: undefined, pid: undefined, greeting: "from the applied env", endpoint: moto.endpoint, name: "t-echo", memory: "256",
      key: "key-of-echo-role", token: "role-token", remainingOk: true, inTaskRoot: true,
    });
    assert.equal(b.instance, a.instance);
    const cold = runner.stats().coldStarts.filter((c) => c.fn === "t-echo");
    assert.equal(cold.length, 1);
    assert.ok(cold[0]!.ms >= cold[0]!.initMs && cold[0]!.initMs > 0, JSON.stringify(cold));
    assert.ok(logs.some((l) => l.startsWith("t-echo stdout cold start ")), logs.join("\n"));
  });

  it("runs concurrent events on concurrent instances", async () => {
    const t0 = Date.now();
    const [a, b] = await Promise.all([runner.invoke("t-echo", { sleep: 1000 }), runner.invoke("t-echo", { sleep: 1000 })]) as Record<string, unknown>[];
    assert.notEqual(a!.instance, b!.instance);
    assert.ok(Date.now() - t0 < 1900, `took ${Date.now() - t0} ms`);
    assert.equal(runner.stats().coldStarts.filter((c) => c.fn === "t-echo").length, 2);
  });

  it("kills an instance past its timeout and fails the invocation", async () => {
    const errorsBefore = runner.stats().errors["t-echo"]!;
    const t0 = Date.now();
    await assert.rejects(runner.invoke("t-echo", { sleep: 5000 }), (err: FunctionError) => {
      assert.equal(err.errorType, "Sandbox.Timedout");
      assert.match(err.message, /Task timed out after 2\.00 seconds/);
      return true;
    });
    assert.ok(Date.now() - t0 < 3500);
    assert.equal(runner.stats().errors["t-echo"], errorsBefore + 1);
    // The killed instance is not handed out again: two concurrent events still get two live instances.
    const [a, b] = await Promise.all([runner.invoke("t-echo", { sleep: 200 }), runner.invoke("t-echo", { sleep: 200 })]) as Record<string, unknown>[];
    assert.notEqual(a!.instance, b!.instance);
  });

  it("an SQS batch with ReportBatchItemFailures: only the failed records stay, and the queue's redrive takes them to the DLQ", async () => {
    await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: ["ok-1", "fail-1", "ok-2", "fail-2"].map((b, i) => ({ Id: String(i), MessageBody: b })) }));
    const moved = new Set<string>();
    await until("the failed records in the DLQ", async () => {
      const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 60 }));
      for (const m of got.Messages ?? []) moved.add(m.Body!);
      return moved.size >= 2;
    });
    assert.deepEqual([...moved].sort(), ["fail-1", "fail-2"]);
    const attrs = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] }))).Attributes!;
    assert.deepEqual([attrs.ApproximateNumberOfMessages, attrs.ApproximateNumberOfMessagesNotVisible], ["0", "0"]);
    // Each record was received once, by the runner (moto's own mapping delivery is off).
    const batches = logs.filter((l) => l.startsWith("t-batch stdout batch ")).join(",");
    for (const b of ["ok-1#1", "fail-1#1", "ok-2#1", "fail-2#1"]) assert.ok(batches.includes(b), batches);
  });

  it("a schedule invokes its target with a scheduled event; an SNS Publish to a lambda subscription reaches the function", async () => {
    await until("a scheduled event", () => logs.find((l) => l.startsWith(`t-batch stdout scheduled aws.events arn:aws:events:us-east-1:${account}:rule/t-sweep`)));
    await sns.send(new PublishCommand({ TopicArn: topicArn, Message: "an interaction" }));
    await until("the SNS delivery", () => logs.find((l) => l === "t-batch stdout sns an interaction"));
  });

  it("the AWS_IAM function URL refuses an unsigned request and a wrong body hash, and serves a signed one", async () => {
    const url = runner.urls["t-echo"]!;
    assert.equal(url.authType, "AWS_IAM");
    assert.match(url.functionUrl, /^https:\/\/[0-9a-f]+\.lambda-url\.us-east-1\.on\.aws/);
    const target = new URL("/zip/abc?x=1&y=2", url.local);
    const body = Buffer.from([0, 1, 2, 250]);
    const send = async (headers: Record<string, string>) => {
      const res = await fetch(target, { method: "POST", headers, body });
      return { status: res.status, json: await res.json() as Record<string, unknown>, res };
    };
    const unsigned = await send({ "content-type": "application/octet-stream" });
    assert.deepEqual([unsigned.status, unsigned.json], [403, { Message: "Forbidden" }]);

    const sign = (hash: string) => signRequest({
      method: "POST", host: target.host, path: target.pathname + target.search, body,
      headers: { "content-type": "application/octet-stream", "x-amz-content-sha256": hash, "x-custom": "kept", cookie: "s=1; t=2" },
    }, caller, "lambda");
    const wrong = await send(await sign(createHash("sha256").update("another body").digest("hex")));
    assert.equal(wrong.status, 403);
    assert.match(String(wrong.json.message), /^The request signature we calculated does not match/);

    const good = await send(await sign(createHash("sha256").update(body).digest("hex")));
    assert.equal(good.status, 201, JSON.stringify(good.json));
    assert.equal(good.res.headers.get("x-echo"), "yes");
    assert.deepEqual(good.res.headers.getSetCookie(), ["a=b; Path=/"]);
    assert.deepEqual(good.json, {
      path: "/zip/abc", query: "x=1&y=2", body: body.toString("base64"), b64: true, method: "POST",
      domain: new URL(url.functionUrl).host, caller: caller.arn, cookies: ["s=1", "t=2"], header: "kept",
    });
  });

  it("close() ends every instance and the URL server, and hands the mapping back to moto", async () => {
    const { pid } = await runner.invoke("t-echo", {}) as { pid: number };
    await runner.close();
    assert.throws(() => process.kill(pid, 0), { code: "ESRCH" });
    await assert.rejects(fetch(runner.urls["t-echo"]!.local));
    const state = (await lambda.send(new ListEventSourceMappingsCommand({ FunctionName: "t-batch" }))).EventSourceMappings?.[0]?.State;
    assert.equal(state, "Enabled");
  });

  it("refuses a zip that is not the code moto has", async () => {
    const other = join(dir, "other.zip");
    await makeZip(join(dir, "other-files"), { "index.mjs": "export const handler = async () => 1;" }, other);
    await assert.rejects(
      startLambdaRunner({ endpoint: moto.endpoint, keys, zips: { "t-echo": other }, credentialsFor: () => keys, log: () => {} }),
      /t-echo: .*other\.zip is not the code moto has/,
    );
  });
});
