// AWS mode, synthesized: one assertion per security and wiring property of the issue.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { App, Testing } from "cdktf";
import { buildAws, type AwsBuild } from "../../scripts/build-lambda.ts";
import { awsDefaults, secretNames, secretReaders, SettingsError, settingsFromEnv, type AwsSettings } from "../../stacks/aws-settings.ts";
import { AwsStack } from "../../stacks/aws.ts";
import { jobTableSchema as schema } from "../../lib/aws/job-table-schema.ts";
import { stuckJobMessage } from "../../lib/job-record.ts";
import { assertJobTable } from "../support/job-table-synth.ts";
import { pageCsp } from "../../lib/page-headers.ts";
import { generateKeyPairSync } from "node:crypto";
import { pageFiles, patternMatches } from "../../ingest/public-paths.ts";
import { distributionConfigFromTerraform, originRequestHeaders } from "../../scripts/rehearse/cloudfront-routes.ts";
import { examplePath, ingestRoutes } from "../support/api-routes.ts";

type Block = Record<string, unknown>;
interface Synth { resource: Record<string, Record<string, Block>>; data: Record<string, Record<string, Block>>; output: Record<string, Block>; variable: Record<string, Block>; locals: Record<string, unknown> }

/** The fleet's group as IAM names it (stacks/seedbox-fleet.ts groupArn). */
const groupArn = "arn:${data.aws_partition.partition.partition}:autoscaling:${var.region}:${data.aws_caller_identity.account.account_id}:autoScalingGroup:*:autoScalingGroupName/${var.name}-seedbox";

const canary = { apiToken: "canary-api-token-5d41402a", discord: "canary-discord-token-7d793037", signing: "canary-signing-secret-6f1ed002" };

describe("aws stack (synthesized)", () => {
  let dir: string;
  let build: AwsBuild;
  let json: string;
  let s: Synth;
  const all = (type: string) => Object.values(s.resource[type] ?? {});
  const one = (type: string) => {
    const r = all(type);
    assert.equal(r.length, 1, `expected one ${type}, found ${r.length}`);
    return r[0]!;
  };
  /** The one resource of a type whose key starts with `prefix` (its construct path). */
  const named = (type: string, prefix: string) => {
    const r = Object.entries(s.resource[type] ?? {}).filter(([k]) => k.startsWith(prefix));
    assert.equal(r.length, 1, `expected one ${type} ${prefix}*, found ${r.length}`);
    return r[0]![1];
  };
  /** A reference to an attribute of the one resource of a type (or the one under `prefix`), as terraform JSON writes it. */
  const ref = (type: string, attr: string, prefix = "") => {
    const keys = Object.keys(s.resource[type] ?? {}).filter((k) => k.startsWith(prefix));
    assert.equal(keys.length, 1, type);
    return `\${${type}.${keys[0]}.${attr}}`;
  };
  const policyDoc = (prefix: string) => Object.entries(s.data.aws_iam_policy_document!).find(([k]) => k.startsWith(prefix))![1].statement as { sid: string; actions: string[]; resources: string[]; condition?: unknown }[];
  /** The seedbox's user data (a local, base64-encoded by the launch template). */
  const userData = () => String(Object.entries(s.locals).find(([k]) => k.startsWith("seedbox_user-data"))![1]);
  const synth = (settings: AwsSettings) => Testing.synth(new AwsStack(Testing.app() as App, "aws", { settings, build }));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "t2s-aws-synth-"));
    build = await buildAws(join(import.meta.dirname, "..", ".."), join(dir, "build"));
    // Secrets in the environment of the synth must not leak into the JSON.
    const saved = { ...process.env };
    Object.assign(process.env, { T2S_API_TOKEN: canary.apiToken, DISCORD_TOKEN: canary.discord, T2S_SIGNING_SECRET: canary.signing });
    try {
      json = synth(settingsFromEnv(process.env));
    } finally {
      for (const k of ["T2S_API_TOKEN", "DISCORD_TOKEN", "T2S_SIGNING_SECRET"]) if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
    }
    s = JSON.parse(json) as Synth;
    const count = Object.values(s.resource).reduce((n, r) => n + Object.keys(r).length, 0);
    console.log(`# aws stack: ${count} resources, ${Object.values(s.data).reduce((n, r) => n + Object.keys(r).length, 0)} data sources`);
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("requires IMDSv2 with a hop limit of 1 in the launch template", () => {
    assert.deepEqual(one("aws_launch_template").metadata_options, { http_endpoint: "enabled", http_tokens: "required", http_put_response_hop_limit: 1 });
  });

  it("opens no inbound port: the security group has no ingress rule and no rule resources exist; the template uses it", () => {
    assert.deepEqual(one("aws_security_group").ingress, []);
    for (const t of ["aws_security_group_rule", "aws_vpc_security_group_ingress_rule"]) assert.equal(all(t).length, 0, t);
    const nic = (one("aws_launch_template").network_interfaces as Block[])[0]!;
    assert.deepEqual(nic.security_groups, [ref("aws_security_group", "id")]);
    // Outbound only, through a public IPv4 address (the default VPC has no NAT): $0.005/h while an instance runs.
    assert.equal(nic.associate_public_ip_address, "true");
  });

  it("replaces the single host with a fleet: no aws_instance, no separate EBS volume or attachment", () => {
    for (const t of ["aws_instance", "aws_ebs_volume", "aws_volume_attachment", "aws_eip"]) assert.equal(all(t).length, 0, t);
  });

  it("runs the seedboxes in an Auto Scaling group from 0 to max_seedboxes, desired capacity left to ingest and the seedboxes", () => {
    const g = one("aws_autoscaling_group");
    assert.equal(g.name, "${var.name}-seedbox");
    assert.equal(g.min_size, 0);
    assert.equal(g.max_size, "${var.max_seedboxes}");
    assert.equal(g.desired_capacity, undefined, "terraform sets no desired capacity");
    assert.deepEqual((g.lifecycle as Block).ignore_changes, ["desired_capacity"]);
    assert.equal(g.wait_for_capacity_timeout, "0");
    assert.equal(g.instance_refresh, undefined, "no instance refresh: a release must not kill held jobs");
    assert.equal(s.variable.max_seedboxes!.default, awsDefaults.maxSeedboxes);
    const lt = (g.mixed_instances_policy as { launch_template: { launch_template_specification: Block } }).launch_template.launch_template_specification;
    assert.deepEqual(lt, { launch_template_id: ref("aws_launch_template", "id"), version: `\${tostring(${ref("aws_launch_template", "latest_version").slice(2, -1)})}` });
    assert.equal(one("aws_launch_template").update_default_version, true);
  });

  it("places the group in the default VPC's default subnets of the zones offering its types", () => {
    const g = one("aws_autoscaling_group");
    const subnets = Object.entries(s.data.aws_subnets!);
    assert.equal(subnets.length, 1);
    assert.equal(g.vpc_zone_identifier, `\${data.aws_subnets.${subnets[0]![0]}.ids}`);
    const filter = Object.fromEntries((subnets[0]![1].filter as { name: string; values: unknown }[]).map((f) => [f.name, f.values]));
    const [vpcKey] = Object.keys(s.data.aws_vpc!);
    assert.equal(s.data.aws_vpc![vpcKey!]!.default, true);
    assert.deepEqual(filter["vpc-id"], [`\${data.aws_vpc.${vpcKey}.id}`]);
    assert.deepEqual(filter["default-for-az"], ["true"]);
    const [zonesKey, zones] = Object.entries(s.data.aws_ec2_instance_type_offerings!)[0]!;
    assert.equal(filter["availability-zone"], `\${distinct(data.aws_ec2_instance_type_offerings.${zonesKey}.locations)}`);
    assert.match(JSON.stringify(zones.filter), /instance-type.*distinct\(concat\(\[coalesce\(var\.instance_type, .*var\.instance_types\)\)/);
  });

  it("lists the instance types in order, instance_type first; spot is off by default and capacity-optimised with no on-demand base when on", () => {
    const mip = one("aws_autoscaling_group").mixed_instances_policy as { instances_distribution: Block; launch_template: { dynamic: { override: { for_each: string; content: Block } } } };
    const o = mip.launch_template.dynamic.override;
    // A list, not toset(...): "prioritized" goes by the order.
    assert.match(o.for_each, /^\$\{distinct\(concat\(\[coalesce\(var\.instance_type, \(var\.arch == \\?"arm64\\?"\) \? \\?"t4g\.small\\?" : \\?"t3\.small\\?"\)\], var\.instance_types\)\)\}$/);
    assert.deepEqual(o.content, { instance_type: "${override.value}" });
    assert.deepEqual(mip.instances_distribution, {
      on_demand_allocation_strategy: "prioritized", on_demand_base_capacity: 0,
      on_demand_percentage_above_base_capacity: "${var.spot ? 0 : 100}", spot_allocation_strategy: "capacity-optimized",
    });
    assert.equal(one("aws_autoscaling_group").capacity_rebalance, "${var.spot}");
    assert.deepEqual([s.variable.spot!.type, s.variable.spot!.default], ["bool", false]);
    assert.deepEqual([s.variable.instance_types!.type, s.variable.instance_types!.default], ["list(string)", []]);
    const spot = JSON.parse(synth({ ...awsDefaults, spot: true, instanceTypes: ["t4g.medium", "c7g.medium"] })) as Synth;
    assert.deepEqual([spot.variable.spot!.default, spot.variable.instance_types!.default], [true, ["t4g.medium", "c7g.medium"]]);
  });

  it("blocks public access to the bucket", () => {
    assert.ok(Testing.toHaveResourceWithProperties(json, "aws_s3_bucket_public_access_block", {
      block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true,
    }));
  });

  it("encrypts the bucket and both EBS volumes of each seedbox (root and data, sized by volume_size_gib, gone with the instance)", () => {
    for (const c of all("aws_s3_bucket_server_side_encryption_configuration")) {
      assert.deepEqual((c.rule as Block[])[0]!.apply_server_side_encryption_by_default, { sse_algorithm: "AES256" });
    }
    assert.equal(all("aws_s3_bucket_server_side_encryption_configuration").length, 2, "the bucket and the page bucket");
    const disks = one("aws_launch_template").block_device_mappings as { device_name: string; ebs: Block }[];
    assert.deepEqual(disks, [
      { device_name: "/dev/xvda", ebs: { volume_type: "gp3", volume_size: 16, encrypted: "true", delete_on_termination: "true" } },
      { device_name: "/dev/sdf", ebs: { volume_type: "gp3", volume_size: "${var.volume_size_gib}", encrypted: "true", delete_on_termination: "true" } },
    ]);
  });

  it("denies every non-TLS request with the bucket policy", () => {
    for (const prefix of ["core_", "front_"]) {
      const policy = String(named("aws_s3_bucket_policy", prefix).policy);
      assert.match(policy, /"Effect" *[:=] *"Deny"/);
      assert.match(policy, /"aws:SecureTransport" *[:=] *"false"/);
    }
  });

  it("expires incoming/ and files/ after the retention variable", () => {
    const rules = one("aws_s3_bucket_lifecycle_configuration").rule as { filter: { prefix: string }[]; expiration: { days: unknown }[] }[];
    assert.deepEqual(rules.map((r) => r.filter[0]!.prefix).sort(), ["files/", "incoming/"]);
    for (const r of rules) assert.equal(r.expiration[0]!.days, "${var.retention_days}");
  });

  it("gives every work queue a DLQ", () => {
    const queues = all("aws_sqs_queue");
    const work = queues.filter((q) => !String(q.name).endsWith("-dlq"));
    assert.equal(work.length, 4);
    for (const q of work) assert.match(String(q.redrive_policy), /deadLetterTargetArn/, String(q.name));
    assert.equal(queues.length, 8);
  });

  it("delivers SNS to SQS raw", () => {
    const subs = all("aws_sns_topic_subscription").filter((x) => x.protocol !== "lambda" && x.protocol !== "email");
    assert.equal(subs.length, 3);
    for (const sub of subs) assert.deepEqual([sub.protocol, sub.raw_message_delivery], ["sqs", true]);
  });

  it("makes the manifest notification depend on the facts topic policy", () => {
    const n = one("aws_s3_bucket_notification");
    assert.ok((n.depends_on as string[]).some((d) => d.startsWith("aws_sns_topic_policy.")));
  });

  it("has no IAM statement with Action \"*\", and Resource \"*\" only for actions that take no resource", () => {
    const docs = Object.values(s.data.aws_iam_policy_document ?? {});
    assert.ok(docs.length >= 4);
    for (const d of docs) {
      for (const st of d.statement as { actions: string[]; resources?: string[] }[]) {
        assert.ok(!st.actions.some((a) => a === "*" || a.endsWith(":*")), `wildcard action in ${JSON.stringify(st)}`);
        const unscoped = ["autoscaling:DescribeAutoScalingGroups", "ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"];
        if ((st.resources ?? []).includes("*")) assert.ok(st.actions.every((a) => unscoped.includes(a)), `Resource "*" in ${JSON.stringify(st)}`);
      }
    }
    // Policies written inline (queues, topic, bucket) carry no wildcard action or resource either;
    // the bucket's deny-non-TLS statement is the one place "s3:*" belongs.
    for (const p of [...all("aws_sqs_queue").map((q) => q.policy), one("aws_sns_topic_policy").policy]) {
      if (p) assert.doesNotMatch(String(p), /"(Action|Resource)" *[:=] *"\*"/);
    }
    // No managed policy: AmazonSSMManagedInstanceCore would let the seedbox read every parameter.
    assert.deepEqual(all("aws_iam_role_policy_attachment"), []);
  });

  it("limits the host to its queues, topic, bucket prefixes and parameters", () => {
    const host = Object.entries(s.data.aws_iam_policy_document!).find(([k]) => k.startsWith("seedbox_role_policy-document"))![1];
    const bySid = Object.fromEntries((host.statement as { sid: string; actions: string[]; resources: string[] }[]).map((st) => [st.sid, st]));
    assert.deepEqual(bySid.RequestsQueue!.actions, ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"]);
    assert.deepEqual(bySid.FactsTopic!.actions, ["sns:Publish"]);
    assert.ok(bySid.Files!.resources[0]!.endsWith("/files/*") && bySid.Files!.actions.includes("s3:AbortMultipartUpload"));
    assert.deepEqual(bySid.Incoming!.actions, ["s3:GetObject"]);
    assert.deepEqual(bySid.OwnParameters!.resources.map((r) => r.split(":parameter")[1]), ["/${var.name}/host/*"]);
  });

  it("denies the host every parameter but its own, so no secret of the stack reaches it", () => {
    const host = Object.entries(s.data.aws_iam_policy_document!).find(([k]) => k.startsWith("seedbox_role_policy-document"))![1];
    const statements = host.statement as { sid: string; effect: string; actions: string[]; resources?: string[]; not_resources?: string[] }[];
    const deny = statements.find((st) => st.effect === "Deny")!;
    assert.deepEqual(deny.actions.toSorted(), ["ssm:GetParameter", "ssm:GetParameterHistory", "ssm:GetParameters", "ssm:GetParametersByPath"]);
    assert.deepEqual(deny.not_resources!.map((r) => r.split(":parameter")[1]), ["/${var.name}/host/*"]);
    // No allow names a parameter outside the host's own path (the API token, the signing secret, Discord's).
    const allowed = statements.filter((st) => st.effect === "Allow").flatMap((st) => st.resources ?? []).filter((r) => r.includes(":parameter"));
    assert.ok(allowed.every((r) => r.endsWith(":parameter/${var.name}/host/*")), allowed.join(", "));
  });

  it("creates the job table: on-demand, encrypted, point-in-time recovery, TTL, both indexes projecting ALL", () => {
    assertJobTable(one("aws_dynamodb_table"));
  });

  it("gives the API function get/put on the table and query on its indexes; the facts function and the seedboxes get/put only", () => {
    const doc = (prefix: string) => Object.entries(s.data.aws_iam_policy_document!).find(([k]) => k.startsWith(prefix))![1];
    const statements = (prefix: string) => doc(prefix).statement as { sid: string; actions: string[]; resources: string[]; condition?: unknown }[];
    const table = ref("aws_dynamodb_table", "arn");
    const dynamo = (prefix: string) => statements(prefix).filter((st) => st.actions.some((a) => a.startsWith("dynamodb:"))).map(({ sid, actions, resources }) => ({ sid, actions, resources }));
    const monthTotals = { sid: "MonthTotals", actions: ["dynamodb:UpdateItem"], resources: [table] };
    assert.deepEqual(dynamo("ingest_function-role_policy-document"), [
      { sid: "JobTable", actions: ["dynamodb:GetItem", "dynamodb:PutItem"], resources: [table] },
      monthTotals,
      { sid: "JobIndexes", actions: ["dynamodb:Query"], resources: [`${table}/index/${schema.byCreated.name}`, `${table}/index/${schema.byChanged.name}`, `${table}/index/${schema.byDue.name}`] },
    ]);
    assert.deepEqual(dynamo("ingest_facts-function-role_policy-document"), [
      { sid: "JobTable", actions: ["dynamodb:GetItem", "dynamodb:PutItem"], resources: [table] },
      monthTotals,
    ]);
    // The one update ingest may make: adding to a month's totals, whose keys are usage#<month>.
    const update = statements("ingest_function-role_policy-document").find((st) => st.sid === "MonthTotals")!;
    assert.deepEqual(update.condition, [{ test: "ForAllValues:StringLike", variable: "dynamodb:LeadingKeys", values: ["usage#*"] }]);
    // Seedboxes hold leases on the records (get/put only); nobody scans it or holds a dynamodb wildcard.
    assert.deepEqual(dynamo("seedbox_role_policy-document"), [
      { sid: "JobLeases", actions: ["dynamodb:GetItem", "dynamodb:PutItem"], resources: [table] },
    ]);
    const every = Object.values(s.data.aws_iam_policy_document!).flatMap((d) => d.statement as { actions: string[] }[]).flatMap((st) => st.actions);
    assert.ok(!every.some((a) => a === "dynamodb:Scan" || a.startsWith("dynamodb:*") || a === "dynamodb:BatchWriteItem" || a === "dynamodb:DeleteItem"), every.join(" "));
  });

  it("keeps the Lambdas out of jobs/ in S3: files/ get, and list only under files/ (the qBittorrent function: and qbittorrent/)", () => {
    for (const prefix of ["ingest_function-role_policy-document", "ingest_facts-function-role_policy-document", "ingest_qbittorrent-function-role_policy-document"]) {
      const st = Object.entries(s.data.aws_iam_policy_document!).find(([k]) => k.startsWith(prefix))![1].statement as { sid: string; actions: string[]; resources: string[]; condition?: unknown }[];
      const bucket = ref("aws_s3_bucket", "arn", "core_");
      assert.ok(!st.some((x) => x.resources.some((r) => r.includes("/jobs/"))), `${prefix} still reaches jobs/`);
      assert.deepEqual(st.find((x) => x.sid === "Files"), { sid: "Files", effect: "Allow", actions: ["s3:GetObject"], resources: [`${bucket}/files/*`] });
      const qbt = prefix.startsWith("ingest_qbittorrent-function-") ? [{
        sid: "QbtSettingsList", effect: "Allow", actions: ["s3:ListBucket"], resources: [bucket],
        condition: [{ test: "StringLike", variable: "s3:prefix", values: ["qbittorrent/*"] }],
      }] : [];
      assert.deepEqual(st.filter((x) => x.actions.includes("s3:ListBucket")), [{
        sid: "ListFiles", effect: "Allow", actions: ["s3:ListBucket"], resources: [bucket],
        condition: [{ test: "StringLike", variable: "s3:prefix", values: ["files/*"] }],
      }, ...qbt]);
    }
  });

  it("hands both functions the table name and the retention days", () => {
    for (const f of all("aws_lambda_function").filter((x) => String(x.function_name).includes("-ingest"))) {
      const env = (f.environment as { variables: Record<string, string> }).variables;
      assert.equal(env.T2S_JOBS_TABLE, ref("aws_dynamodb_table", "name"), String(f.function_name));
      assert.equal(env.T2S_RETENTION_DAYS, "${var.retention_days}", String(f.function_name));
    }
  });

  it("gives the Lambda a function URL and an SQS mapping with partial batch failures", () => {
    const fns = s.resource.aws_lambda_function!;
    const http = Object.entries(fns).find(([k]) => k.startsWith("ingest_function_"))![1];
    const facts = Object.entries(fns).find(([k]) => k.startsWith("ingest_facts-function_"))![1];
    for (const f of [http, facts]) assert.equal(f.runtime, "nodejs22.x");
    assert.deepEqual([http.handler, facts.handler], ["index.httpHandler", "index.sqsHandler"]);
    const url = named("aws_lambda_function_url", "ingest_url_");
    assert.equal(url.authorization_type, "AWS_IAM", "the API's URL: CloudFront only");
    assert.match(String(url.function_name), /aws_lambda_function\.ingest_function_/);
    // POST /api/jobs/:id/cancel of a job no seedbox holds aborts what was left open under files/<id>/.
    const api = policyDoc("ingest_function-role_policy-document");
    assert.deepEqual(api.find((x) => x.sid === "AbortUploads")?.actions, ["s3:AbortMultipartUpload"]);
    assert.deepEqual(api.find((x) => x.sid === "ListUploads")?.actions, ["s3:ListBucketMultipartUploads"]);
    const maps = all("aws_lambda_event_source_mapping").filter((x) => /aws_lambda_function\.ingest_/.test(String(x.function_name)));
    assert.equal(maps.length, 2);
    for (const m of maps) assert.deepEqual(m.function_response_types, ["ReportBatchItemFailures"]);
    const m = maps.find((x) => /core_facts-ingest_queue/.test(String(x.event_source_arn)))!;
    assert.match(String(m.function_name), /aws_lambda_function\.ingest_facts-function_/);
  });

  it("serves the qBittorrent API from a function of its own: URL auth NONE, the ingest bundle, a reserved concurrency, no download key", () => {
    const fn = named("aws_lambda_function", "ingest_qbittorrent-function_");
    assert.equal(fn.handler, "index.qbittorrentHandler");
    assert.equal(fn.filename, named("aws_lambda_function", "ingest_function_").filename, "the ingest bundle");
    assert.equal(fn.reserved_concurrent_executions, "${var.qbittorrent_concurrency}");
    assert.equal(s.variable.qbittorrent_concurrency!.default, awsDefaults.qbittorrentConcurrency);
    assert.ok(awsDefaults.qbittorrentConcurrency > 0);
    assert.notEqual(fn.role, named("aws_lambda_function", "ingest_function_").role, "a role of its own");
    const url = named("aws_lambda_function_url", "ingest_qbittorrent-url_");
    assert.equal(url.authorization_type, "NONE");
    assert.match(String(url.function_name), /aws_lambda_function\.ingest_qbittorrent-function_/);
    // Only the API function signs links: the key pair's id prices downloads, the key stays out of reach.
    const st = policyDoc("ingest_qbittorrent-function-role_policy-document");
    assert.ok(!st.some((x) => x.sid === "DownloadKey"));
    assert.deepEqual(st.map((x) => x.sid), ["Logs", "JobTable", "MonthTotals", "Files", "ListFiles", "Publish", "Parameters", "ClaimChecks", "DeleteFiles", "AbortUploads", "ListUploads", "ClaimCheckRead", "QbtSettings", "QbtSettingsList", "JobIndexes", "WebhookQueueSend", "FleetScaleUp", "FleetDescribe", "RequestsDepth"]);
    const table = ref("aws_dynamodb_table", "arn");
    assert.deepEqual(st.find((x) => x.sid === "JobIndexes")!.resources, [`${table}/index/${schema.byCreated.name}`], "the newest-first list only");
    // The API function no longer answers the qBittorrent API: its settings are out of its reach.
    assert.ok(!policyDoc("ingest_function-role_policy-document").some((x) => x.resources.some((r) => r.includes("/qbittorrent/"))));
  });

  it("delivers webhooks from their own queue (with a DLQ) by a function that can only read jobs and use that queue", () => {
    const fns = s.resource.aws_lambda_function!;
    const hooks = Object.entries(fns).find(([k]) => k.startsWith("ingest_webhooks-function_"))![1];
    assert.equal(hooks.handler, "index.webhookHandler");
    assert.equal(hooks.timeout, 30);
    const queue = Object.entries(s.resource.aws_sqs_queue!).find(([, q]) => q.name === "${var.name}-webhooks")!;
    assert.match(String(queue[1].redrive_policy), /deadLetterTargetArn/);
    assert.ok(Number(queue[1].visibility_timeout_seconds) > Number(hooks.timeout), "visibility above the function's timeout");
    const qArn = `\${aws_sqs_queue.${queue[0]}.arn}`;
    const m = all("aws_lambda_event_source_mapping").find((x) => x.event_source_arn === qArn)!;
    assert.match(String(m.function_name), /aws_lambda_function\.ingest_webhooks-function_/);
    const st = (prefix: string) => (Object.entries(s.data.aws_iam_policy_document!).find(([k]) => k.startsWith(prefix))![1].statement as { sid: string; actions: string[]; resources: string[] }[])
      .map(({ sid, actions, resources }) => ({ sid, actions, resources }));
    const table = ref("aws_dynamodb_table", "arn");
    assert.deepEqual(st("ingest_webhooks-function-role_policy-document").map((x) => x.sid), ["Logs", "JobTableRead", "WebhookQueue", "Parameters"]);
    assert.deepEqual(st("ingest_webhooks-function-role_policy-document").find((x) => x.sid === "JobTableRead"), { sid: "JobTableRead", actions: ["dynamodb:GetItem"], resources: [table] });
    assert.deepEqual(st("ingest_webhooks-function-role_policy-document").find((x) => x.sid === "WebhookQueue")!.resources, [qArn]);
    // The functions that end jobs may only send to it.
    for (const prefix of ["ingest_function-role_policy-document", "ingest_facts-function-role_policy-document", "ingest_sweep-function-role_policy-document"]) {
      assert.deepEqual(st(prefix).find((x) => x.sid === "WebhookQueueSend"), { sid: "WebhookQueueSend", actions: ["sqs:SendMessage"], resources: [qArn] });
    }
    for (const [k, f] of Object.entries(fns)) {
      if (k.startsWith("ingest_")) assert.equal((f.environment as { variables: Record<string, string> }).variables.T2S_WEBHOOKS_QUEUE_URL, `\${aws_sqs_queue.${queue[0]}.url}`);
    }
  });

  it("grants no public invoke on the ingest functions but the qBittorrent one: only the distribution may call the API's URL", () => {
    const perms = all("aws_lambda_permission").filter((p) => /aws_lambda_function\.ingest_(?!qbittorrent-)/.test(String(p.function_name)) && p.principal !== "events.amazonaws.com");
    assert.deepEqual(perms.map((p) => p.action).sort(), ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]);
    const distribution = ref("aws_cloudfront_distribution", "arn");
    for (const p of perms) {
      assert.match(String(p.function_name), /aws_lambda_function\.ingest_function_/);
      assert.equal(p.principal, "cloudfront.amazonaws.com");
      assert.equal(p.source_arn, distribution);
    }
    assert.equal(perms.find((p) => p.action === "lambda:InvokeFunctionUrl")!.function_url_auth_type, "AWS_IAM");
    // The public grants that remain are the interactions function's, which Discord calls directly, and the
    // qBittorrent function's, which Sonarr and Radarr call through the distribution unsigned.
    const open = all("aws_lambda_permission").filter((p) => p.principal === "*");
    assert.equal(open.length, 4);
    const discord = open.filter((p) => /aws_lambda_function\.discord_interactions_/.test(String(p.function_name)));
    const qbt = open.filter((p) => /aws_lambda_function\.ingest_qbittorrent-function_/.test(String(p.function_name)));
    assert.deepEqual([discord.length, qbt.length], [2, 2]);
    assert.deepEqual(qbt.map((p) => [p.action, p.function_url_auth_type]).sort(), [["lambda:InvokeFunction", undefined], ["lambda:InvokeFunctionUrl", "NONE"]]);
  });

  it("serves the page from a private bucket with Block Public Access, readable by the distribution only", () => {
    assert.deepEqual(named("aws_s3_bucket_public_access_block", "front_"), {
      bucket: ref("aws_s3_bucket", "id", "front_"), block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true,
    });
    assert.deepEqual((named("aws_s3_bucket_ownership_controls", "front_").rule as Block).object_ownership, "BucketOwnerEnforced");
    const policy = String(named("aws_s3_bucket_policy", "front_").policy);
    assert.match(policy, /"Service" *[:=] *"cloudfront\.amazonaws\.com"/);
    assert.match(policy, /"AWS:SourceArn" *[:=] *aws_cloudfront_distribution\.front_distribution_\w+\.arn/);
    assert.doesNotMatch(policy, /"Principal" *[:=] *"\*"[^}]*"Allow"/);
    const files = all("aws_s3_object").filter((o) => String(o.bucket).includes("front_bucket"));
    assert.deepEqual(files.map((o) => [o.key, o.content_type]).sort(), [["app.css", "text/css; charset=utf-8"], ["app.js", "text/javascript; charset=utf-8"], ["index.html", "text/html; charset=utf-8"]]);
  });

  it("has a CloudFront distribution with origin access control for the S3 origin and for the Lambda origin", () => {
    const d = one("aws_cloudfront_distribution");
    const origins = d.origin as Block[];
    const page = origins.find((o) => o.origin_id === "page")!;
    const api = origins.find((o) => o.origin_id === "ingest")!;
    assert.equal(page.domain_name, ref("aws_s3_bucket", "bucket_regional_domain_name", "front_"));
    assert.equal(page.origin_access_control_id, ref("aws_cloudfront_origin_access_control", "id", "front_s3-access"));
    assert.equal(api.origin_access_control_id, ref("aws_cloudfront_origin_access_control", "id", "front_lambda-access"));
    assert.match(String(api.domain_name), /aws_lambda_function_url\.ingest_url_[^}]*\.function_url/);
    assert.equal((api.custom_origin_config as Block).origin_protocol_policy, "https-only");
    // The public qBittorrent function: no OAC (its URL's auth is NONE; the viewer's Authorization must get through).
    const qbt = origins.find((o) => o.origin_id === "qbittorrent")!;
    assert.match(String(qbt.domain_name), /aws_lambda_function_url\.ingest_qbittorrent-url_[^}]*\.function_url/);
    assert.equal(qbt.origin_access_control_id, undefined);
    assert.equal((qbt.custom_origin_config as Block).origin_protocol_policy, "https-only");
    const s3 = named("aws_cloudfront_origin_access_control", "front_s3-access");
    const lambda = named("aws_cloudfront_origin_access_control", "front_lambda-access");
    assert.deepEqual([s3.origin_access_control_origin_type, s3.signing_behavior, s3.signing_protocol], ["s3", "always", "sigv4"]);
    assert.deepEqual([lambda.origin_access_control_origin_type, lambda.signing_behavior, lambda.signing_protocol], ["lambda", "always", "sigv4"]);
    assert.equal(d.default_root_object, "index.html");
    assert.equal(d.enabled, true);
  });

  it("routes ingest's public paths to the ingest URL uncached, with cookies and query strings; everything HTTPS", () => {
    const d = one("aws_cloudfront_distribution");
    const def = d.default_cache_behavior as Block;
    assert.equal(def.target_origin_id, "page");
    const behaviors = d.ordered_cache_behavior as Block[];
    assert.deepEqual(behaviors.map((b) => b.path_pattern), ["/api/*", "/d/*", "/zip/*", "/healthz", "/qbittorrent/*"]);
    for (const b of [def, ...behaviors]) {
      assert.equal(b.viewer_protocol_policy, "redirect-to-https");
      assert.equal(b.response_headers_policy_id, ref("aws_cloudfront_response_headers_policy", "id"));
    }
    for (const b of behaviors) {
      assert.equal(b.target_origin_id, b.path_pattern === "/qbittorrent/*" ? "qbittorrent" : "ingest", String(b.path_pattern));
      assert.equal(b.cache_policy_id, "4135ea2d-6df8-44a3-9df3-4b5a84be39ad", "CachingDisabled");
      assert.equal(b.origin_request_policy_id, "b689b0a8-53d0-40ab-baf2-68738e2966ac", "AllViewerExceptHostHeader");
    }
    assert.deepEqual(behaviors[0]!.allowed_methods, ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]);
    // The qBittorrent behaviour passes the viewer's Authorization (Sonarr's bearer token or Basic), cookies,
    // the query and the body, unsigned: AllViewerExceptHostHeader forwards Authorization where nothing is cached.
    const config = distributionConfigFromTerraform(d);
    const qbt = config.CacheBehaviors!.Items!.find((b) => b.PathPattern === "/qbittorrent/*")!;
    assert.equal(config.Origins!.Items!.find((o) => o.Id === qbt.TargetOriginId)!.OriginAccessControlId, undefined);
    assert.deepEqual(originRequestHeaders(qbt, { authorization: "Bearer t", cookie: "SID=s", "content-type": "application/x-www-form-urlencoded", host: "d.cloudfront.net" }),
      { headers: { authorization: "Bearer t", cookie: "SID=s", "content-type": "application/x-www-form-urlencoded" }, query: true });
    assert.deepEqual(qbt.AllowedMethods!.Items, ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]);
    assert.deepEqual((d.viewer_certificate as Block).cloudfront_default_certificate, true);
  });

  it("sends every route of ingest, read back from the distribution, to the function URL with its method, and the page's files to the page bucket", () => {
    const d = one("aws_cloudfront_distribution");
    const origins = Object.fromEntries((d.origin as Block[]).map((o) => [o.origin_id, o]));
    assert.match(String(origins.ingest!.domain_name), /aws_lambda_function_url\.ingest_url_[^}]*\.function_url/);
    assert.equal(origins.page!.domain_name, ref("aws_s3_bucket", "bucket_regional_domain_name", "front_"));
    // CloudFront takes the first ordered behaviour whose pattern matches, else the default one.
    const behaviorOf = (path: string) => (d.ordered_cache_behavior as Block[]).find((b) => patternMatches(String(b.path_pattern), path)) ?? (d.default_cache_behavior as Block);
    const routes = ingestRoutes();
    assert.ok(routes.some((r) => r.path === "/zip/:id"));
    assert.match(String(origins.qbittorrent!.domain_name), /aws_lambda_function_url\.ingest_qbittorrent-url_[^}]*\.function_url/);
    for (const r of routes) {
      const b = behaviorOf(examplePath(r.path));
      assert.equal(b.target_origin_id, r.path.startsWith("/qbittorrent/api/v2/") ? "qbittorrent" : "ingest", `${r.method} ${r.path} does not reach its function`);
      assert.ok((b.allowed_methods as string[]).includes(r.method), `${r.path}: CloudFront refuses ${r.method}`);
    }
    for (const path of ["/", ...pageFiles.map(([key]) => `/${key}`)]) assert.equal(behaviorOf(path).target_origin_id, "page", path);
    const keys = all("aws_s3_object").filter((o) => String(o.bucket).includes("front_bucket")).map((o) => o.key);
    assert.deepEqual(keys.sort(), pageFiles.map(([key]) => key).sort());
  });

  it("sends the page's CSP and the security headers from the response headers policy", () => {
    const h = one("aws_cloudfront_response_headers_policy").security_headers_config as Record<string, Block>;
    // Media may load from the files bucket's endpoint (presigned links), and from nowhere else.
    const csp = String(h.content_security_policy!.content_security_policy);
    assert.equal(csp, pageCsp(`https://${ref("aws_s3_bucket", "bucket_regional_domain_name", "core_bucket")}`));
    assert.match(csp, /default-src 'none'; script-src 'self'/);
    assert.equal(h.content_security_policy!.override, true);
    assert.deepEqual(h.content_type_options, { override: true });
    assert.deepEqual(h.frame_options, { frame_option: "DENY", override: true });
    assert.deepEqual(h.referrer_policy, { referrer_policy: "no-referrer", override: true });
    assert.equal(h.strict_transport_security!.access_control_max_age_sec, 63_072_000);
  });

  it("hands links and cookies the CloudFront URL, through the public-url parameter", () => {
    const p = all("aws_ssm_parameter").find((x) => String(x.name).endsWith("/public-url"))!;
    assert.equal(p.value, `https://${ref("aws_cloudfront_distribution", "domain_name")}`);
  });

  it("creates the interactions function with a public URL (auth NONE), a worker on its topic and the updates consumer", () => {
    const fns = s.resource.aws_lambda_function!;
    const f = (prefix: string) => Object.entries(fns).find(([k]) => k.startsWith(prefix))![1];
    const [ia, worker, updates] = [f("discord_interactions_"), f("discord_worker_"), f("discord_updates_")];
    assert.deepEqual([ia.handler, worker.handler, updates.handler], ["index.interactionsHandler", "index.workHandler", "index.updatesHandler"]);
    for (const x of [ia, worker, updates]) {
      assert.equal(x.runtime, "nodejs22.x");
      const env = (x.environment as { variables: Record<string, string> }).variables;
      assert.equal(env.DISCORD_PUBLIC_KEY, "${var.discord_public_key}");
      assert.equal(env.T2S_API_URL, `https://${ref("aws_cloudfront_distribution", "domain_name")}`);
    }
    const url = named("aws_lambda_function_url", "discord_");
    assert.equal(url.authorization_type, "NONE");
    assert.match(String(url.function_name), /aws_lambda_function\.discord_interactions_/);
    const sub = all("aws_sns_topic_subscription").find((x) => x.protocol === "lambda")!;
    assert.equal(sub.topic_arn, ref("aws_sns_topic", "arn", "discord_"));
    assert.equal(sub.endpoint, ref("aws_lambda_function", "arn", "discord_worker_"));
    const invoke = all("aws_lambda_permission").find((p) => p.principal === "sns.amazonaws.com")!;
    assert.equal(invoke.source_arn, ref("aws_sns_topic", "arn", "discord_"));
    assert.equal(named("aws_lambda_function_event_invoke_config", "discord_").maximum_retry_attempts, 1);
    const m = named("aws_lambda_event_source_mapping", "discord_");
    assert.deepEqual(m.function_response_types, ["ReportBatchItemFailures"]);
    assert.deepEqual(m.scaling_config, { maximum_concurrency: 2 });
    assert.match(String(m.event_source_arn), /aws_sqs_queue\.core_updates-bot_queue/);
    // Least privilege: the public function may publish the hand-off and read the API token, nothing more.
    const statements = (prefix: string) => policyDoc(prefix).map((st) => [st.sid, st.actions.join(",")]);
    assert.deepEqual(statements("discord_interactions-role_policy-document"), [["Logs", "logs:CreateLogStream,logs:PutLogEvents"], ["HandOff", "sns:Publish"], ["ApiToken", "ssm:GetParameters"]]);
    assert.deepEqual(policyDoc("discord_interactions-role_policy-document").find((st) => st.sid === "ApiToken")!.resources, ["arn:${data.aws_partition.partition.partition}:ssm:${var.region}:${data.aws_caller_identity.account.account_id}:parameter/${var.name}/api-token"]);
    assert.deepEqual(statements("discord_worker-role_policy-document"), [["Logs", "logs:CreateLogStream,logs:PutLogEvents"], ["Tokens", "ssm:GetParameters"]]);
    assert.deepEqual(statements("discord_updates-role_policy-document").map(([sid]) => sid), ["Logs", "Tokens", "UpdatesQueue"]);
    // The host no longer runs the bot: no updates queue, no Discord token.
    assert.ok(!policyDoc("seedbox_role_policy-document").some((st) => (st.resources ?? []).some((r) => /updates-bot|discord-token/.test(r))));
  });

  it("outputs the page URL (CloudFront), the interactions URL, the buckets and the seedbox group (no instance id)", () => {
    for (const o of ["page_url", "interactions_url", "bucket", "page_bucket", "seedbox_group"]) assert.ok(s.output[o], `output ${o} is missing`);
    assert.equal(s.output.instance_id, undefined);
    assert.equal(s.output.seedbox_group!.value, ref("aws_autoscaling_group", "name"));
    assert.match(String(s.output.page_url!.value), /^https:\/\/\$\{aws_cloudfront_distribution\./);
    assert.match(String(s.output.interactions_url!.value), /aws_lambda_function_url\.discord_url_/);
  });

  it("declares the variables: name, region, instance types, arch, volume size, the fleet's, retention, Discord allow-list and public key, the monthly budget", () => {
    assert.deepEqual(Object.keys(s.variable).sort(), [
      "alarm_email", "arch", "discord_allow_list", "discord_public_key", "idle_minutes", "instance_type", "instance_types", "keep_data", "log_retention_days", "max_seedboxes", "max_torrents", "monthly_budget_usd", "name", "qbittorrent_concurrency", "region", "retention_days", "spot", "volume_size_gib",
    ]);
    assert.deepEqual([s.variable.alarm_email!.default, s.variable.keep_data!.default, s.variable.log_retention_days!.default], ["", true, 30]);
    // Empty by default (no guard), and handed to the API and the sweeper as T2S_MONTHLY_BUDGET_USD.
    const budget = s.variable.monthly_budget_usd!;
    assert.deepEqual([budget.type, budget.default], ["string", ""]);
    for (const fn of ["ingest_function", "ingest_sweep-function"]) {
      const env = (named("aws_lambda_function", fn).environment as { variables: Record<string, string> }).variables;
      assert.equal(env.T2S_MONTHLY_BUDGET_USD, "${var.monthly_budget_usd}", fn);
    }
    assert.deepEqual([s.variable.idle_minutes!.default, s.variable.max_torrents!.default], [10, awsDefaults.maxTorrents]);
  });

  it("keeps every secret value out of the JSON: only parameter names", () => {
    for (const v of Object.values(canary)) assert.ok(!json.includes(v), "a secret value is in the synthesized JSON");
    assert.ok(all("aws_ssm_parameter").every((p) => p.type === "String"), "the stack holds a SecureString value");
    for (const f of all("aws_lambda_function")) {
      const env = (f.environment as { variables: Record<string, string> }).variables;
      assert.ok(Object.keys(env).every((k) => !/TOKEN$|SECRET$/.test(k)), "a secret is passed by value to the Lambda");
      assert.equal(env.T2S_API_TOKEN_PARAM, "/${var.name}/api-token");
    }
    assert.doesNotMatch(userData(), /PASSWORD=(?!%s|\$\(openssl rand )/, "a fixed password is written into the user data");
  });

  it("makes a new release a new launch template version, which new seedboxes run; none is replaced", () => {
    const [key] = Object.keys(s.locals).filter((k) => k.startsWith("seedbox_user-data"));
    assert.equal(one("aws_launch_template").user_data, `\${base64encode(local.${key})}`);
    assert.match(userData(), /aws_s3_object\.seedbox_release-object/);
  });

  it("hands the group's name and cap to ingest and the seedboxes, and idle_minutes to the seedboxes", () => {
    const env = userData();
    for (const line of ["T2S_FLEET_GROUP=${var.name}-seedbox", "T2S_MAX_SEEDBOXES=${tostring(var.max_seedboxes)}", "T2S_MAX_TORRENTS=${tostring(var.max_torrents)}", "T2S_IDLE_MINUTES=${tostring(var.idle_minutes)}"]) {
      assert.ok(env.split("\n").includes(line), line);
    }
    for (const prefix of ["ingest_function_", "ingest_sweep-function_"]) {
      const vars = (named("aws_lambda_function", prefix).environment as { variables: Record<string, string> }).variables;
      assert.deepEqual([vars.T2S_FLEET_GROUP, vars.T2S_MAX_SEEDBOXES, vars.T2S_MAX_TORRENTS], ["${var.name}-seedbox", "${tostring(var.max_seedboxes)}", "${tostring(var.max_torrents)}"], prefix);
    }
  });

  it("lets the API and the sweeper set the desired capacity of that group only, and each seedbox protect or end itself in it", () => {
    const fleetStatements = (prefix: string) => policyDoc(prefix).filter((st) => st.actions.some((a) => a.startsWith("autoscaling:"))).map(({ sid, actions, resources }) => ({ sid, actions, resources }));
    for (const prefix of ["ingest_function-role_policy-document", "ingest_sweep-function-role_policy-document"]) {
      assert.deepEqual(fleetStatements(prefix), [
        { sid: "FleetScaleUp", actions: ["autoscaling:SetDesiredCapacity"], resources: [groupArn] },
        { sid: "FleetDescribe", actions: ["autoscaling:DescribeAutoScalingGroups"], resources: ["*"] },
      ], prefix);
      // The open jobs it counts: the requests queue's depth.
      assert.deepEqual(policyDoc(prefix).find((st) => st.sid === "RequestsDepth")!.resources, [ref("aws_sqs_queue", "arn", "core_requests_queue")]);
    }
    assert.deepEqual(fleetStatements("seedbox_role_policy-document"), [
      { sid: "OwnGroup", actions: ["autoscaling:SetInstanceProtection", "autoscaling:TerminateInstanceInAutoScalingGroup"], resources: [groupArn] },
    ]);
    for (const prefix of ["ingest_facts-function-role_policy-document", "ingest_webhooks-function-role_policy-document", "discord_interactions-role_policy-document", "discord_worker-role_policy-document", "discord_updates-role_policy-document"]) {
      assert.deepEqual(fleetStatements(prefix), [], prefix);
    }
    // The group name in the ARN is the group's own.
    assert.ok(groupArn.endsWith(`/${one("aws_autoscaling_group").name}`));
  });

  it("adds one seedbox through a simple scaling policy when requests wait in the queue (the backstop)", () => {
    const p = one("aws_autoscaling_policy");
    assert.deepEqual([p.autoscaling_group_name, p.policy_type, p.adjustment_type, p.scaling_adjustment], [ref("aws_autoscaling_group", "name"), "SimpleScaling", "ChangeInCapacity", 1]);
    const a = named("aws_cloudwatch_metric_alarm", "seedbox_backlog");
    assert.deepEqual([a.namespace, a.metric_name, a.comparison_operator, a.threshold, a.treat_missing_data], ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "GreaterThanThreshold", 0, "notBreaching"]);
    assert.deepEqual(a.dimensions, { QueueName: ref("aws_sqs_queue", "name", "core_requests_queue") });
    assert.deepEqual(a.alarm_actions, [ref("aws_autoscaling_policy", "arn")]);
  });

  it("keeps the Lambdas' and the seedboxes' logs in log groups for log_retention_days; each seedbox may only write its own stream there", () => {
    const groups = all("aws_cloudwatch_log_group");
    assert.equal(groups.length, all("aws_lambda_function").length + 1);
    for (const g of groups) assert.equal(g.retention_in_days, "${var.log_retention_days}", String(g.name));
    assert.equal(named("aws_cloudwatch_log_group", "seedbox_logs").name, "/${var.name}/seedbox");
    const seedbox = policyDoc("seedbox_role").find((x) => x.sid === "Logs")!;
    assert.deepEqual(seedbox, { sid: "Logs", effect: "Allow", actions: ["logs:CreateLogStream", "logs:PutLogEvents"], resources: [`\${${ref("aws_cloudwatch_log_group", "arn", "seedbox_logs").slice(2, -1)}}:*`] });
    // The host learns the group from its environment file and starts the shipper with the services.
    assert.match(userData(), /^T2S_LOG_GROUP=\$\{aws_cloudwatch_log_group\.seedbox_logs_\w+\.name\}$/m);
    assert.match(userData(), /^systemctl enable --now t2s-logs\.service /m);
    assert.equal(s.output.seedbox_logs!.value, ref("aws_cloudwatch_log_group", "name", "seedbox_logs"));
  });

  it("alarms on every dead-letter queue, every function's errors and a job open past the bound, all to one topic with an optional e-mail", () => {
    const topic = ref("aws_sns_topic", "arn", "monitoring_topic");
    assert.equal(named("aws_sns_topic", "monitoring_topic").name, "${var.name}-alarms");
    const email = named("aws_sns_topic_subscription", "monitoring_email");
    assert.deepEqual([email.protocol, email.endpoint, email.topic_arn, email.count], ["email", "${var.alarm_email}", topic, '${min(1, length(var.alarm_email))}']);
    const alarms = all("aws_cloudwatch_metric_alarm").filter((a) => JSON.stringify(a.alarm_actions) === JSON.stringify([topic]));
    for (const a of alarms) assert.deepEqual([a.comparison_operator, a.threshold, a.treat_missing_data, a.ok_actions], ["GreaterThanThreshold", 0, "notBreaching", [topic]], String(a.alarm_name));
    const dlqs = Object.keys(s.resource.aws_sqs_queue!).filter((k) => String(s.resource.aws_sqs_queue![k]!.name).endsWith("-dlq"));
    assert.equal(dlqs.length, 4);
    assert.deepEqual(alarms.filter((a) => a.namespace === "AWS/SQS").map((a) => (a.dimensions as { QueueName: string }).QueueName).sort(), dlqs.map((k) => `\${aws_sqs_queue.${k}.name}`).sort());
    const fns = Object.keys(s.resource.aws_lambda_function!);
    assert.equal(fns.length, 8);
    const errors = alarms.filter((a) => a.namespace === "AWS/Lambda");
    assert.deepEqual(errors.map((a) => [a.metric_name, a.statistic]), fns.map(() => ["Errors", "Sum"]));
    assert.deepEqual(errors.map((a) => (a.dimensions as { FunctionName: string }).FunctionName).sort(), fns.map((k) => `\${aws_lambda_function.${k}.function_name}`).sort());
    // Stuck jobs: the sweeper's line, counted by a metric filter on its log group.
    const filter = one("aws_cloudwatch_log_metric_filter");
    assert.equal(filter.pattern, `{ $.msg = "${stuckJobMessage}" }`);
    assert.equal(filter.log_group_name, `/aws/lambda/${ref("aws_lambda_function", "function_name", "ingest_sweep-function")}`);
    const transform = filter.metric_transformation as { name: string; namespace: string; value: string; default_value?: string };
    assert.equal(transform.default_value, undefined, "a default value would publish (and bill) the metric every minute");
    const stuck = alarms.filter((a) => a.metric_name === transform.name && a.namespace === transform.namespace);
    assert.equal(stuck.length, 1);
    assert.equal(alarms.length, 4 + 8 + 1);
    for (const a of alarms) assert.match(String(a.alarm_description), /docs\/aws\.md/);
    assert.equal(s.output.alarms_topic!.value, topic);
  });

  it("e-mails the alarm address through an AWS Budgets budget when the month's actual cost passes monthly_budget_usd (only with both set)", () => {
    const b = named("aws_budgets_budget", "monitoring_budget");
    assert.deepEqual([b.name, b.budget_type, b.time_unit, b.limit_amount, b.limit_unit], ["${var.name}-monthly", "COST", "MONTHLY", "${var.monthly_budget_usd}", "USD"]);
    assert.deepEqual(b.notification, [{ notification_type: "ACTUAL", comparison_operator: "GREATER_THAN", threshold: 100, threshold_type: "PERCENTAGE", subscriber_email_addresses: ["${var.alarm_email}"] }]);
    // terraform evaluates this under each setting in aws-validate.test.ts.
    assert.equal(b.count, '${min(1, length(var.alarm_email), signum(ceil(tonumber(coalesce(var.monthly_budget_usd, "0")))))}');
    assert.equal(b.cost_filter, undefined, "the account's whole cost: a tag filter stays silent until the tag is activated for cost allocation");
  });

  it("protects the data while keep_data is on: deletion protection on the table, no destroy of a bucket holding objects", () => {
    const t = one("aws_dynamodb_table");
    assert.equal(t.deletion_protection_enabled, "${var.keep_data}");
    assert.deepEqual(t.point_in_time_recovery, { enabled: true });
    assert.equal(named("aws_s3_bucket", "core_bucket").force_destroy, "${var.keep_data ? false : true}");
  });

  it("bills nothing by the hour while the fleet is at zero", () => {
    const g = one("aws_autoscaling_group");
    assert.deepEqual([g.min_size, g.desired_capacity], [0, undefined]);
    const hourly = ["aws_instance", "aws_nat_gateway", "aws_eip", "aws_lb", "aws_alb", "aws_db_instance", "aws_rds_cluster", "aws_elasticache_cluster", "aws_ecs_service", "aws_vpc_endpoint", "aws_ebs_volume", "aws_kinesis_stream", "aws_kms_key", "aws_cloudwatch_dashboard", "aws_secretsmanager_secret", "aws_ec2_client_vpn_endpoint"];
    assert.deepEqual(Object.keys(s.resource).filter((t) => hourly.includes(t)), []);
    assert.equal(one("aws_dynamodb_table").billing_mode, "PAY_PER_REQUEST");
    // Logs: nothing is written while nothing runs, and nothing is kept forever.
    for (const lg of all("aws_cloudwatch_log_group")) assert.ok(Number.isFinite(Number(awsDefaults.logRetentionDays)) && lg.retention_in_days, String(lg.name));
    // The alarms are the fixed cost (docs/aws.md): one backstop plus the thirteen above.
    assert.equal(all("aws_cloudwatch_metric_alarm").length, 14);
  });

  it("lets exactly the functions rotate-secrets refreshes read each parameter (secretReaders)", () => {
    const params = secretNames("${var.name}");
    const readers = secretReaders("${var.name}");
    const docs = s.data.aws_iam_policy_document!;
    for (const [key, param] of Object.entries(params) as [keyof typeof params, string][]) {
      const arn = `arn:\${data.aws_partition.partition.partition}:ssm:\${var.region}:\${data.aws_caller_identity.account.account_id}:parameter${param}`;
      const may = Object.values(s.resource.aws_lambda_function!).filter((fn) => {
        const role = /^\$\{aws_iam_role\.(.+)_[0-9A-F]{8}\.arn\}$/.exec(String(fn.role))![1]!;
        const doc = Object.entries(docs).find(([k]) => k.startsWith(`${role}_policy-document`))![1];
        return (doc.statement as { actions: string[]; resources: string[] }[]).some((st) => st.actions.some((a) => a.startsWith("ssm:Get")) && st.resources.includes(arn));
      }).map((fn) => String(fn.function_name)).sort();
      // The downloads key is granted only when the stack has one (the CloudFront test below).
      assert.deepEqual(may, key === "downloadsPrivateKey" ? [] : [...readers[key]].sort(), key);
    }
  });

  it("sweeps every minute: a rule, its target (the sweep handler of the ingest bundle) and the invoke permission", () => {
    const fn = named("aws_lambda_function", "ingest_sweep-function_");
    assert.equal(fn.handler, "index.sweep");
    assert.equal(fn.filename, named("aws_lambda_function", "ingest_function_").filename, "the ingest bundle");
    assert.ok(Number(fn.timeout) < 60, "done before the next tick");
    const rule = one("aws_cloudwatch_event_rule");
    assert.equal(rule.schedule_expression, "rate(1 minute)");
    const target = one("aws_cloudwatch_event_target");
    assert.deepEqual([target.rule, target.arn], [ref("aws_cloudwatch_event_rule", "name"), ref("aws_lambda_function", "arn", "ingest_sweep-function_")]);
    const perm = all("aws_lambda_permission").filter((x) => x.principal === "events.amazonaws.com");
    assert.equal(perm.length, 1);
    assert.deepEqual([perm[0]!.action, perm[0]!.function_name, perm[0]!.source_arn], ["lambda:InvokeFunction", ref("aws_lambda_function", "function_name", "ingest_sweep-function_"), ref("aws_cloudwatch_event_rule", "arn")]);
    const table = ref("aws_dynamodb_table", "arn");
    assert.deepEqual(policyDoc("ingest_sweep-function-role_policy-document").map(({ sid, actions, resources }) => ({ sid, actions, resources })), [
      { sid: "Logs", actions: ["logs:CreateLogStream", "logs:PutLogEvents"], resources: [`\${${ref("aws_cloudwatch_log_group", "arn", "ingest_sweep-function-logs").slice(2, -1)}}:*`] },
      { sid: "JobTable", actions: ["dynamodb:GetItem", "dynamodb:PutItem"], resources: [table] },
      // A job the sweeper fails ends its run: its seedbox time goes into the month's totals.
      { sid: "MonthTotals", actions: ["dynamodb:UpdateItem"], resources: [table] },
      { sid: "JobIndexes", actions: ["dynamodb:Query"], resources: [`${table}/index/${schema.byCreated.name}`, `${table}/index/${schema.byChanged.name}`, `${table}/index/${schema.byDue.name}`] },
      // Requests again, and the outboxes' job updates and webhook events.
      { sid: "Publish", actions: ["sns:Publish"], resources: [ref("aws_sns_topic", "arn", "core_requests-topic"), ref("aws_sns_topic", "arn", "core_updates-topic")] },
      policyDoc("ingest_function-role_policy-document").find((st) => st.sid === "WebhookQueueSend")!,
      policyDoc("ingest_function-role_policy-document").find((st) => st.sid === "Parameters")!,
      { sid: "FleetScaleUp", actions: ["autoscaling:SetDesiredCapacity"], resources: [groupArn] },
      { sid: "FleetDescribe", actions: ["autoscaling:DescribeAutoScalingGroups"], resources: ["*"] },
      { sid: "RequestsDepth", actions: ["sqs:GetQueueAttributes"], resources: [ref("aws_sqs_queue", "arn", "core_requests_queue")] },
    ].map((x) => ({ sid: x.sid, actions: x.actions, resources: x.resources })));
  });

  it("serves downloads through CloudFront with a downloads key: the files bucket behind OAC, signed URLs only, the key readable by the API function alone", () => {
    const pem = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "pem" }).toString();
    assert.equal(all("aws_cloudfront_public_key").length, 0, "without a key: S3 presigned downloads, as before");
    assert.equal((one("aws_cloudfront_distribution").origin as Block[]).length, 3);
    const k = JSON.parse(synth({ ...awsDefaults, downloadsPublicKey: pem })) as Synth;
    const of = (type: string, prefix = "") => Object.entries(k.resource[type] ?? {}).filter(([key]) => key.startsWith(prefix));
    const refTo = (type: string, prefix: string, attr: string) => {
      const found = of(type, prefix);
      assert.equal(found.length, 1, `${type} ${prefix}`);
      return `\${${type}.${found[0]![0]}.${attr}}`;
    };
    // The public key is in the stack; the key group trusts it.
    const [[, pub]] = of("aws_cloudfront_public_key") as [[string, Block]];
    assert.equal(pub.encoded_key, pem);
    const [[, group]] = of("aws_cloudfront_key_group") as [[string, Block]];
    assert.deepEqual(group.items, [refTo("aws_cloudfront_public_key", "downloads_", "id")]);
    // The second origin: the files bucket, behind an OAC of its own.
    const [[, dist]] = of("aws_cloudfront_distribution") as [[string, Block]];
    const files = (dist.origin as Block[]).find((o) => o.origin_id === "files")!;
    assert.equal(files.domain_name, refTo("aws_s3_bucket", "core_bucket", "bucket_regional_domain_name"));
    assert.equal(files.origin_access_control_id, refTo("aws_cloudfront_origin_access_control", "front_files-access", "id"));
    const [[, oac]] = of("aws_cloudfront_origin_access_control", "front_files-access") as [[string, Block]];
    assert.deepEqual([oac.origin_access_control_origin_type, oac.signing_behavior, oac.signing_protocol], ["s3", "always", "sigv4"]);
    // Its behaviour takes signed URLs only (the trusted key group), GET and HEAD, HTTPS, uncached.
    const behaviour = (dist.ordered_cache_behavior as Block[]).find((b) => b.path_pattern === "/files/*")!;
    assert.deepEqual(behaviour.trusted_key_groups, [refTo("aws_cloudfront_key_group", "downloads_", "id")]);
    assert.deepEqual([behaviour.target_origin_id, behaviour.viewer_protocol_policy, behaviour.allowed_methods], ["files", "https-only", ["GET", "HEAD"]]);
    // The files bucket lets this distribution read files/ and nothing else, and still denies plain HTTP.
    const policy = String(of("aws_s3_bucket_policy", "core_")[0]![1].policy);
    assert.match(policy, /"Sid" *[:=] *"CloudFrontReadsFiles"/);
    assert.match(policy, /"Resource" *[:=] *"\$\{aws_s3_bucket\.core_bucket_\w+\.arn\}\/files\/\*"/);
    assert.match(policy, /"AWS:SourceArn" *[:=] *aws_cloudfront_distribution\.front_distribution_\w+\.arn/);
    assert.match(policy, /"aws:SecureTransport" *[:=] *"false"/);
    // The private key's parameter: named to the API function alone, readable by it alone.
    const param = "/${var.name}/cloudfront-private-key";
    const readers = Object.entries(k.data.aws_iam_policy_document!).filter(([, d]) => JSON.stringify(d.statement).includes(`parameter${param}`)).map(([key]) => key);
    assert.equal(readers.length, 1, readers.join(" "));
    assert.ok(readers[0]!.startsWith("ingest_function-role_policy-document"), readers[0]);
    for (const [key, f] of of("aws_lambda_function")) {
      const env = (f.environment as { variables: Record<string, string> } | undefined)?.variables ?? {};
      assert.equal(env.T2S_CLOUDFRONT_KEY_PARAM, key.startsWith("ingest_function_") ? param : undefined, key);
    }
    // The qBittorrent function prices downloads as the API function does (the key pair's id), without the key.
    const env = (key: string) => (of("aws_lambda_function", key)[0]![1].environment as { variables: Record<string, string> }).variables;
    assert.equal(env("ingest_qbittorrent-function_").T2S_CLOUDFRONT_KEY_PAIR_ID, env("ingest_function_").T2S_CLOUDFRONT_KEY_PAIR_ID);
    assert.ok(env("ingest_function_").T2S_CLOUDFRONT_KEY_PAIR_ID);
    assert.equal(JSON.stringify(k).includes("PRIVATE KEY"), false, "no private key in the stack");
    // The page's media and images come from its own origin now: the CSP names no storage origin.
    const [[, headers]] = of("aws_cloudfront_response_headers_policy") as [[string, Block]];
    assert.equal(((headers.security_headers_config as Record<string, Block>).content_security_policy!).content_security_policy, pageCsp(null));
  });

  it("rejects bad settings at synth with a clear message", () => {
    assert.throws(() => synth({ ...awsDefaults, arch: "sparc" as never }), (e: Error) => e instanceof SettingsError && /arch "sparc" is unknown; use "arm64" \(t4g\) or "x86_64"/.test(e.message));
    assert.throws(() => synth({ ...awsDefaults, volumeGiB: 4 }), (e: Error) => e instanceof SettingsError && /volume size 4 GiB must be a whole number from 8/.test(e.message));
    assert.throws(() => synth({ ...awsDefaults, retentionDays: 0 }), (e: Error) => e instanceof SettingsError && /retention 0 days must be a whole number of at least 1/.test(e.message));
    assert.throws(() => settingsFromEnv({ T2S_AWS_ARCH: "mips" }), /arch "mips" is unknown/);
    assert.throws(() => synth({ ...awsDefaults, maxSeedboxes: 0 }), /max seedboxes 0 must be a whole number from 1 to 100/);
    assert.throws(() => synth({ ...awsDefaults, idleMinutes: 0 }), /idle minutes 0 must be a whole number of at least 1/);
    assert.throws(() => settingsFromEnv({ T2S_AWS_INSTANCE_TYPES: "t4g.medium,nope" }), /instance type "nope" is not an EC2 instance type/);
    assert.equal(settingsFromEnv({ T2S_AWS_SPOT: "on" }).spot, true);
    assert.throws(() => settingsFromEnv({ T2S_AWS_QBITTORRENT_CONCURRENCY: "-2" }), /qBittorrent concurrency -2 must be a whole number from -1 \(none reserved\) to 100/);
    assert.throws(() => synth({ ...awsDefaults, qbittorrentConcurrency: 2.5 }), /qBittorrent concurrency 2.5 must be a whole number/);
    assert.throws(() => settingsFromEnv({ T2S_AWS_DISCORD_PUBLIC_KEY: "xyz" }), /Discord public key must be the 64 hex/);
    assert.equal(settingsFromEnv({ T2S_AWS_DISCORD_PUBLIC_KEY: "AB".repeat(32) }).discordPublicKey, "ab".repeat(32));
  });

  it("uses x86 when asked: the AMI filter and default instance type follow the arch variable", () => {
    const x = JSON.parse(synth({ ...awsDefaults, arch: "x86_64" })) as Synth;
    assert.equal(x.variable.arch!.default, "x86_64");
    const ami = Object.values(x.data.aws_ami!)[0]!;
    assert.match(JSON.stringify(ami.filter), /debian-12-\$\{\(var\.arch == \\"arm64\\"\) \? \\"arm64\\" : \\"amd64\\"\}-\*/);
    assert.deepEqual(ami.owners, ["136693071363"]);
    assert.match(String(Object.values(x.resource.aws_launch_template!)[0]!.instance_type), /"t3\.small"/);
  });
});
