import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { App, Testing } from "cdktf";
import { CoreResources } from "../../stacks/core.ts";
import { LocalStack } from "../../stacks/local.ts";
import { assertJobTable } from "../support/job-table-synth.ts";

const json = Testing.synth(new LocalStack(Testing.app() as App, "local"));
const parsed = JSON.parse(json) as { resource: Record<string, Record<string, Record<string, unknown>>>; output: Record<string, { value: string }>; provider: { aws: { endpoints: Record<string, string>[] }[] } };
const all = (type: string) => Object.values(parsed.resource[type] ?? {});

describe("local stack (synthesized)", () => {
  it("has the requests, facts and updates topics, each queue (and the webhook queue) with a DLQ", () => {
    assert.equal(all("aws_sns_topic").length, 3);
    const queues = all("aws_sqs_queue");
    assert.equal(queues.length, 8);
    assert.equal(queues.filter((q) => q.redrive_policy).length, 4);
    assert.equal(all("aws_sns_topic_subscription").filter((s) => s.raw_message_delivery === true).length, 3);
  });

  it("lets each queue receive only from its topic", () => {
    for (const q of all("aws_sqs_queue").filter((q) => q.policy)) assert.match(String(q.policy), /aws:SourceArn/);
  });

  it("leaves out what the local store lacks (Block Public Access, notifications) and sends S3 calls to it", () => {
    // The seedbox's own "uploaded" fact completes jobs locally; AWS mode keeps both (aws-stack.test.ts).
    assert.equal(all("aws_s3_bucket_notification").length, 0);
    assert.equal(all("aws_s3_bucket_public_access_block").length, 0);
    assert.equal(all("aws_s3_bucket_policy").length, 0);
    assert.equal(parsed.provider.aws[0]!.endpoints[0]!.s3, '${coalesce(var.s3_endpoint, var.aws_endpoint)}');
    assert.equal(parsed.provider.aws[0]!.endpoints[0]!.sqs, "${var.aws_endpoint}");
  });

  it("keeps the bucket encrypted and expiring after retention_days (local mode passes T2S_RETENTION_DAYS)", () => {
    assert.equal(all("aws_s3_bucket_server_side_encryption_configuration").length, 1);
    const rules = all("aws_s3_bucket_lifecycle_configuration")[0]!.rule as { filter: { prefix: string }[]; expiration: { days: unknown }[] }[];
    assert.deepEqual(rules.map((r) => r.filter[0]!.prefix).sort(), ["files/", "incoming/"]);
    for (const r of rules) assert.equal(r.expiration[0]!.days, "${var.retention_days}");
    assert.equal((parsed as unknown as { variable: Record<string, { default: unknown }> }).variable.retention_days!.default, 7);
  });

  it("has the job table as the adapter's schema says: on-demand, encrypted, point-in-time recovery, TTL", () => {
    const tables = all("aws_dynamodb_table");
    assert.equal(tables.length, 1);
    assertJobTable(tables[0]!);
  });

  it("outputs the table's name and sends DynamoDB calls to the local endpoint", () => {
    const key = Object.keys(parsed.resource.aws_dynamodb_table!)[0]!;
    assert.equal(parsed.output.jobs_table!.value, `\${aws_dynamodb_table.${key}.name}`);
    assert.equal(parsed.provider.aws[0]!.endpoints[0]!.dynamodb, "${var.aws_endpoint}");
  });

  it("turns point-in-time recovery off only when asked", () => {
    const core = (pointInTimeRecovery?: boolean) => {
      const j = JSON.parse(Testing.synthScope((scope) => { new CoreResources(scope, "core", { name: "x", retentionDays: 1, ...(pointInTimeRecovery === undefined ? {} : { pointInTimeRecovery }) }); })) as typeof parsed;
      return Object.values(j.resource.aws_dynamodb_table!)[0]!.point_in_time_recovery;
    };
    assert.deepEqual([core(), core(true), core(false)], [{ enabled: true }, { enabled: true }, { enabled: false }]);
  });
});
