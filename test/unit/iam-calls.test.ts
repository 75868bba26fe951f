// The request -> (action, resource) mapping the rehearsal judges each AWS call by (scripts/rehearse/iam-calls.ts).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { describeCall, type SeenRequest } from "../../scripts/rehearse/iam-calls.ts";

const account = "123456789012";
const authz = (service: string, key = "AKIAROLE") =>
  `AWS4-HMAC-SHA256 Credential=${key}/20261207/us-east-1/${service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=${"0".repeat(64)}`;

function call(service: string, r: Partial<SeenRequest> & { method?: string; path?: string }, o?: Parameters<typeof describeCall>[1]) {
  const req: SeenRequest = { method: r.method ?? "POST", path: r.path ?? "/", headers: { authorization: authz(service), ...r.headers }, body: r.body };
  const d = describeCall(req, o);
  assert.ok(d, "no signer found");
  return d.authorizations.map((a) => (Object.keys(a.context).length ? a : { action: a.action, resource: a.resource }));
}
const json = (service: string, target: string, body: object) =>
  call(service, { headers: { "x-amz-target": target, "content-type": "application/x-amz-json-1.0" }, body: Buffer.from(JSON.stringify(body)) });
const form = (service: string, params: Record<string, string>, path = "/") =>
  call(service, { path, headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" }, body: Buffer.from(new URLSearchParams(params).toString()) });

describe("who signed a request", () => {
  it("reads the access key, region and service from the Authorization header's credential scope", () => {
    const d = describeCall({ method: "GET", path: "/b/k", headers: { authorization: authz("s3", "ASIAXYZ") } });
    assert.deepEqual(d?.signer, { accessKeyId: "ASIAXYZ", region: "us-east-1", service: "s3" });
  });

  it("finds nobody in an unsigned request", () => {
    assert.equal(describeCall({ method: "GET", path: "/b/k", headers: {} }), null);
  });

  it("reads a presigned S3 URL's X-Amz-Credential", async () => {
    const s3 = new S3Client({ endpoint: "http://127.0.0.1:9", region: "eu-west-1", forcePathStyle: true, credentials: { accessKeyId: "ASIAPRESIGNED", secretAccessKey: "s", sessionToken: "t" } });
    const url = new URL(await getSignedUrl(s3, new GetObjectCommand({ Bucket: "bkt", Key: "files/a b/c.txt" }), { expiresIn: 60 }));
    const d = describeCall({ method: "GET", path: url.pathname + url.search, headers: {} });
    assert.deepEqual(d, {
      signer: { accessKeyId: "ASIAPRESIGNED", region: "eu-west-1", service: "s3" },
      authorizations: [{ action: "s3:GetObject", resource: "arn:aws:s3:::bkt/files/a b/c.txt", context: {} }],
    });
    s3.destroy();
  });
});

describe("JSON protocols (X-Amz-Target)", () => {
  const table = `arn:aws:dynamodb:us-east-1:${account}:table/jobs`;
  it("DynamoDB: item calls on the table, with the partition key as dynamodb:LeadingKeys", () => {
    assert.deepEqual(json("dynamodb", "DynamoDB_20120810.PutItem", { TableName: "jobs", Item: { id: { S: "a" } } }), [{ action: "dynamodb:PutItem", resource: table }]);
    assert.deepEqual(json("dynamodb", "DynamoDB_20120810.UpdateItem", { TableName: "jobs", Key: { id: { S: "usage#2026-12" } } }),
      [{ action: "dynamodb:UpdateItem", resource: table, context: { "dynamodb:LeadingKeys": ["usage#2026-12"] } }]);
    assert.deepEqual(json("dynamodb", "DynamoDB_20120810.GetItem", { TableName: table, Key: { id: { S: "x" } } }),
      [{ action: "dynamodb:GetItem", resource: table, context: { "dynamodb:LeadingKeys": ["x"] } }]);
  });

  it("DynamoDB: a query on an index is on the index's ARN; transactions and batches per item and table", () => {
    assert.deepEqual(json("dynamodb", "DynamoDB_20120810.Query", { TableName: "jobs", IndexName: "by-created" }), [{ action: "dynamodb:Query", resource: `${table}/index/by-created` }]);
    assert.deepEqual(json("dynamodb", "DynamoDB_20120810.TransactWriteItems", { TransactItems: [{ Put: { TableName: "jobs", Item: {} } }, { ConditionCheck: { TableName: "other", Key: { id: { S: "k" } } } }] }), [
      { action: "dynamodb:PutItem", resource: table },
      { action: "dynamodb:ConditionCheckItem", resource: `arn:aws:dynamodb:us-east-1:${account}:table/other`, context: { "dynamodb:LeadingKeys": ["k"] } },
    ]);
    assert.deepEqual(json("dynamodb", "DynamoDB_20120810.BatchWriteItem", { RequestItems: { jobs: [] } }), [{ action: "dynamodb:BatchWriteItem", resource: table }]);
  });

  it("SQS: the queue's ARN from its URL; batches as their single action", () => {
    const QueueUrl = `http://127.0.0.1:4566/${account}/t2s-requests`;
    const arn = `arn:aws:sqs:us-east-1:${account}:t2s-requests`;
    assert.deepEqual(json("sqs", "AmazonSQS.SendMessage", { QueueUrl, MessageBody: "x" }), [{ action: "sqs:SendMessage", resource: arn }]);
    assert.deepEqual(json("sqs", "AmazonSQS.DeleteMessageBatch", { QueueUrl, Entries: [] }), [{ action: "sqs:DeleteMessage", resource: arn }]);
    assert.deepEqual(json("sqs", "AmazonSQS.GetQueueUrl", { QueueName: "t2s-requests" }), [{ action: "sqs:GetQueueUrl", resource: arn }]);
  });

  it("SSM: parameters by name, one authorization per name for GetParameters", () => {
    assert.deepEqual(json("ssm", "AmazonSSM.GetParameter", { Name: "/t2s/api-token", WithDecryption: true }), [{ action: "ssm:GetParameter", resource: `arn:aws:ssm:us-east-1:${account}:parameter/t2s/api-token` }]);
    assert.deepEqual(json("ssm", "AmazonSSM.GetParameters", { Names: ["/t2s/a", "plain"] }), [
      { action: "ssm:GetParameters", resource: `arn:aws:ssm:us-east-1:${account}:parameter/t2s/a` },
      { action: "ssm:GetParameters", resource: `arn:aws:ssm:us-east-1:${account}:parameter/plain` },
    ]);
    assert.deepEqual(json("ssm", "AmazonSSM.GetParametersByPath", { Path: "/t2s" }), [{ action: "ssm:GetParametersByPath", resource: `arn:aws:ssm:us-east-1:${account}:parameter/t2s` }]);
  });

  it("KMS and CloudWatch Logs: keys and log streams by ARN", () => {
    assert.deepEqual(json("kms", "TrentService.Decrypt", { KeyId: "1234abcd" }), [{ action: "kms:Decrypt", resource: `arn:aws:kms:us-east-1:${account}:key/1234abcd` }]);
    assert.deepEqual(json("logs", "Logs_20140328.PutLogEvents", { logGroupName: "/t2s/seedbox", logStreamName: "i-1" }), [{ action: "logs:PutLogEvents", resource: `arn:aws:logs:us-east-1:${account}:log-group:/t2s/seedbox:log-stream:i-1` }]);
  });
});

describe("query protocols (Action=)", () => {
  it("SNS Publish on its TopicArn", () => {
    const TopicArn = `arn:aws:sns:us-east-1:${account}:t2s-requests`;
    assert.deepEqual(form("sns", { Action: "Publish", TopicArn, Message: "m" }), [{ action: "sns:Publish", resource: TopicArn }]);
  });

  it("SQS's query protocol: the queue from QueueUrl, or from the path", () => {
    const arn = `arn:aws:sqs:us-east-1:${account}:q1`;
    assert.deepEqual(form("sqs", { Action: "ReceiveMessage", QueueUrl: `http://localhost/${account}/q1` }), [{ action: "sqs:ReceiveMessage", resource: arn }]);
    assert.deepEqual(form("sqs", { Action: "SendMessageBatch" }, `/${account}/q1`), [{ action: "sqs:SendMessage", resource: arn }]);
    assert.deepEqual(call("sqs", { method: "GET", path: `/${account}/q1?Action=DeleteMessage&ReceiptHandle=r` }), [{ action: "sqs:DeleteMessage", resource: arn }]);
  });

  it("Auto Scaling: the group's ARN, the group of an instance for TerminateInstanceInAutoScalingGroup, * for Describe", () => {
    const group = `arn:aws:autoscaling:us-east-1:${account}:autoScalingGroup:00000000-0000-0000-0000-000000000000:autoScalingGroupName/t2s-seedbox`;
    assert.deepEqual(form("autoscaling", { Action: "SetDesiredCapacity", AutoScalingGroupName: "t2s-seedbox", DesiredCapacity: "1" }), [{ action: "autoscaling:SetDesiredCapacity", resource: group }]);
    const d = describeCall({ method: "POST", path: "/", headers: { authorization: authz("autoscaling"), "content-type": "application/x-www-form-urlencoded" }, body: Buffer.from("Action=TerminateInstanceInAutoScalingGroup&InstanceId=i-1&ShouldDecrementDesiredCapacity=true") },
      { instanceGroup: (id) => (id === "i-1" ? "t2s-seedbox" : undefined) });
    assert.deepEqual(d?.authorizations, [{ action: "autoscaling:TerminateInstanceInAutoScalingGroup", resource: group, context: {} }]);
    assert.match(form("autoscaling", { Action: "TerminateInstanceInAutoScalingGroup", InstanceId: "i-2" })[0]!.resource, /group of instance i-2, unknown/);
    assert.deepEqual(form("autoscaling", { Action: "DescribeAutoScalingGroups", "AutoScalingGroupNames.member.1": "t2s-seedbox" }), [{ action: "autoscaling:DescribeAutoScalingGroups", resource: "*" }]);
  });

  it("EC2 and STS", () => {
    assert.deepEqual(form("ec2", { Action: "DescribeInstances" }), [{ action: "ec2:DescribeInstances", resource: "*" }]);
    const RoleArn = `arn:aws:iam::${account}:role/r`;
    assert.deepEqual(form("sts", { Action: "AssumeRole", RoleArn, RoleSessionName: "s" }), [{ action: "sts:AssumeRole", resource: RoleArn }]);
    assert.deepEqual(form("sts", { Action: "GetCallerIdentity" }), [], "needs no permission");
  });
});

describe("REST protocols", () => {
  const s3 = (method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
    call("s3", { method, path, headers, body: body === undefined ? undefined : Buffer.from(body) });
  const bucket = "arn:aws:s3:::bkt";

  it("S3 objects: GET and HEAD read, PUT and multipart write, DELETE deletes", () => {
    assert.deepEqual(s3("GET", "/bkt/files/x/data/a%20b.txt"), [{ action: "s3:GetObject", resource: `${bucket}/files/x/data/a b.txt` }]);
    assert.deepEqual(s3("HEAD", "/bkt/k"), [{ action: "s3:GetObject", resource: `${bucket}/k` }]);
    assert.deepEqual(s3("PUT", "/bkt/k"), [{ action: "s3:PutObject", resource: `${bucket}/k` }]);
    assert.deepEqual(s3("POST", "/bkt/k?uploads"), [{ action: "s3:PutObject", resource: `${bucket}/k` }]);
    assert.deepEqual(s3("PUT", "/bkt/k?partNumber=2&uploadId=u"), [{ action: "s3:PutObject", resource: `${bucket}/k` }]);
    assert.deepEqual(s3("POST", "/bkt/k?uploadId=u"), [{ action: "s3:PutObject", resource: `${bucket}/k` }]);
    assert.deepEqual(s3("GET", "/bkt/k?uploadId=u"), [{ action: "s3:ListMultipartUploadParts", resource: `${bucket}/k` }]);
    assert.deepEqual(s3("DELETE", "/bkt/k?uploadId=u"), [{ action: "s3:AbortMultipartUpload", resource: `${bucket}/k` }]);
    assert.deepEqual(s3("DELETE", "/bkt/k"), [{ action: "s3:DeleteObject", resource: `${bucket}/k` }]);
    assert.deepEqual(s3("PUT", "/bkt/to", { "x-amz-copy-source": "/src/from%20here" }), [
      { action: "s3:PutObject", resource: `${bucket}/to` }, { action: "s3:GetObject", resource: "arn:aws:s3:::src/from here" },
    ]);
  });

  it("S3 buckets: a listing is s3:ListBucket on the bucket with s3:prefix; DeleteObjects per key; settings", () => {
    assert.deepEqual(s3("GET", "/bkt?list-type=2&prefix=files%2F&max-keys=10"), [{ action: "s3:ListBucket", resource: bucket, context: { "s3:prefix": "files/", "s3:max-keys": "10" } }]);
    assert.deepEqual(s3("GET", "/bkt/?uploads&prefix=files%2F"), [{ action: "s3:ListBucketMultipartUploads", resource: bucket }]);
    assert.deepEqual(s3("POST", "/bkt?delete", {}, "<Delete><Object><Key>files/a&amp;b</Key></Object><Object><Key>files/c</Key></Object></Delete>"), [
      { action: "s3:DeleteObject", resource: `${bucket}/files/a&b` }, { action: "s3:DeleteObject", resource: `${bucket}/files/c` },
    ]);
    assert.deepEqual(s3("PUT", "/bkt?policy"), [{ action: "s3:PutBucketPolicy", resource: bucket }]);
    assert.deepEqual(s3("GET", "/"), [{ action: "s3:ListAllMyBuckets", resource: "*" }]);
  });

  it("Lambda: functions by name or ARN", () => {
    const fn = `arn:aws:lambda:us-east-1:${account}:function:t2s-ingest`;
    assert.deepEqual(call("lambda", { method: "GET", path: "/2015-03-31/functions/t2s-ingest/configuration" }), [{ action: "lambda:GetFunctionConfiguration", resource: fn }]);
    assert.deepEqual(call("lambda", { method: "PUT", path: `/2015-03-31/functions/${encodeURIComponent(fn)}/configuration` }), [{ action: "lambda:UpdateFunctionConfiguration", resource: fn }]);
    assert.deepEqual(call("lambda", { method: "POST", path: "/2015-03-31/functions/t2s-ingest:live/invocations" }), [{ action: "lambda:InvokeFunction", resource: fn }]);
  });
});
