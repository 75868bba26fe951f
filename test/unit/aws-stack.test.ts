// AWS mode, synthesized: one assertion per security and wiring property of the issue.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { App, Testing } from "cdktf";
import { buildAws, type AwsBuild } from "../../scripts/build-lambda.ts";
import { awsDefaults, SettingsError, settingsFromEnv, type AwsSettings } from "../../stacks/aws-settings.ts";
import { AwsStack } from "../../stacks/aws.ts";
import { jobTableSchema as schema } from "../../lib/aws/job-table-schema.ts";
import { assertJobTable } from "../support/job-table-synth.ts";
import { pageCsp } from "../../lib/page-headers.ts";

type Block = Record<string, unknown>;
interface Synth { resource: Record<string, Record<string, Block>>; data: Record<string, Record<string, Block>>; output: Record<string, Block>; variable: Record<string, Block> }

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

  it("requires IMDSv2 with a hop limit of 1", () => {
    assert.deepEqual(one("aws_instance").metadata_options, { http_endpoint: "enabled", http_tokens: "required", http_put_response_hop_limit: 1 });
  });

  it("opens no inbound port: the security group has no ingress rule and no rule resources exist", () => {
    assert.deepEqual(one("aws_security_group").ingress, []);
    for (const t of ["aws_security_group_rule", "aws_vpc_security_group_ingress_rule"]) assert.equal(all(t).length, 0, t);
  });

  it("blocks public access to the bucket", () => {
    assert.ok(Testing.toHaveResourceWithProperties(json, "aws_s3_bucket_public_access_block", {
      block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true,
    }));
  });

  it("encrypts the bucket and both EBS volumes", () => {
    for (const c of all("aws_s3_bucket_server_side_encryption_configuration")) {
      assert.deepEqual((c.rule as Block[])[0]!.apply_server_side_encryption_by_default, { sse_algorithm: "AES256" });
    }
    assert.equal(all("aws_s3_bucket_server_side_encryption_configuration").length, 2, "the bucket and the page bucket");
    assert.equal(one("aws_ebs_volume").encrypted, true);
    assert.equal((one("aws_instance").root_block_device as Block).encrypted, true);
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
    const subs = all("aws_sns_topic_subscription").filter((x) => x.protocol !== "lambda");
    assert.equal(subs.length, 3);
    for (const sub of subs) assert.deepEqual([sub.protocol, sub.raw_message_delivery], ["sqs", true]);
  });

  it("makes the manifest notification depend on the facts topic policy", () => {
    const n = one("aws_s3_bucket_notification");
    assert.ok((n.depends_on as string[]).some((d) => d.startsWith("aws_sns_topic_policy.")));
  });

  it("has no IAM statement with Action \"*\" and none with Resource \"*\"", () => {
    const docs = Object.values(s.data.aws_iam_policy_document ?? {});
    assert.ok(docs.length >= 4);
    for (const d of docs) {
      for (const st of d.statement as { actions: string[]; resources?: string[] }[]) {
        assert.ok(!st.actions.some((a) => a === "*" || a.endsWith(":*")), `wildcard action in ${JSON.stringify(st)}`);
        assert.ok(!(st.resources ?? []).includes("*"), `Resource "*" in ${JSON.stringify(st)}`);
      }
    }
    // Policies written inline (queues, topic, bucket) carry no wildcard action or resource either;
    // the bucket's deny-non-TLS statement is the one place "s3:*" belongs.
    for (const p of [...all("aws_sqs_queue").map((q) => q.policy), one("aws_sns_topic_policy").policy]) {
      if (p) assert.doesNotMatch(String(p), /"(Action|Resource)" *[:=] *"\*"/);
    }
    // The only managed policy is the one Session Manager requires.
    assert.deepEqual(all("aws_iam_role_policy_attachment").map((a) => String(a.policy_arn).split(":policy/")[1]), ["AmazonSSMManagedInstanceCore"]);
  });

  it("limits the host to its queues, topic, bucket prefixes and parameters", () => {
    const host = Object.entries(s.data.aws_iam_policy_document!).find(([k]) => k.startsWith("seedbox_role_policy-document"))![1];
    const bySid = Object.fromEntries((host.statement as { sid: string; actions: string[]; resources: string[] }[]).map((st) => [st.sid, st]));
    assert.deepEqual(bySid.RequestsQueue!.actions, ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"]);
    assert.deepEqual(bySid.FactsTopic!.actions, ["sns:Publish"]);
    assert.ok(bySid.Files!.resources[0]!.endsWith("/files/*") && bySid.Files!.actions.includes("s3:AbortMultipartUpload"));
    assert.deepEqual(bySid.Incoming!.actions, ["s3:GetObject"]);
    assert.ok(bySid.OwnParameters!.resources.every((r) => r.includes(":parameter/${var.name}/")));
  });

  it("creates the job table: on-demand, encrypted, point-in-time recovery, TTL, both indexes projecting ALL", () => {
    assertJobTable(one("aws_dynamodb_table"));
  });

  it("gives the API function get/put on the table and query on its two indexes; the facts function get/put only", () => {
    const doc = (prefix: string) => Object.entries(s.data.aws_iam_policy_document!).find(([k]) => k.startsWith(prefix))![1];
    const statements = (prefix: string) => doc(prefix).statement as { sid: string; actions: string[]; resources: string[]; condition?: unknown }[];
    const table = ref("aws_dynamodb_table", "arn");
    const dynamo = (prefix: string) => statements(prefix).filter((st) => st.actions.some((a) => a.startsWith("dynamodb:"))).map(({ sid, actions, resources }) => ({ sid, actions, resources }));
    assert.deepEqual(dynamo("ingest_function-role_policy-document"), [
      { sid: "JobTable", actions: ["dynamodb:GetItem", "dynamodb:PutItem"], resources: [table] },
      { sid: "JobIndexes", actions: ["dynamodb:Query"], resources: [`${table}/index/${schema.byCreated.name}`, `${table}/index/${schema.byChanged.name}`, `${table}/index/${schema.byDue.name}`] },
    ]);
    assert.deepEqual(dynamo("ingest_facts-function-role_policy-document"), [
      { sid: "JobTable", actions: ["dynamodb:GetItem", "dynamodb:PutItem"], resources: [table] },
    ]);
    // The host does not use the table; nobody scans it or holds a dynamodb wildcard.
    assert.deepEqual(dynamo("seedbox_role_policy-document"), []);
    const every = Object.values(s.data.aws_iam_policy_document!).flatMap((d) => d.statement as { actions: string[] }[]).flatMap((st) => st.actions);
    assert.ok(!every.some((a) => a === "dynamodb:Scan" || a.startsWith("dynamodb:*") || a === "dynamodb:BatchWriteItem" || a === "dynamodb:DeleteItem"), every.join(" "));
  });

  it("keeps the Lambdas out of jobs/ in S3: files/ get, and list only under files/", () => {
    for (const prefix of ["ingest_function-role_policy-document", "ingest_facts-function-role_policy-document"]) {
      const st = Object.entries(s.data.aws_iam_policy_document!).find(([k]) => k.startsWith(prefix))![1].statement as { sid: string; actions: string[]; resources: string[]; condition?: unknown }[];
      const bucket = ref("aws_s3_bucket", "arn", "core_");
      assert.ok(!st.some((x) => x.resources.some((r) => r.includes("/jobs/"))), `${prefix} still reaches jobs/`);
      assert.deepEqual(st.find((x) => x.sid === "Files"), { sid: "Files", effect: "Allow", actions: ["s3:GetObject"], resources: [`${bucket}/files/*`] });
      assert.deepEqual(st.filter((x) => x.actions.includes("s3:ListBucket")), [{
        sid: "ListFiles", effect: "Allow", actions: ["s3:ListBucket"], resources: [bucket],
        condition: [{ test: "StringLike", variable: "s3:prefix", values: ["files/*"] }],
      }]);
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
    const url = named("aws_lambda_function_url", "ingest_");
    assert.equal(url.authorization_type, "AWS_IAM");
    assert.match(String(url.function_name), /aws_lambda_function\.ingest_function_/);
    const maps = all("aws_lambda_event_source_mapping").filter((x) => /aws_lambda_function\.ingest_/.test(String(x.function_name)));
    assert.equal(maps.length, 2);
    for (const m of maps) assert.deepEqual(m.function_response_types, ["ReportBatchItemFailures"]);
    const m = maps.find((x) => /core_facts-ingest_queue/.test(String(x.event_source_arn)))!;
    assert.match(String(m.function_name), /aws_lambda_function\.ingest_facts-function_/);
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
    // The two functions that end jobs may only send to it.
    for (const prefix of ["ingest_function-role_policy-document", "ingest_facts-function-role_policy-document"]) {
      assert.deepEqual(st(prefix).find((x) => x.sid === "WebhookQueueSend"), { sid: "WebhookQueueSend", actions: ["sqs:SendMessage"], resources: [qArn] });
    }
    for (const [k, f] of Object.entries(fns)) {
      if (k.startsWith("ingest_")) assert.equal((f.environment as { variables: Record<string, string> }).variables.T2S_WEBHOOKS_QUEUE_URL, `\${aws_sqs_queue.${queue[0]}.url}`);
    }
  });

  it("grants no public invoke on the ingest functions: only the distribution may call the API's URL", () => {
    const perms = all("aws_lambda_permission").filter((p) => /aws_lambda_function\.ingest_/.test(String(p.function_name)));
    assert.deepEqual(perms.map((p) => p.action).sort(), ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]);
    const distribution = ref("aws_cloudfront_distribution", "arn");
    for (const p of perms) {
      assert.match(String(p.function_name), /aws_lambda_function\.ingest_function_/);
      assert.equal(p.principal, "cloudfront.amazonaws.com");
      assert.equal(p.source_arn, distribution);
    }
    assert.equal(perms.find((p) => p.action === "lambda:InvokeFunctionUrl")!.function_url_auth_type, "AWS_IAM");
    // The public grants that remain are the interactions function's, which Discord calls directly.
    const open = all("aws_lambda_permission").filter((p) => p.principal === "*");
    assert.equal(open.length, 2);
    for (const p of open) assert.match(String(p.function_name), /aws_lambda_function\.discord_interactions_/);
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
    const s3 = named("aws_cloudfront_origin_access_control", "front_s3-access");
    const lambda = named("aws_cloudfront_origin_access_control", "front_lambda-access");
    assert.deepEqual([s3.origin_access_control_origin_type, s3.signing_behavior, s3.signing_protocol], ["s3", "always", "sigv4"]);
    assert.deepEqual([lambda.origin_access_control_origin_type, lambda.signing_behavior, lambda.signing_protocol], ["lambda", "always", "sigv4"]);
    assert.equal(d.default_root_object, "index.html");
    assert.equal(d.enabled, true);
  });

  it("routes /api/*, /d/* and /healthz to the ingest URL uncached, with cookies and query strings; everything HTTPS", () => {
    const d = one("aws_cloudfront_distribution");
    const def = d.default_cache_behavior as Block;
    assert.equal(def.target_origin_id, "page");
    const behaviors = d.ordered_cache_behavior as Block[];
    assert.deepEqual(behaviors.map((b) => b.path_pattern), ["/api/*", "/d/*", "/healthz"]);
    for (const b of [def, ...behaviors]) {
      assert.equal(b.viewer_protocol_policy, "redirect-to-https");
      assert.equal(b.response_headers_policy_id, ref("aws_cloudfront_response_headers_policy", "id"));
    }
    for (const b of behaviors) {
      assert.equal(b.target_origin_id, "ingest");
      assert.equal(b.cache_policy_id, "4135ea2d-6df8-44a3-9df3-4b5a84be39ad", "CachingDisabled");
      assert.equal(b.origin_request_policy_id, "b689b0a8-53d0-40ab-baf2-68738e2966ac", "AllViewerExceptHostHeader");
    }
    assert.deepEqual(behaviors[0]!.allowed_methods, ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]);
    assert.deepEqual((d.viewer_certificate as Block).cloudfront_default_certificate, true);
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
    assert.ok(!policyDoc("seedbox_role_policy-document").some((st) => st.resources.some((r) => /updates-bot|discord-token/.test(r))));
  });

  it("outputs the page URL (CloudFront), the interactions URL, the buckets and the instance id", () => {
    for (const o of ["page_url", "interactions_url", "bucket", "page_bucket", "instance_id"]) assert.ok(s.output[o], `output ${o} is missing`);
    assert.match(String(s.output.page_url!.value), /^https:\/\/\$\{aws_cloudfront_distribution\./);
    assert.match(String(s.output.interactions_url!.value), /aws_lambda_function_url\.discord_url_/);
  });

  it("declares the variables: name, region, instance type, arch, volume size, retention, Discord allow-list and public key", () => {
    assert.deepEqual(Object.keys(s.variable).sort(), ["arch", "discord_allow_list", "discord_public_key", "instance_type", "name", "region", "retention_days", "volume_size_gib"]);
  });

  it("keeps every secret value out of the JSON: only parameter names", () => {
    for (const v of Object.values(canary)) assert.ok(!json.includes(v), "a secret value is in the synthesized JSON");
    assert.ok(all("aws_ssm_parameter").every((p) => p.type === "String"), "the stack holds a SecureString value");
    for (const f of all("aws_lambda_function")) {
      const env = (f.environment as { variables: Record<string, string> }).variables;
      assert.ok(Object.keys(env).every((k) => !/TOKEN$|SECRET$/.test(k)), "a secret is passed by value to the Lambda");
      assert.equal(env.T2S_API_TOKEN_PARAM, "/${var.name}/api-token");
    }
    assert.doesNotMatch(String(one("aws_instance").user_data), /PASSWORD=(?!%s|\$\(openssl rand )/, "a fixed password is written into the user data");
  });

  it("rolls the host when the release or setup changes", () => {
    const i = one("aws_instance");
    assert.equal(i.user_data_replace_on_change, true);
    assert.match(String(i.user_data), /aws_s3_object\.seedbox_release-object/);
  });

  it("rejects bad settings at synth with a clear message", () => {
    assert.throws(() => synth({ ...awsDefaults, arch: "sparc" as never }), (e: Error) => e instanceof SettingsError && /arch "sparc" is unknown; use "arm64" \(t4g\) or "x86_64"/.test(e.message));
    assert.throws(() => synth({ ...awsDefaults, volumeGiB: 4 }), (e: Error) => e instanceof SettingsError && /volume size 4 GiB must be a whole number from 8/.test(e.message));
    assert.throws(() => synth({ ...awsDefaults, retentionDays: 0 }), (e: Error) => e instanceof SettingsError && /retention 0 days must be a whole number of at least 1/.test(e.message));
    assert.throws(() => settingsFromEnv({ T2S_AWS_ARCH: "mips" }), /arch "mips" is unknown/);
    assert.throws(() => settingsFromEnv({ T2S_AWS_DISCORD_PUBLIC_KEY: "xyz" }), /Discord public key must be the 64 hex/);
    assert.equal(settingsFromEnv({ T2S_AWS_DISCORD_PUBLIC_KEY: "AB".repeat(32) }).discordPublicKey, "ab".repeat(32));
  });

  it("uses x86 when asked: the AMI filter and default instance type follow the arch variable", () => {
    const x = JSON.parse(synth({ ...awsDefaults, arch: "x86_64" })) as Synth;
    assert.equal(x.variable.arch!.default, "x86_64");
    const ami = Object.values(x.data.aws_ami!)[0]!;
    assert.match(JSON.stringify(ami.filter), /ubuntu-noble-24\.04-\$\{\(var\.arch == \\"arm64\\"\) \? \\"arm64\\" : \\"amd64\\"\}-server-\*/);
    assert.deepEqual(ami.owners, ["099720109477"]);
    assert.match(String(Object.values(x.resource.aws_instance!)[0]!.instance_type), /"t3\.small"/);
  });
});
