// Least privilege by running under it (scripts/rehearse/iam.ts): a role in moto with an inline and an AWS
// managed policy, its credentials from moto's STS, calls made with them through moto's front and through
// the S3 recording proxy, each judged against the role's policies by the IAM simulator.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CreateTableCommand, DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { AttachRolePolicyCommand, CreateRoleCommand, IAMClient, PutRolePolicyCommand } from "@aws-sdk/client-iam";
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { CreateQueueCommand, GetQueueUrlCommand, ListQueuesCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import type { Keys } from "../../scripts/local/moto-guard.ts";
import { motoApi, startMoto, type Moto } from "../../scripts/local/moto.ts";
import { assumeRole, evaluateRecorder, IamRecorder, type Evaluation, type RoleCredentials } from "../../scripts/rehearse/iam.ts";
import { startRecordProxy, type RecordProxy } from "../../scripts/rehearse/record-proxy.ts";

const account = "123456789012";
const region = "us-east-1";
const admin = { accessKeyId: "test", secretAccessKey: "test" };
const arn = {
  allowedQueue: `arn:aws:sqs:${region}:${account}:iam-allowed`,
  otherQueue: `arn:aws:sqs:${region}:${account}:iam-other`,
  table: `arn:aws:dynamodb:${region}:${account}:table/iam-jobs`,
  parameter: `arn:aws:ssm:${region}:${account}:parameter/iam/secret`,
  bucket: "arn:aws:s3:::iam-bucket",
};
const managed = "arn:aws:iam::aws:policy/AmazonSQSReadOnlyAccess";
const inline = (withGetItem: boolean) => JSON.stringify({
  Version: "2012-10-17",
  Statement: [
    { Sid: "Send", Effect: "Allow", Action: ["sqs:SendMessage", "sqs:DeleteMessage"], Resource: arn.allowedQueue },
    ...(withGetItem ? [{ Sid: "Jobs", Effect: "Allow", Action: "dynamodb:GetItem", Resource: arn.table }] : []),
    { Sid: "Files", Effect: "Allow", Action: ["s3:GetObject", "s3:PutObject"], Resource: `${arn.bucket}/files/*` },
  ],
});

describe("rehearsal IAM: calls recorded under a role, judged against its policies", { timeout: 120_000 }, () => {
  let dir: string;
  let moto: Moto;
  let proxy: RecordProxy;
  let iam: IAMClient;
  let role: RoleCredentials;
  const recorder = new IamRecorder();
  const saved = process.env.MOTO_IAM_LOAD_MANAGED_POLICIES;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "t2s-rehearse-iam-"));
    // moto has AWS's managed policies only when asked to load them.
    process.env.MOTO_IAM_LOAD_MANAGED_POLICIES = "true";
    moto = await startMoto({ logDir: dir, observe: recorder.observe });
    proxy = await startRecordProxy({ target: moto.endpoint, observe: recorder.observe });
    const opts = { endpoint: moto.endpoint, region, credentials: admin, maxAttempts: 1 };
    iam = new IAMClient(opts);
    const sqs = new SQSClient(opts);
    for (const QueueName of ["iam-allowed", "iam-other"]) await sqs.send(new CreateQueueCommand({ QueueName }));
    sqs.destroy();
    const ddb = new DynamoDBClient(opts);
    await ddb.send(new CreateTableCommand({ TableName: "iam-jobs", BillingMode: "PAY_PER_REQUEST", KeySchema: [{ AttributeName: "id", KeyType: "HASH" }], AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }] }));
    ddb.destroy();
    const ssm = new SSMClient(opts);
    await ssm.send(new PutParameterCommand({ Name: "/iam/secret", Value: "v", Type: "SecureString" }));
    ssm.destroy();
    const s3 = new S3Client({ ...opts, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: "iam-bucket" }));
    s3.destroy();
    const trust = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }] });
    const created = await iam.send(new CreateRoleCommand({ RoleName: "iam-fn", AssumeRolePolicyDocument: trust }));
    await iam.send(new PutRolePolicyCommand({ RoleName: "iam-fn", PolicyName: "grants", PolicyDocument: inline(true) }));
    await iam.send(new AttachRolePolicyCommand({ RoleName: "iam-fn", PolicyArn: managed }));
    role = await assumeRole({ endpoint: moto.endpoint, keys: admin, roleArn: created.Role!.Arn! });
    recorder.register(role);
  });

  after(async () => {
    iam?.destroy();
    await proxy?.close();
    await moto?.proc.stop();
    if (saved === undefined) delete process.env.MOTO_IAM_LOAD_MANAGED_POLICIES;
    else process.env.MOTO_IAM_LOAD_MANAGED_POLICIES = saved;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const denied = (e: Evaluation) => e.denied.map((f) => `${f.decision} ${f.action} ${f.resource}`).sort();

  it("gives the role's session its own keys, and records only calls signed with them", async () => {
    assert.notEqual(role.accessKeyId, admin.accessKeyId);
    assert.match(role.principalArn, /^arn:aws:sts::123456789012:assumed-role\/iam-fn\//);
    assert.deepEqual(recorder.calls(), []);
  });

  it("finds exactly the calls outside the role's policies, and lists the grants never used", async () => {
    const opts = { endpoint: moto.endpoint, region, credentials: role, maxAttempts: 1 };
    const sqs = new SQSClient(opts);
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: "iam-allowed" }));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "in policy" }));
    await sqs.send(new SendMessageCommand({ QueueUrl: QueueUrl!.replace("iam-allowed", "iam-other"), MessageBody: "outside" }));
    sqs.destroy();
    const ddb = new DynamoDBClient(opts);
    await ddb.send(new GetItemCommand({ TableName: "iam-jobs", Key: { id: { S: "a" } } }));
    ddb.destroy();
    const ssm = new SSMClient(opts);
    // moto does not enforce IAM here: the call succeeds, and only the evaluation catches it.
    assert.equal((await ssm.send(new GetParameterCommand({ Name: "/iam/secret", WithDecryption: true }))).Parameter?.Value, "v");
    ssm.destroy();
    // S3 through the recording proxy: a streamed upload, a presigned GET, and a delete the role lacks.
    const s3 = new S3Client({ ...opts, endpoint: proxy.endpoint, forcePathStyle: true });
    const body = Buffer.alloc(3 * 1024 * 1024, 7);
    await s3.send(new PutObjectCommand({ Bucket: "iam-bucket", Key: "files/a b.bin", Body: body }));
    const res = await fetch(await getSignedUrl(s3, new GetObjectCommand({ Bucket: "iam-bucket", Key: "files/a b.bin" }), { expiresIn: 60 }));
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), body);
    await s3.send(new DeleteObjectCommand({ Bucket: "iam-bucket", Key: "files/a b.bin" }));
    s3.destroy();

    const e = await evaluateRecorder(recorder, iam);
    assert.deepEqual(denied(e), [
      `ImplicitlyDenied s3:DeleteObject ${arn.bucket}/files/a b.bin`,
      `ImplicitlyDenied sqs:SendMessage ${arn.otherQueue}`,
      `ImplicitlyDenied ssm:GetParameter ${arn.parameter}`,
    ]);
    assert.equal(e.allowed, 5, "GetQueueUrl (managed), SendMessage, GetItem, PutObject, GetObject");
    const mine = e.unusedGrants.filter((g) => g.policy === "grants").map((g) => `${g.statement} ${g.action} ${g.resource}`);
    assert.deepEqual(mine, [`Send sqs:DeleteMessage ${arn.allowedQueue}`]);
    const fromManaged = e.unusedGrants.filter((g) => g.policy === managed).map((g) => g.action);
    assert.ok(fromManaged.length > 0 && !fromManaged.includes("sqs:GetQueueUrl"), `managed grants unused: ${fromManaged.join(" ")}`);
    const statuses = e.denied.flatMap((f) => f.statuses);
    assert.ok(statuses.every((s) => s < 300), "moto answered every call");
  });

  it("denies a call that was allowed once its grant is removed from the policy", async () => {
    await iam.send(new PutRolePolicyCommand({ RoleName: "iam-fn", PolicyName: "grants", PolicyDocument: inline(false) }));
    const e = await evaluateRecorder(recorder, iam);
    assert.ok(denied(e).includes(`ImplicitlyDenied dynamodb:GetItem ${arn.table}`), denied(e).join("\n"));
    assert.equal(e.denied.length, 4);
  });
});

describe("moto's front with the stack's keys takes the role sessions it is told of", { timeout: 60_000 }, () => {
  let dir: string;
  let moto: Moto;
  const stackKeys = { accessKeyId: "AKIASTACKKEYS0000001", secretAccessKey: "stack-secret" };
  const sessions = new Map<string, Keys>();
  const status = (p: Promise<unknown>) => p.then(() => 200, (err: { $metadata?: { httpStatusCode?: number } }) => err.$metadata?.httpStatusCode);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "t2s-rehearse-iam-"));
    moto = await startMoto({ logDir: dir, guard: { keys: stackKeys, dir: join(dir, "moto"), sessions: (id) => sessions.get(id) } });
  });

  after(async () => {
    await moto?.proc.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("forwards calls signed with a known session's keys, and refuses other sessions and their calls to moto's own API", async () => {
    const iam = new IAMClient({ endpoint: moto.endpoint, region, credentials: stackKeys, maxAttempts: 1 });
    const trust = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }] });
    const { Role } = await iam.send(new CreateRoleCommand({ RoleName: "iam-box", AssumeRolePolicyDocument: trust }));
    iam.destroy();
    const [known, unknown] = [await assumeRole({ endpoint: moto.endpoint, keys: stackKeys, roleArn: Role!.Arn! }), await assumeRole({ endpoint: moto.endpoint, keys: stackKeys, roleArn: Role!.Arn!, sessionName: "other" })];
    sessions.set(known.accessKeyId, known);
    const list = (credentials: RoleCredentials) => {
      const sqs = new SQSClient({ endpoint: moto.endpoint, region, credentials, maxAttempts: 1 });
      return status(sqs.send(new ListQueuesCommand({}))).finally(() => sqs.destroy());
    };
    assert.equal(await list(known), 200);
    assert.equal(await list(unknown), 403);
    assert.equal((await motoApi(moto.endpoint, known)("/moto-api/reset")).status, 403);
  });
});
