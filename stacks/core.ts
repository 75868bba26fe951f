// The core resources both modes share: queues, topics, the bucket, the manifest notification and the job table.
import { Fn, Lazy, TerraformOutput, type IResolvable, type TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket/index.js";
import { S3BucketLifecycleConfiguration } from "@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration/index.js";
import { S3BucketNotification } from "@cdktf/provider-aws/lib/s3-bucket-notification/index.js";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy/index.js";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block/index.js";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration/index.js";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic/index.js";
import { SnsTopicPolicy } from "@cdktf/provider-aws/lib/sns-topic-policy/index.js";
import { SnsTopicSubscription } from "@cdktf/provider-aws/lib/sns-topic-subscription/index.js";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue/index.js";
import { DynamodbTable } from "@cdktf/provider-aws/lib/dynamodb-table/index.js";
import { DataAwsCallerIdentity } from "@cdktf/provider-aws/lib/data-aws-caller-identity/index.js";
import { DataAwsPartition } from "@cdktf/provider-aws/lib/data-aws-partition/index.js";
import { DataAwsRegion } from "@cdktf/provider-aws/lib/data-aws-region/index.js";
import { jobTableSchema } from "../lib/aws/job-table-schema.ts";
import { coreEnv as serviceCoreEnv } from "../lib/service-env.ts";

export interface CoreProps {
  /** Prefix of every resource name. */
  name: string;
  /** Days after which incoming/ and files/ expire. */
  retentionDays: number;
  /** Deliveries before a message moves to its DLQ. */
  maxReceiveCount?: number;
  /** Lets terraform destroy a bucket that still holds objects (local mode; AWS mode: keep_data false). */
  forceDestroy?: boolean | IResolvable;
  /** DynamoDB deletion protection on the job table (AWS mode: keep_data; default off). */
  deletionProtection?: boolean | IResolvable;
  /** Deny any request that is not TLS. Off only for a plain-HTTP local endpoint, which would be refused. */
  tlsOnly?: boolean;
  /**
   * The bucket's S3-only features: Block Public Access and the manifest notification (default on). Off
   * for the local store, which has neither; there the seedbox's own fact completes a job.
   */
  s3Extras?: boolean;
  /** Point-in-time recovery of the job table (default on). */
  pointInTimeRecovery?: boolean;
}

interface Where {
  partition: string;
  region: string;
  account: string;
}

/** A queue with a dead-letter queue, subscribed to a topic with raw delivery. */
export class SubscribedQueue extends Construct {
  readonly queue: SqsQueue;
  readonly dlq: SqsQueue;
  constructor(scope: Construct, id: string, props: { name: string; topic: SnsTopic; maxReceiveCount: number; visibilityTimeoutS: number } & Where) {
    super(scope, id);
    this.dlq = new SqsQueue(this, "dlq", { name: `${props.name}-dlq`, messageRetentionSeconds: 14 * 24 * 3600 });
    // The policy sits inline (not a separate resource): each SQS resource costs ~25 s of provider
    // propagation waits, so this saves a whole layer on every apply.
    const arn = `arn:${props.partition}:sqs:${props.region}:${props.account}:${props.name}`;
    this.queue = new SqsQueue(this, "queue", {
      name: props.name,
      visibilityTimeoutSeconds: props.visibilityTimeoutS,
      receiveWaitTimeSeconds: 20,
      messageRetentionSeconds: 4 * 24 * 3600,
      redrivePolicy: Fn.jsonencode({ deadLetterTargetArn: this.dlq.arn, maxReceiveCount: props.maxReceiveCount }),
      policy: Fn.jsonencode({
        Version: "2012-10-17",
        Statement: [{
          Effect: "Allow",
          Principal: { Service: "sns.amazonaws.com" },
          Action: "sqs:SendMessage",
          Resource: arn,
          Condition: { ArnEquals: { "aws:SourceArn": props.topic.arn } },
        }],
      }),
    });
    new SnsTopicSubscription(this, "subscription", {
      topicArn: props.topic.arn,
      protocol: "sqs",
      endpoint: this.queue.arn,
      rawMessageDelivery: true,
    });
  }
}

export class CoreResources extends Construct {
  readonly bucket: S3Bucket;
  readonly requestsTopic: SnsTopic;
  readonly factsTopic: SnsTopic;
  readonly updatesTopic: SnsTopic;
  readonly requests: SubscribedQueue;
  readonly facts: SubscribedQueue;
  readonly updatesBot: SubscribedQueue;
  /** Webhook deliveries: each try is a message, re-sent with a growing delay after a failure. */
  readonly webhooks: SqsQueue;
  readonly webhooksDlq: SqsQueue;
  readonly tlsPolicy: S3BucketPolicy | undefined;
  private readonly bucketStatements: object[] = [];
  readonly jobsTable: DynamodbTable;
  /** Days the files are kept; the job records' TTL is counted from it. */
  readonly retentionDays: number;

  constructor(scope: Construct, id: string, props: CoreProps) {
    super(scope, id);
    const n = props.name;
    this.retentionDays = props.retentionDays;
    const maxReceiveCount = props.maxReceiveCount ?? 5;
    const where: Where = {
      partition: new DataAwsPartition(this, "partition").partition,
      region: new DataAwsRegion(this, "region").name,
      account: new DataAwsCallerIdentity(this, "account").accountId,
    };

    this.requestsTopic = new SnsTopic(this, "requests-topic", { name: `${n}-requests` });
    this.factsTopic = new SnsTopic(this, "facts-topic", { name: `${n}-facts` });
    this.updatesTopic = new SnsTopic(this, "updates-topic", { name: `${n}-updates` });
    this.requests = new SubscribedQueue(this, "requests", { name: `${n}-requests`, topic: this.requestsTopic, maxReceiveCount, visibilityTimeoutS: 120, ...where });
    // Facts carry the only completion signal: a fact is dead only after many tries, not a few minutes of trouble.
    this.facts = new SubscribedQueue(this, "facts-ingest", { name: `${n}-facts-ingest`, topic: this.factsTopic, maxReceiveCount: Math.max(maxReceiveCount, 10), visibilityTimeoutS: 60, ...where });
    this.updatesBot = new SubscribedQueue(this, "updates-bot", { name: `${n}-updates-bot`, topic: this.updatesTopic, maxReceiveCount, visibilityTimeoutS: 60, ...where });

    // Filled by ingest alone (no topic, so no queue policy: IAM grants suffice). A message that fails
    // maxReceiveCount times (a crash mid-delivery, not a failed delivery, which is re-sent) goes to the DLQ.
    this.webhooksDlq = new SqsQueue(this, "webhooks-dlq", { name: `${n}-webhooks-dlq`, messageRetentionSeconds: 14 * 24 * 3600 });
    this.webhooks = new SqsQueue(this, "webhooks", {
      name: `${n}-webhooks`,
      // Above a delivery's time limit (the fetch timeout, 15 s) and the consumer Lambda's 30 s.
      visibilityTimeoutSeconds: 60,
      receiveWaitTimeSeconds: 20,
      messageRetentionSeconds: 4 * 24 * 3600,
      redrivePolicy: Fn.jsonencode({ deadLetterTargetArn: this.webhooksDlq.arn, maxReceiveCount }),
    });

    this.bucket = new S3Bucket(this, "bucket", { bucketPrefix: `${n}-`, forceDestroy: props.forceDestroy ?? false });
    const extras = props.s3Extras ?? true;
    if (extras) new S3BucketPublicAccessBlock(this, "bucket-public-access", {
      bucket: this.bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new S3BucketServerSideEncryptionConfigurationA(this, "bucket-encryption", {
      bucket: this.bucket.id,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }],
    });
    this.bucketStatements.push({
      Sid: "TlsOnly",
      Effect: "Deny",
      Principal: "*",
      Action: "s3:*",
      Resource: [this.bucket.arn, `${this.bucket.arn}/*`],
      Condition: { Bool: { "aws:SecureTransport": "false" } },
    });
    // Lazy: constructs made later add their statements (allowInBucketPolicy), as the bucket has one policy.
    this.tlsPolicy = !(props.tlsOnly ?? true) ? undefined : new S3BucketPolicy(this, "bucket-tls-only", {
      bucket: this.bucket.id,
      policy: Lazy.stringValue({ produce: () => Fn.jsonencode({ Version: "2012-10-17", Statement: this.bucketStatements }) }),
    });
    new S3BucketLifecycleConfiguration(this, "bucket-lifecycle", {
      bucket: this.bucket.id,
      rule: ["incoming/", "files/"].map((prefix) => ({
        id: `expire-${prefix.replace("/", "")}`,
        status: "Enabled",
        filter: [{ prefix }],
        expiration: [{ days: props.retentionDays }],
        abortIncompleteMultipartUpload: [{ daysAfterInitiation: 2 }],
      })),
    });

    // S3 may publish manifest notifications to the facts topic; the notification must wait for this policy.
    const factsPolicy = new SnsTopicPolicy(this, "facts-topic-policy", {
      arn: this.factsTopic.arn,
      policy: Fn.jsonencode({
        Version: "2012-10-17",
        Statement: [{
          Sid: "S3Manifests",
          Effect: "Allow",
          Principal: { Service: "s3.amazonaws.com" },
          Action: "sns:Publish",
          Resource: this.factsTopic.arn,
          Condition: { ArnLike: { "aws:SourceArn": this.bucket.arn } },
        }],
      }),
    });
    if (extras) new S3BucketNotification(this, "manifest-notification", {
      bucket: this.bucket.id,
      topic: [{ topicArn: this.factsTopic.arn, events: ["s3:ObjectCreated:*"], filterPrefix: "files/", filterSuffix: "/manifest.json" }],
      dependsOn: [factsPolicy],
    });

    // The job store. Names come from the adapter's schema so the table and the code cannot drift apart.
    const t = jobTableSchema;
    const byKindAnd = (index: { name: string; rangeKey: string }) => ({ name: index.name, hashKey: t.kindKey, rangeKey: index.rangeKey, projectionType: "ALL" });
    this.jobsTable = new DynamodbTable(this, "jobs-table", {
      name: `${n}-jobs`,
      billingMode: "PAY_PER_REQUEST",
      hashKey: t.hashKey,
      // Only key attributes are declared; the record itself is schemaless.
      attribute: [t.hashKey, t.kindKey, t.byCreated.rangeKey, t.byChanged.rangeKey, t.byDue.hashKey, t.byDue.rangeKey].map((name) => ({ name, type: "S" })),
      // The newest-first list, the change feed, and the sweeper's open jobs by due time (sparse): each index serves one query.
      globalSecondaryIndex: [byKindAnd(t.byCreated), byKindAnd(t.byChanged), { name: t.byDue.name, hashKey: t.byDue.hashKey, rangeKey: t.byDue.rangeKey, projectionType: "ALL" }],
      // Enabled means the AWS-managed KMS key (aws/dynamodb), which callers need no KMS grant for.
      serverSideEncryption: { enabled: true },
      pointInTimeRecovery: { enabled: props.pointInTimeRecovery ?? true },
      deletionProtectionEnabled: props.deletionProtection ?? false,
      // An ended job's record goes once it has said "expired" for a while (the adapter sets the time).
      ttl: { enabled: true, attributeName: t.ttlAttribute },
    });
  }

  /** Adds a statement to the bucket's one policy (none against moto, which gets no policy). */
  allowInBucketPolicy(statement: object): void {
    this.bucketStatements.push(statement);
  }
}

/** The core's names and addresses as every service reads them from its environment (lib/service-env.ts). */
export function coreEnv(core: CoreResources): Record<string, string> {
  return serviceCoreEnv({
    bucket: core.bucket.bucket,
    requestsTopicArn: core.requestsTopic.arn,
    requestsQueueUrl: core.requests.queue.url,
    factsTopicArn: core.factsTopic.arn,
    factsQueueUrl: core.facts.queue.url,
    updatesTopicArn: core.updatesTopic.arn,
  });
}

/** The outputs local mode and the services read: names and addresses, never secrets. */
export function coreOutputs(stack: TerraformStack, core: CoreResources): void {
  const out = (name: string, value: string) => new TerraformOutput(stack, name, { value, staticId: true });
  out("bucket", core.bucket.bucket);
  out("requests_topic_arn", core.requestsTopic.arn);
  out("requests_queue_url", core.requests.queue.url);
  out("requests_dlq_url", core.requests.dlq.url);
  out("facts_topic_arn", core.factsTopic.arn);
  out("facts_queue_url", core.facts.queue.url);
  out("facts_dlq_url", core.facts.dlq.url);
  out("updates_topic_arn", core.updatesTopic.arn);
  out("updates_bot_queue_url", core.updatesBot.queue.url);
  out("jobs_table", core.jobsTable.name);
  out("webhooks_queue_url", core.webhooks.url);
}
