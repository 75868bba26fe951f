// AWS mode for real: synthesizes the aws stack, `terraform apply`s it to moto through the offline
// provider mirror, checks every resource in moto, runs the deployed ingest config through the Lambda
// adapter (moto cannot invoke Lambdas), then `terraform destroy`s it. moto 5.2's CloudFront has
// distributions and origin access controls but no response headers policies: against it the stack
// leaves that policy out (test/unit/aws-stack.test.ts checks it by synth).
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DeleteTableCommand, DescribeContinuousBackupsCommand, DescribeTableCommand, DescribeTimeToLiveCommand, DynamoDBClient, GetItemCommand, ListTablesCommand, PutItemCommand, RestoreTableToPointInTimeCommand } from "@aws-sdk/client-dynamodb";
import { GetBucketNotificationConfigurationCommand, GetBucketPolicyCommand, GetPublicAccessBlockCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { generateKeyPairSync, sign } from "node:crypto";
import { GetQueueAttributesCommand, ListQueuesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { AutoScalingClient, DescribeAutoScalingGroupsCommand, DescribeAutoScalingInstancesCommand, DescribePoliciesCommand } from "@aws-sdk/client-auto-scaling";
import { autoScalingClient, Fleet } from "../../lib/aws/fleet.ts";
import { GetSubscriptionAttributesCommand, ListSubscriptionsCommand, ListTopicsCommand, SNSClient } from "@aws-sdk/client-sns";
import type { AwsBuild } from "../../scripts/build-lambda.ts";
import { startMoto, type Moto } from "../../scripts/local/moto.ts";
import { awsDefaults } from "../../stacks/aws-settings.ts";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import type { SqsBatchResult, UrlResult } from "../../lib/aws/lambda-events.ts";
import { createLogger } from "../../lib/log.ts";
import { terraformPreflight } from "../support/preflight.ts";
import { applyAwsStack, motoEnv } from "../../scripts/rehearse/stack.ts";
import { jobTableSchema as schema } from "../../lib/aws/job-table-schema.ts";

const root = join(import.meta.dirname, "..", "..");
const name = "t2stest";
const region = "us-east-1";
const credentials = { accessKeyId: "test", secretAccessKey: "test" };
const discordKeys = generateKeyPairSync("ed25519");
const discordPublicKey = Buffer.from(discordKeys.publicKey.export({ format: "jwk" }).x!, "base64url").toString("hex");


describe("aws stack applied to moto", { timeout: 900_000 }, () => {
  let dir: string;
  let moto: Moto;
  let build: AwsBuild;
  let stackDir: string;
  let outputs: Record<string, string>;
  let tf: (...args: string[]) => Promise<string>;
  const timings: Record<string, number> = {};
  const api = async (service: string, method: string, path: string, body = "", contentType?: string, extra: Record<string, string> = {}) => {
    const url = new URL(path, moto.endpoint);
    // moto reads the service and region from the Authorization header but does not check signatures.
    const headers: Record<string, string> = {
      authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/20260101/${region}/${service}/aws4_request, SignedHeaders=host, Signature=0`,
      ...(contentType ? { "content-type": contentType } : {}),
      ...extra,
    };
    const res = await fetch(url, { method, headers, ...(method === "GET" ? {} : { body }) });
    return { status: res.status, text: await res.text() };
  };
  const query = (service: string, params: Record<string, string>) =>
    api(service, "POST", "/", new URLSearchParams(params).toString(), "application/x-www-form-urlencoded; charset=utf-8");
  const clientOpts = () => ({ region, endpoint: moto.endpoint, credentials });

  before(async () => {
    terraformPreflight("the AWS-mode apply test", { moto: true });
    dir = await mkdtemp(join(tmpdir(), "t2s-aws-apply-"));
    moto = await startMoto({ logDir: dir, env: await motoEnv(dir) });
    const t0 = Date.now();
    const applied = await applyAwsStack({ dir, motoEndpoint: moto.endpoint, settings: { name, discordPublicKey, discordAllowList: ["400000000000000001"] }, log: () => {} });
    timings.applyS = (Date.now() - t0) / 1000;
    ({ build, stackDir, tf, outputs } = applied);
  });

  after(async () => {
    await moto?.proc.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    if (timings.applyS) console.log(`# aws stack against moto: build and apply ${timings.applyS.toFixed(1)} s, destroy ${timings.destroyS?.toFixed(1) ?? "n/a"} s`);
  });

  it("outputs the page URL (CloudFront), the interactions URL, the buckets and the seedbox group", () => {
    assert.match(outputs.page_url!, /^https:\/\/[\w.-]+\.cloudfront\.net$/);
    assert.match(outputs.interactions_url!, /^https?:\/\/.+/);
    assert.match(outputs.page_bucket!, new RegExp(`^${name}-page-`));
    assert.match(outputs.bucket!, new RegExp(`^${name}-`));
    assert.equal(outputs.seedbox_group, `${name}-seedbox`);
    assert.equal(outputs.instance_id, undefined);
    assert.equal(outputs.parameters, `/${name}/api-token /${name}/signing-secret /${name}/discord-token`);
  });

  it("created the eight queues, each work queue with a DLQ", async () => {
    const sqs = new SQSClient(clientOpts());
    const urls = (await sqs.send(new ListQueuesCommand({ QueueNamePrefix: name }))).QueueUrls ?? [];
    assert.deepEqual(urls.map((u) => u.split("/").pop()).sort(), ["facts-ingest", "facts-ingest-dlq", "requests", "requests-dlq", "updates-bot", "updates-bot-dlq", "webhooks", "webhooks-dlq"].map((q) => `${name}-${q}`));
    for (const url of urls.filter((u) => !u.endsWith("-dlq"))) {
      const a = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["RedrivePolicy", "Policy"] }))).Attributes ?? {};
      assert.match(a.RedrivePolicy ?? "", /-dlq"/, `${url} has no DLQ`);
      // The webhook queue is filled by ingest alone: no topic, so no queue policy (IAM grants suffice).
      if (url.endsWith("-webhooks")) assert.equal(a.Policy, undefined);
      else assert.match(a.Policy ?? "", /aws:SourceArn/);
    }
    sqs.destroy();
  });

  it("created the five topics: three with raw-delivery queue subscriptions, the interactions hand-off to the worker, the alarms", async () => {
    const sns = new SNSClient(clientOpts());
    const topics = ((await sns.send(new ListTopicsCommand({}))).Topics ?? []).map((t) => t.TopicArn!.split(":").pop()).sort();
    assert.deepEqual(topics, ["alarms", "facts", "interactions", "requests", "updates"].map((t) => `${name}-${t}`));
    const all = (await sns.send(new ListSubscriptionsCommand({}))).Subscriptions ?? [];
    const subs = all.filter((x) => x.Protocol === "sqs");
    assert.equal(subs.length, 3);
    const worker = all.filter((x) => x.Protocol === "lambda");
    assert.deepEqual(worker.map((x) => [x.TopicArn!.split(":").pop(), x.Endpoint!.split(":").pop()]), [[`${name}-interactions`, `${name}-discord-work`]]);
    for (const s of subs) {
      const a = (await sns.send(new GetSubscriptionAttributesCommand({ SubscriptionArn: s.SubscriptionArn }))).Attributes ?? {};
      assert.equal(a.RawMessageDelivery, "true");
    }
    sns.destroy();
  });

  it("created the alarms on the alarms topic, the stuck-job metric filter and the seedboxes' log group", async () => {
    const alarms = await query("monitoring", { Action: "DescribeAlarms", Version: "2010-08-01", MaxRecords: "100" });
    const names = [...alarms.text.matchAll(/<AlarmName>([^<]+)<\/AlarmName>/g)].map((m) => m[1]!).sort();
    assert.deepEqual(names, [
      ...["discord", "discord-updates", "discord-work", "ingest", "ingest-facts", "ingest-qbt", "ingest-sweep", "ingest-webhooks"].map((f) => `${name}-${f}-errors`),
      ...["facts-ingest", "requests", "updates-bot", "webhooks"].map((q) => `${name}-${q}-dead-letters`),
      `${name}-jobs-open-past-bound`, `${name}-requests-waiting`,
    ].sort());
    const logs = (target: string, body: object) => api("logs", "POST", "/", JSON.stringify(body), "application/x-amz-json-1.1", { "x-amz-target": `Logs_20140328.${target}` });
    const filters = JSON.parse((await logs("DescribeMetricFilters", { logGroupName: `/aws/lambda/${name}-ingest-sweep` })).text).metricFilters as { filterName: string }[];
    assert.deepEqual(filters.map((f) => f.filterName), [`${name}-jobs-open-past-bound`]);
    const groups = JSON.parse((await logs("DescribeLogGroups", { logGroupNamePrefix: `/${name}/` })).text).logGroups as { logGroupName: string; retentionInDays: number }[];
    assert.deepEqual(groups.map((g) => [g.logGroupName, g.retentionInDays]), [[`/${name}/seedbox`, 30]]);
  });

  it("created the bucket: public access blocked, TLS-only policy, manifest notification", async () => {
    const s3 = new S3Client({ ...clientOpts(), forcePathStyle: true });
    const block = (await s3.send(new GetPublicAccessBlockCommand({ Bucket: outputs.bucket }))).PublicAccessBlockConfiguration;
    assert.deepEqual(block, { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true });
    const policy = (await s3.send(new GetBucketPolicyCommand({ Bucket: outputs.bucket }))).Policy ?? "";
    assert.match(policy, /aws:SecureTransport/);
    const n = await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: outputs.bucket }));
    assert.equal(n.TopicConfigurations?.length, 1);
    assert.match(n.TopicConfigurations![0]!.TopicArn!, new RegExp(`:${name}-facts$`));
    s3.destroy();
  });

  it("created the job table: on-demand, encrypted, point-in-time recovery, TTL, both indexes", async () => {
    const ddb = new DynamoDBClient(clientOpts());
    const t = (await ddb.send(new DescribeTableCommand({ TableName: `${name}-jobs` }))).Table!;
    assert.equal(t.TableStatus, "ACTIVE");
    assert.equal(t.BillingModeSummary?.BillingMode, "PAY_PER_REQUEST");
    assert.deepEqual(t.KeySchema, [{ AttributeName: schema.hashKey, KeyType: "HASH" }]);
    assert.equal(t.SSEDescription?.Status, "ENABLED");
    const indexes = (t.GlobalSecondaryIndexes ?? []).map((i) => ({ name: i.IndexName, keys: i.KeySchema, projection: i.Projection?.ProjectionType }));
    assert.deepEqual(indexes.sort((a, b) => a.name!.localeCompare(b.name!)), [schema.byChanged, schema.byCreated, schema.byDue].map((i) => ({
      name: i.name, keys: [{ AttributeName: "hashKey" in i ? i.hashKey : schema.kindKey, KeyType: "HASH" }, { AttributeName: i.rangeKey, KeyType: "RANGE" }], projection: "ALL",
    })));
    const pitr = (await ddb.send(new DescribeContinuousBackupsCommand({ TableName: `${name}-jobs` }))).ContinuousBackupsDescription;
    assert.equal(pitr?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus, "ENABLED");
    assert.equal(t.DeletionProtectionEnabled, true);
    const ttl = (await ddb.send(new DescribeTimeToLiveCommand({ TableName: `${name}-jobs` }))).TimeToLiveDescription;
    assert.deepEqual([ttl?.TimeToLiveStatus, ttl?.AttributeName], ["ENABLED", schema.ttlAttribute]);
    // The functions are configured with this table.
    for (const fn of [`${name}-ingest`, `${name}-ingest-facts`]) {
      const env = JSON.parse((await api("lambda", "GET", `/2015-03-31/functions/${fn}`)).text).Configuration.Environment.Variables as Record<string, string>;
      assert.deepEqual([env.T2S_JOBS_TABLE, env.T2S_RETENTION_DAYS], [`${name}-jobs`, String(awsDefaults.retentionDays)], fn);
    }
    ddb.destroy();
  });

  it("created the fleet: an empty group of 0..max_seedboxes on the launch template (IMDSv2, profile, encrypted volumes, no inbound rule)", async () => {
    const as = new AutoScalingClient(clientOpts());
    const g = (await as.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [`${name}-seedbox`] }))).AutoScalingGroups![0]!;
    assert.deepEqual([g.MinSize, g.MaxSize, g.DesiredCapacity, g.Instances?.length ?? 0], [0, awsDefaults.maxSeedboxes, 0, 0]);
    const mip = g.MixedInstancesPolicy!;
    assert.deepEqual(mip.InstancesDistribution, {
      // SpotMaxPrice "": no cap of our own (AWS caps spot at the on-demand price); the provider sends it empty.
      OnDemandAllocationStrategy: "prioritized", OnDemandBaseCapacity: 0, OnDemandPercentageAboveBaseCapacity: 100, SpotAllocationStrategy: "capacity-optimized", SpotMaxPrice: "",
    });
    assert.deepEqual(mip.LaunchTemplate?.Overrides?.map((o) => o.InstanceType), ["t4g.small"]);
    const ltId = mip.LaunchTemplate!.LaunchTemplateSpecification!.LaunchTemplateId!;
    assert.ok(g.VPCZoneIdentifier && g.VPCZoneIdentifier.split(",").every((x) => x.startsWith("subnet-")), g.VPCZoneIdentifier);
    const lt = await query("ec2", { Action: "DescribeLaunchTemplateVersions", Version: "2016-11-15", LaunchTemplateId: ltId, "LaunchTemplateVersion.1": "$Latest" });
    assert.equal(lt.status, 200, lt.text);
    assert.match(lt.text, /<httpTokens>required<\/httpTokens>/);
    assert.match(lt.text, /<httpPutResponseHopLimit>1<\/httpPutResponseHopLimit>/);
    assert.match(lt.text, new RegExp(`instance-profile/${name}-seedbox`));
    assert.match(lt.text, /<instanceType>t4g\.small<\/instanceType>/);
    for (const [dev, size] of [["/dev/xvda", 16], ["/dev/sdf", awsDefaults.volumeGiB]] as const) {
      assert.match(lt.text, new RegExp(`<deviceName>${dev}</deviceName>\\s*<ebs>[\\s\\S]*?<encrypted>true</encrypted>[\\s\\S]*?<volumeSize>${size}</volumeSize>[\\s\\S]*?<volumeType>gp3</volumeType>`), dev);
    }
    const sg = await query("ec2", { Action: "DescribeSecurityGroups", Version: "2016-11-15", "Filter.1.Name": "group-name", "Filter.1.Value.1": `${name}-seedbox` });
    assert.match(sg.text, /<ipPermissions\s*\/>|<ipPermissions>\s*<\/ipPermissions>/, "the security group has an ingress rule");
    // The backstop: the scaling policy (moto stores it; its alarms never fire).
    const policies = (await as.send(new DescribePoliciesCommand({ AutoScalingGroupName: `${name}-seedbox` }))).ScalingPolicies ?? [];
    assert.deepEqual(policies.map((p) => [p.PolicyName, p.PolicyType, p.AdjustmentType, p.ScalingAdjustment]), [[`${name}-seedbox-add-one`, "SimpleScaling", "ChangeInCapacity", 1]]);
    const alarms = await query("monitoring", { Action: "DescribeAlarms", Version: "2010-08-01", "AlarmNames.member.1": `${name}-requests-waiting` });
    assert.match(alarms.text, /<MetricName>ApproximateNumberOfMessagesVisible<\/MetricName>/);
    assert.match(alarms.text, new RegExp(`<Value>${name}-requests</Value>`));
    assert.ok(alarms.text.includes(policies[0]!.PolicyARN!), "the alarm acts on the policy");
    as.destroy();
  });

  it("drives the deployed group through lib/aws/fleet.ts: desired capacity, scale-in protection, self-termination with decrement", async () => {
    const as = autoScalingClient({ region, endpoint: moto.endpoint }, credentials);
    const fleet = new Fleet(as, `${name}-seedbox`);
    assert.deepEqual(await fleet.describe(), { desired: 0, max: awsDefaults.maxSeedboxes, inService: 0 });
    await fleet.setDesiredCapacity(2);
    assert.deepEqual(await fleet.describe(), { desired: 2, max: awsDefaults.maxSeedboxes, inService: 2 });
    const ids = ((await as.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [fleet.group] }))).AutoScalingGroups![0]!.Instances ?? []).map((i) => i.InstanceId!);
    assert.equal(ids.length, 2);
    await fleet.setInstanceProtection(ids[0]!, true);
    const protectedOf = async () => Object.fromEntries(((await as.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: ids }))).AutoScalingInstances ?? []).map((i) => [i.InstanceId, i.ProtectedFromScaleIn]));
    assert.deepEqual(await protectedOf(), { [ids[0]!]: true, [ids[1]!]: false });
    // A scale-in to 0 spares the protected one (the box holding work).
    await fleet.setDesiredCapacity(0);
    assert.equal((await fleet.describe()).inService, 1);
    // It ends itself: gone, and the desired capacity down by one, so nothing replaces it.
    await fleet.setDesiredCapacity(1);
    await fleet.setInstanceProtection(ids[0]!, false);
    await fleet.terminateSelf(ids[0]!);
    assert.deepEqual(await fleet.describe(), { desired: 0, max: awsDefaults.maxSeedboxes, inService: 0 });
    await assert.rejects(new Fleet(as, "no-such-group").describe(), (e: Error) => e.name === "FleetGroupMissing");
    as.destroy();
  });

  it("turns spot on by variable: the same group, capacity-optimised spot above an on-demand base of 0", async () => {
    await tf("apply", "-auto-approve", "-input=false", "-refresh=false", "-var=spot=true", '-var=instance_types=["t4g.medium"]');
    const as = new AutoScalingClient(clientOpts());
    const g = (await as.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [`${name}-seedbox`] }))).AutoScalingGroups![0]!;
    assert.deepEqual(g.MixedInstancesPolicy?.InstancesDistribution, {
      OnDemandAllocationStrategy: "prioritized", OnDemandBaseCapacity: 0, OnDemandPercentageAboveBaseCapacity: 0, SpotAllocationStrategy: "capacity-optimized", SpotMaxPrice: "",
    });
    assert.deepEqual(g.MixedInstancesPolicy?.LaunchTemplate?.Overrides?.map((o) => o.InstanceType), ["t4g.small", "t4g.medium"]);
    // capacity_rebalance follows var.spot too, but moto 5.2.5's UpdateAutoScalingGroup drops CapacityRebalance
    // (it keeps only the create's value): test/unit/aws-stack.test.ts checks it by synth.
    as.destroy();
  });

  it("created the sweeper: the ingest bundle's sweep handler, every minute by EventBridge, with the group's name in its environment", async () => {
    const fn = JSON.parse((await api("lambda", "GET", `/2015-03-31/functions/${name}-ingest-sweep`)).text).Configuration;
    assert.deepEqual([fn.Handler, fn.Runtime], ["index.sweep", "nodejs22.x"]);
    assert.equal(fn.Environment.Variables.T2S_FLEET_GROUP, `${name}-seedbox`);
    assert.equal(fn.Environment.Variables.T2S_MAX_SEEDBOXES, String(awsDefaults.maxSeedboxes));
    const events = (target: string, body: object) => fetch(moto.endpoint, {
      method: "POST", body: JSON.stringify(body),
      headers: { "x-amz-target": `AWSEvents.${target}`, "content-type": "application/x-amz-json-1.1", authorization: `AWS4-HMAC-SHA256 Credential=test/20260101/${region}/events/aws4_request, SignedHeaders=host, Signature=0` },
    }).then(async (r) => ({ status: r.status, json: await r.json() as Record<string, unknown> }));
    const rule = await events("DescribeRule", { Name: `${name}-ingest-sweep` });
    assert.equal(rule.status, 200, JSON.stringify(rule.json));
    assert.equal(rule.json.ScheduleExpression, "rate(1 minute)");
    const targets = (await events("ListTargetsByRule", { Rule: `${name}-ingest-sweep` })).json.Targets as { Arn: string }[];
    assert.deepEqual(targets.map((t) => t.Arn), [fn.FunctionArn]);
    const policy = JSON.parse(JSON.parse((await api("lambda", "GET", `/2015-03-31/functions/${name}-ingest-sweep/policy`)).text).Policy) as { Statement: { Principal: unknown; Condition?: unknown }[] };
    assert.deepEqual(policy.Statement.map((st) => st.Principal), [{ Service: "events.amazonaws.com" }]);
    assert.match(JSON.stringify(policy.Statement[0]!.Condition), new RegExp(`rule/${name}-ingest-sweep`));
  });

  it("created the eight roles, with no managed policy on the seedbox role", async () => {
    for (const role of [`${name}-seedbox`, `${name}-ingest`, `${name}-ingest-facts`, `${name}-ingest-webhooks`, `${name}-ingest-sweep`, `${name}-discord`, `${name}-discord-work`, `${name}-discord-updates`]) {
      const r = await query("iam", { Action: "GetRole", Version: "2010-05-08", RoleName: role });
      assert.equal(r.status, 200, `${role}: ${r.text}`);
    }
    const att = await query("iam", { Action: "ListAttachedRolePolicies", Version: "2010-05-08", RoleName: `${name}-seedbox` });
    assert.equal(att.status, 200, att.text);
    assert.doesNotMatch(att.text, /<PolicyArn>/);
  });

  it("created both Lambdas, the function URL and the facts-queue mapping (moto cannot invoke them without Docker)", async () => {
    const conf = async (fn: string) => {
      const r = await api("lambda", "GET", `/2015-03-31/functions/${fn}`);
      assert.equal(r.status, 200, `${fn}: ${r.text}`);
      return JSON.parse(r.text).Configuration as { Runtime: string; FunctionArn: string; Handler: string };
    };
    const http = await conf(`${name}-ingest`);
    const facts = await conf(`${name}-ingest-facts`);
    assert.deepEqual([http.Runtime, http.Handler, facts.Runtime, facts.Handler], ["nodejs22.x", "index.httpHandler", "nodejs22.x", "index.sqsHandler"]);
    const url = await api("lambda", "GET", `/2021-10-31/functions/${name}-ingest/url`);
    assert.ok(url.status === 200 || url.status === 201, url.text); // moto answers this GET with 201
    assert.equal(JSON.parse(url.text).AuthType, "AWS_IAM");
    const queueArn = `arn:aws:sqs:${region}:123456789012:${name}-facts-ingest`;
    const maps = await api("lambda", "GET", `/2015-03-31/event-source-mappings/?EventSourceArn=${encodeURIComponent(queueArn)}`);
    const m = JSON.parse(maps.text).EventSourceMappings as { FunctionArn: string; FunctionResponseTypes?: string[] }[];
    assert.equal(m.length, 1, maps.text);
    assert.equal(m[0]!.FunctionArn, facts.FunctionArn);
    assert.deepEqual(m[0]!.FunctionResponseTypes, ["ReportBatchItemFailures"]);
    // Only the distribution may invoke the ingest function: no public grant.
    const policy = JSON.parse(JSON.parse((await api("lambda", "GET", `/2015-03-31/functions/${name}-ingest/policy`)).text).Policy) as { Statement: { Action: string; Principal: unknown; Condition?: unknown }[] };
    assert.deepEqual(policy.Statement.map((st) => st.Action).sort(), ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]);
    for (const st of policy.Statement) {
      assert.deepEqual(st.Principal, { Service: "cloudfront.amazonaws.com" });
      assert.match(JSON.stringify(st.Condition), /arn:aws:cloudfront::123456789012:distribution\//);
    }
    const facts404 = await api("lambda", "GET", `/2015-03-31/functions/${name}-ingest-facts/policy`);
    assert.equal(facts404.status, 404, facts404.text);
  });

  it("created the public qBittorrent function: its URL (auth NONE) public, its reserved concurrency, the distribution's origin without OAC", async () => {
    const r = await api("lambda", "GET", `/2015-03-31/functions/${name}-ingest-qbt`);
    assert.equal(r.status, 200, r.text);
    const got = JSON.parse(r.text) as { Configuration: { Handler: string; Role: string }; Concurrency?: { ReservedConcurrentExecutions?: number } };
    assert.equal(got.Configuration.Handler, "index.qbittorrentHandler");
    assert.equal(got.Concurrency?.ReservedConcurrentExecutions, 5);
    assert.match(got.Configuration.Role, new RegExp(`role/${name}-ingest-qbt$`));
    const url = await api("lambda", "GET", `/2021-10-31/functions/${name}-ingest-qbt/url`);
    assert.ok(url.status === 200 || url.status === 201, url.text);
    assert.equal(JSON.parse(url.text).AuthType, "NONE");
    const policy = JSON.parse(JSON.parse((await api("lambda", "GET", `/2015-03-31/functions/${name}-ingest-qbt/policy`)).text).Policy) as { Statement: { Sid: string; Action: string; Principal: unknown; Condition?: unknown }[] };
    // A NONE URL gets a statement of its own (FunctionURLAllowPublicAccess) beside the stack's. moto writes
    // the URL grant's auth type as a key of the statement, AWS as its condition: either way, NONE only.
    const said = JSON.stringify(policy.Statement);
    assert.deepEqual([...new Set(policy.Statement.map((st) => st.Action))].sort(), ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"], said);
    for (const st of policy.Statement) assert.equal(JSON.stringify(st.Principal), '"*"', said);
    for (const st of policy.Statement.filter((x) => x.Action === "lambda:InvokeFunctionUrl")) assert.match(JSON.stringify(st), /FunctionUrlAuthType"\s*:\s*"NONE"/, said);
    // The API's URL stays AWS_IAM (the test above); the distribution reaches this one with no OAC.
    const host = new URL(JSON.parse(url.text).FunctionUrl as string).host;
    const id = /<Id>([A-Z0-9]+)<\/Id>/.exec((await api("cloudfront", "GET", "/2020-05-31/distribution")).text)![1]!;
    const d = (await api("cloudfront", "GET", `/2020-05-31/distribution/${id}`)).text;
    assert.ok(d.includes(`<DomainName>${host}</DomainName>`), "an origin names the public function URL");
    assert.ok(d.includes("<PathPattern>/qbittorrent/*</PathPattern>"));
  });

  it("created the Discord functions: the interactions URL (auth NONE), the worker, the updates mapping", async () => {
    for (const [fn, handler] of [["discord", "index.interactionsHandler"], ["discord-work", "index.workHandler"], ["discord-updates", "index.updatesHandler"]] as const) {
      const r = await api("lambda", "GET", `/2015-03-31/functions/${name}-${fn}`);
      assert.equal(r.status, 200, r.text);
      const c = JSON.parse(r.text).Configuration;
      assert.deepEqual([c.Runtime, c.Handler, c.Environment.Variables.DISCORD_PUBLIC_KEY], ["nodejs22.x", handler, discordPublicKey]);
      assert.equal(c.Environment.Variables.T2S_API_URL, outputs.page_url);
    }
    const url = await api("lambda", "GET", `/2021-10-31/functions/${name}-discord/url`);
    assert.equal(JSON.parse(url.text).AuthType, "NONE");
    const queueArn = `arn:aws:sqs:${region}:123456789012:${name}-updates-bot`;
    const maps = JSON.parse((await api("lambda", "GET", `/2015-03-31/event-source-mappings/?EventSourceArn=${encodeURIComponent(queueArn)}`)).text).EventSourceMappings as { FunctionArn: string; ScalingConfig?: unknown; FunctionResponseTypes?: string[] }[];
    assert.deepEqual(maps.map((m) => [m.FunctionArn.split(":").pop(), m.ScalingConfig, m.FunctionResponseTypes]), [[`${name}-discord-updates`, { MaximumConcurrency: 2 }, ["ReportBatchItemFailures"]]]);
  });

  it("created the distribution: the page bucket and the ingest URL as origins, each with its origin access control", async () => {
    const list = await api("cloudfront", "GET", "/2020-05-31/distribution");
    assert.equal(list.status, 200, list.text);
    const id = /<Id>([A-Z0-9]+)<\/Id>/.exec(list.text)![1]!;
    const d = (await api("cloudfront", "GET", `/2020-05-31/distribution/${id}`)).text;
    assert.ok(outputs.page_url!.endsWith(/<DomainName>([^<]+\.cloudfront\.net)<\/DomainName>/.exec(d)![1]!), d.slice(0, 400));
    assert.match(d, /<DefaultRootObject>index\.html<\/DefaultRootObject>/);
    assert.match(d, /<ViewerProtocolPolicy>redirect-to-https<\/ViewerProtocolPolicy>/);
    assert.match(d, new RegExp(`<DomainName>${outputs.page_bucket}\\.s3\\.`));
    assert.match(d, /<DomainName>[^<]*lambda-url[^<]*<\/DomainName>/);
    for (const p of ["/api/*", "/d/*", "/healthz"]) assert.ok(d.includes(`<PathPattern>${p}</PathPattern>`), p);
    // moto 5.2 keeps the origin access controls but not which origin uses which (its Origin model has no
    // OriginAccessControlId): that link, and the response headers policy, are checked by synth only.
    const oacs = (await api("cloudfront", "GET", "/2020-05-31/origin-access-control")).text;
    assert.match(oacs, new RegExp(`<Name>${name}-page</Name>[\\s\\S]*?<OriginAccessControlOriginType>s3</OriginAccessControlOriginType>`));
    assert.match(oacs, new RegExp(`<Name>${name}-ingest</Name>[\\s\\S]*?<OriginAccessControlOriginType>lambda</OriginAccessControlOriginType>`));
    // The page bucket: public access blocked, read by the distribution only, holding the built page.
    const s3 = new S3Client({ ...clientOpts(), forcePathStyle: true });
    const block = (await s3.send(new GetPublicAccessBlockCommand({ Bucket: outputs.page_bucket }))).PublicAccessBlockConfiguration;
    assert.deepEqual(block, { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true });
    const policy = (await s3.send(new GetBucketPolicyCommand({ Bucket: outputs.page_bucket }))).Policy ?? "";
    assert.match(policy, /cloudfront\.amazonaws\.com/);
    assert.match(policy, new RegExp(`distribution/${id}`));
    const keys = ((await s3.send(new ListObjectsV2Command({ Bucket: outputs.page_bucket }))).Contents ?? []).map((o) => o.Key).sort();
    assert.deepEqual(keys, ["app.css", "app.js", "index.html"]);
    s3.destroy();
  });

  it("runs the uploaded Discord bundle with the deployed config in-process: PING, a bad signature, a stranger", async () => {
    const fn = JSON.parse((await api("lambda", "GET", `/2015-03-31/functions/${name}-discord`)).text).Configuration;
    const env = { ...fn.Environment.Variables, AWS_REGION: region, AWS_ENDPOINT_URL: moto.endpoint } as Record<string, string>;
    const { createBotLambda } = (await import(join(build.discordDir, "index.mjs"))) as typeof import("../../bot/lambda.ts");
    const lines: string[] = [];
    const app = createBotLambda(env, createLogger("bot", { write: (l) => lines.push(l) }));
    const post = (body: string, key = discordKeys.privateKey) => {
      const ts = String(Math.floor(Date.now() / 1000));
      const sig = sign(null, Buffer.from(ts + body), key).toString("hex");
      return app.interactions({ version: "2.0", rawPath: "/", headers: { "x-signature-ed25519": sig, "x-signature-timestamp": ts }, body, isBase64Encoded: false, requestContext: { http: { method: "POST" } } });
    };
    const ping = await post(JSON.stringify({ type: 1, id: "1", application_id: "2", token: "t" }));
    assert.deepEqual([ping.statusCode, JSON.parse(ping.body)], [200, { type: 1 }]);
    const bad = await post(JSON.stringify({ type: 1 }), generateKeyPairSync("ed25519").privateKey);
    assert.equal(bad.statusCode, 401);
    const stranger = await post(JSON.stringify({ type: 2, id: "3", application_id: "2", token: "t", channel_id: "5", member: { user: { id: "666" }, roles: [] }, data: { name: "jobs", type: 1 } }));
    assert.equal(JSON.parse(stranger.body).type, 4);
  });

  it("runs the uploaded Lambda bundle with the deployed config in-process: a missing parameter is named, then the API answers", async (t) => {
    const fn = JSON.parse((await api("lambda", "GET", `/2015-03-31/functions/${name}-ingest`)).text).Configuration;
    const env = { ...fn.Environment.Variables, AWS_REGION: region, AWS_ENDPOINT_URL: moto.endpoint, AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", T2S_WEB_DIR: join(build.lambdaDir, "web") } as Record<string, string>;
    const lines: string[] = [];
    const log = createLogger("ingest", { write: (l) => lines.push(l) });
    // The SDK clients take credentials from the process environment, as they do in Lambda.
    const savedKeys = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = "test";
    process.env.AWS_SECRET_ACCESS_KEY = "test";
    t.after(() => {
      if (savedKeys.id === undefined) delete process.env.AWS_ACCESS_KEY_ID; else process.env.AWS_ACCESS_KEY_ID = savedKeys.id;
      if (savedKeys.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY; else process.env.AWS_SECRET_ACCESS_KEY = savedKeys.secret;
    });
    // The bundle that was uploaded, not the sources.
    const { coldStart } = (await import(join(build.lambdaDir, "index.mjs"))) as typeof import("../../ingest/lambda.ts");
    await assert.rejects(coldStart(env, log), (err: Error) => err.name === "MissingParameter" && err.message.includes(`SSM parameter /${name}/api-token is missing`));
    const ssm = new SSMClient(clientOpts());
    const put = (n: string, v: string) => ssm.send(new PutParameterCommand({ Name: n, Value: v, Type: "SecureString", Overwrite: true }));
    await put(`/${name}/api-token`, "test-api-token");
    await put(`/${name}/signing-secret`, "test-signing-secret");
    const app = await coldStart(env, log);
    const get = (path: string, headers: Record<string, string> = {}) => app.http({ version: "2.0", rawPath: path, headers, requestContext: { http: { method: "GET" } } });
    assert.equal((await get("/healthz")).statusCode, 200);
    assert.equal((await get("/api/jobs")).statusCode, 401);
    const jobs = await get("/api/jobs", { authorization: "Bearer test-api-token" });
    assert.equal(jobs.statusCode, 200, `${jobs.body}\n${lines.join("\n")}`);
    // Read from the deployed job table (a Query on its by-created index).
    assert.deepEqual(JSON.parse(jobs.body), { jobs: [], next: null });
    const events: UrlResult = await get("/api/events", { authorization: "Bearer test-api-token" });
    assert.equal(events.statusCode, 200);
    assert.match(events.body, /^retry: 10000/);
    const batch: SqsBatchResult = await app.sqs({ Records: [{ messageId: "m1", body: "not json" }, { messageId: "m2", body: JSON.stringify({ Event: "s3:TestEvent" }) }] });
    assert.deepEqual(batch.batchItemFailures, [{ itemIdentifier: "m1" }]);
    assert.ok(!lines.some((l) => l.includes("test-api-token") || l.includes("test-signing-secret")), "a secret reached the logs");
  });

  it("restores the job table from point-in-time recovery to a new table (docs/aws.md, \"Backups\"), then deletes the copy", async () => {
    const ddb = new DynamoDBClient(clientOpts());
    const item = { [schema.hashKey]: { S: "restore-probe" } };
    await ddb.send(new PutItemCommand({ TableName: `${name}-jobs`, Item: item }));
    await ddb.send(new RestoreTableToPointInTimeCommand({ SourceTableName: `${name}-jobs`, TargetTableName: `${name}-jobs-restored`, UseLatestRestorableTime: true }));
    const got = await ddb.send(new GetItemCommand({ TableName: `${name}-jobs-restored`, Key: item }));
    assert.deepEqual(got.Item, item);
    await ddb.send(new DeleteTableCommand({ TableName: `${name}-jobs-restored` }));
    ddb.destroy();
  });

  it("refuses to delete the job table while keep_data is on (deletion protection)", async () => {
    const ddb = new DynamoDBClient(clientOpts());
    await assert.rejects(ddb.send(new DeleteTableCommand({ TableName: `${name}-jobs` })), /DeletionProtectionEnabled|protected against deletion/);
    ddb.destroy();
  });

  it("destroys everything it created once keep_data is off", async () => {
    // The owner's way (docs/aws.md, "Destroy"): keep_data false, deploy, then destroy.
    await tf("apply", "-auto-approve", "-input=false", "-refresh=false", "-var=keep_data=false");
    const t0 = Date.now();
    // No refresh: moto would refuse the release object's HeadObject under the TLS-only policy.
    await tf("destroy", "-auto-approve", "-input=false", "-refresh=false");
    timings.destroyS = (Date.now() - t0) / 1000;
    const sqs = new SQSClient(clientOpts());
    assert.deepEqual((await sqs.send(new ListQueuesCommand({ QueueNamePrefix: name }))).QueueUrls ?? [], []);
    sqs.destroy();
    const fn = await api("lambda", "GET", `/2015-03-31/functions/${name}-ingest`);
    assert.equal(fn.status, 404);
    const dists = await api("cloudfront", "GET", "/2020-05-31/distribution");
    assert.doesNotMatch(dists.text, /<Id>/, "a distribution is left");
    assert.doesNotMatch((await api("cloudfront", "GET", "/2020-05-31/origin-access-control")).text, new RegExp(`<Name>${name}-`), "an origin access control is left");
    const ddb = new DynamoDBClient(clientOpts());
    assert.deepEqual((await ddb.send(new ListTablesCommand({}))).TableNames ?? [], []);
    ddb.destroy();
    const as = new AutoScalingClient(clientOpts());
    assert.deepEqual((await as.send(new DescribeAutoScalingGroupsCommand({}))).AutoScalingGroups ?? [], [], "a group is left");
    as.destroy();
    const lts = await query("ec2", { Action: "DescribeLaunchTemplates", Version: "2016-11-15" });
    assert.doesNotMatch(lts.text, new RegExp(`<launchTemplateName>${name}-seedbox</launchTemplateName>`), "the launch template is left");
  });
});
