// ingest on Lambda, as functions from one bundle: "ingest" serves the API behind a function URL
// with auth AWS_IAM, which only the CloudFront distribution may call (origin access control; see
// stacks/page-front.ts), and "ingest-facts" consumes the facts queue through an SQS event source
// mapping with partial batch failures. Neither has a public grant. "ingest-qbt" serves the qBittorrent
// API alone (Sonarr and Radarr cannot sign requests as OAC needs) behind a function URL with auth NONE,
// reached through the distribution's /qbittorrent/* behaviour: its handler answers 404 to any other
// path, every qBittorrent call but auth/login needs the SID cookie or the token, and its reserved
// concurrency caps what a flood of strangers can run. "ingest-sweep" runs every minute
// (EventBridge): it puts jobs whose lease ran out back on the queue, and hands on what the records'
// outboxes still hold (job updates, webhook events). The API and the sweeper raise the seedbox fleet's
// desired capacity when they queue work.
import { AssetType, TerraformAsset, Token } from "cdktf";
import { Construct } from "constructs";
import { CloudwatchEventRule } from "@cdktf/provider-aws/lib/cloudwatch-event-rule/index.js";
import { CloudwatchEventTarget } from "@cdktf/provider-aws/lib/cloudwatch-event-target/index.js";
import { LambdaEventSourceMapping } from "@cdktf/provider-aws/lib/lambda-event-source-mapping/index.js";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission/index.js";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function/index.js";
import { LambdaFunctionUrl } from "@cdktf/provider-aws/lib/lambda-function-url/index.js";
import { jobTableSchema } from "../lib/aws/job-table-schema.ts";
import { coreEnv, type CoreResources } from "./core.ts";
import { ssmParameterArn, type Grant } from "./iam.ts";
import { nodeFunction, publicFunctionUrl } from "./node-function.ts";
import { fleetEnv, groupArn, type FleetSettings } from "./seedbox-fleet.ts";
import { serviceEnvNames } from "../lib/service-env.ts";


export interface IngestLambdaProps {
  name: string;
  region: string;
  partition: string;
  account: string;
  core: CoreResources;
  /** Days the files are kept (the core's); job records expire after them. */
  retentionDays: number;
  /** A folder with index.mjs and web/ (scripts/build-lambda.ts). */
  bundleDir: string;
  apiTokenParam: string;
  signingSecretParam: string;
  /** The seedbox fleet the API and the sweeper scale up. */
  fleet: FleetSettings;
  /** T2S_MONTHLY_BUDGET_USD: the budget guard's limit in dollars; empty: no guard. */
  monthlyBudgetUsd: string;
  /** Downloads through CloudFront: the signing key's id, and the SSM parameter of its private key (the API function's only). */
  downloads?: { keyPairId: string; privateKeyParam: string };
  logRetentionDays: number;
  /** The public qBittorrent function's reserved concurrency (-1: none reserved, 0: the function is off). */
  qbittorrentConcurrency: number;
}

export class IngestLambda extends Construct {
  readonly http: LambdaFunction;
  readonly facts: LambdaFunction;
  readonly webhooks: LambdaFunction;
  readonly sweep: LambdaFunction;
  readonly url: LambdaFunctionUrl;
  /** The qBittorrent API alone, for Sonarr and Radarr: its URL has auth NONE. */
  readonly qbittorrent: LambdaFunction;
  readonly qbittorrentUrl: LambdaFunctionUrl;
  /** The SSM parameter (not a secret) holding the public base URL; the stack sets it (CloudFront's). */
  readonly publicUrlParam: string;

  constructor(scope: Construct, id: string, p: IngestLambdaProps) {
    super(scope, id);
    const { core } = p;
    const bucketArn = core.bucket.arn;
    const tableArn = core.jobsTable.arn;
    const ssmArn = (param: string) => ssmParameterArn(p, param);
    // The URL is known only after the distribution exists, so it reaches the functions through SSM (not a secret).
    const publicUrlParam = `/${p.name}/public-url`;
    this.publicUrlParam = publicUrlParam;
    const bundle = new TerraformAsset(this, "bundle", { path: p.bundleDir, type: AssetType.ARCHIVE });

    // The months' cost totals (lib/cost.ts): an atomic add to their own items, and no other update.
    const monthTotals: Grant = {
      sid: "MonthTotals", actions: ["dynamodb:UpdateItem"], resources: [tableArn],
      condition: [{ test: "ForAllValues:StringLike", variable: "dynamodb:LeadingKeys", values: ["usage#*"] }],
    };
    const shared: Grant[] = [
      // Job records: read and conditional write; the table is never scanned.
      { sid: "JobTable", actions: ["dynamodb:GetItem", "dynamodb:PutItem"], resources: [tableArn] },
      monthTotals,
      // Manifests are read; download links are presigned GETs under files/.
      { sid: "Files", actions: ["s3:GetObject"], resources: [`${bucketArn}/files/*`] },
      // Only so a missing key under files/ is a 404 rather than a 403.
      { sid: "ListFiles", actions: ["s3:ListBucket"], resources: [bucketArn], condition: [{ test: "StringLike", variable: "s3:prefix", values: ["files/*"] }] },
      { sid: "Publish", actions: ["sns:Publish"], resources: [core.requestsTopic.arn, core.updatesTopic.arn] },
      { sid: "Parameters", actions: ["ssm:GetParameters"], resources: [ssmArn(p.apiTokenParam), ssmArn(p.signingSecretParam), ssmArn(publicUrlParam)] },
    ];
    // Scale-up: the one group only, and the requests queue's depth (the open jobs it counts).
    // DescribeAutoScalingGroups takes no resource: IAM allows only "*" for it.
    const scaleUp: Grant[] = [
      { sid: "FleetScaleUp", actions: ["autoscaling:SetDesiredCapacity"], resources: [groupArn(p, p.fleet.groupName)] },
      { sid: "FleetDescribe", actions: ["autoscaling:DescribeAutoScalingGroups"], resources: ["*"] },
      { sid: "RequestsDepth", actions: ["sqs:GetQueueAttributes"], resources: [core.requests.queue.arn] },
    ];
    const jobIndexes: Grant = { sid: "JobIndexes", actions: ["dynamodb:Query"], resources: [jobTableSchema.byCreated.name, jobTableSchema.byChanged.name, jobTableSchema.byDue.name].map((i) => `${tableArn}/index/${i}`) };
    const parameters = shared.find((g) => g.sid === "Parameters")!;
    // The functions that end jobs (cancel, facts, the sweeper) hand webhook events to the delivery queue.
    const enqueueWebhooks: Grant = { sid: "WebhookQueueSend", actions: ["sqs:SendMessage"], resources: [core.webhooks.arn] };
    const fn = (id: string, fnName: string, handler: string, timeout: number, grants: Grant[], base: Grant[] = shared, env: Record<string, string> = {}, reservedConcurrency?: number) =>
      nodeFunction(this, id, {
        name: fnName, handler, bundle, timeout, memory: 512, grants: [...base, ...grants], logRetentionDays: p.logRetentionDays, reservedConcurrency,
        env: {
          ...coreEnv(core),
          [serviceEnvNames.jobsTable]: core.jobsTable.name,
          [serviceEnvNames.webhooksQueueUrl]: core.webhooks.url,
          T2S_RETENTION_DAYS: Token.asString(p.retentionDays),
          T2S_API_TOKEN_PARAM: p.apiTokenParam,
          T2S_SIGNING_SECRET_PARAM: p.signingSecretParam,
          T2S_PUBLIC_URL_PARAM: publicUrlParam,
          T2S_MONTHLY_BUDGET_USD: p.monthlyBudgetUsd,
          ...fleetEnv(p.fleet),
          ...env,
        },
      });

    const claimChecks: Grant = { sid: "ClaimChecks", actions: ["s3:PutObject"], resources: [`${bucketArn}/incoming/*`] };
    // DELETE /api/jobs/:id/files: a person removes a completed job's objects (torrents/delete with deleteFiles too).
    const deleteFiles: Grant = { sid: "DeleteFiles", actions: ["s3:DeleteObject"], resources: [`${bucketArn}/files/*`] };
    // A job cancelled (or torrents/delete) while no seedbox holds it: what an earlier holder left open under files/<id>/ goes too.
    const abortUploads: Grant[] = [
      { sid: "AbortUploads", actions: ["s3:AbortMultipartUpload"], resources: [`${bucketArn}/files/*`] },
      { sid: "ListUploads", actions: ["s3:ListBucketMultipartUploads"], resources: [bucketArn] },
    ];
    this.http = fn("function", `${p.name}-ingest`, "index.httpHandler", 30, [
      claimChecks,
      deleteFiles,
      ...abortUploads,
      // The newest-first list and the change feed (live updates); the facts consumer needs neither.
      jobIndexes,
      enqueueWebhooks,
      ...scaleUp,
      // Only this function signs download URLs: only it may read the private key.
      ...(p.downloads ? [{ sid: "DownloadKey", actions: ["ssm:GetParameters"], resources: [ssmArn(p.downloads.privateKeyParam)] }] : []),
    ], shared, p.downloads ? { T2S_CLOUDFRONT_KEY_PAIR_ID: p.downloads.keyPairId, T2S_CLOUDFRONT_KEY_PARAM: p.downloads.privateKeyParam } : {});
    // The qBittorrent API (ingest/qbittorrent.ts), what the API function does for it and no more: no
    // download key (it hands out no links; the key pair's id only prices downloads as the API does).
    this.qbittorrent = fn("qbittorrent-function", `${p.name}-ingest-qbt`, "index.qbittorrentHandler", 30, [
      claimChecks,
      deleteFiles,
      ...abortUploads,
      // torrents/files and filePrio read the job's .torrent.
      { sid: "ClaimCheckRead", actions: ["s3:GetObject"], resources: [`${bucketArn}/incoming/*`] },
      // Categories and the sync agent's folder.
      { sid: "QbtSettings", actions: ["s3:GetObject", "s3:PutObject"], resources: [`${bucketArn}/qbittorrent/*`] },
      { sid: "QbtSettingsList", actions: ["s3:ListBucket"], resources: [bucketArn], condition: [{ test: "StringLike", variable: "s3:prefix", values: ["qbittorrent/*"] }] },
      // torrents/info lists newest first; the change feed and the sweeper's index are not its business.
      { sid: "JobIndexes", actions: ["dynamodb:Query"], resources: [`${tableArn}/index/${jobTableSchema.byCreated.name}`] },
      enqueueWebhooks,
      ...scaleUp,
    ], shared, p.downloads ? { T2S_CLOUDFRONT_KEY_PAIR_ID: p.downloads.keyPairId } : {}, p.qbittorrentConcurrency);
    // The facts queue's visibility timeout (60 s) must stay above this timeout.
    this.facts = fn("facts-function", `${p.name}-ingest-facts`, "index.sqsHandler", 30, [
      { sid: "FactsQueue", actions: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"], resources: [core.facts.queue.arn] },
      enqueueWebhooks,
    ]);
    // Deliveries: reads job records (never writes them), consumes and re-sends on its own queue, and
    // reads the parameters for the signing key and the links. No bucket, no topic.
    this.webhooks = fn("webhooks-function", `${p.name}-ingest-webhooks`, "index.webhookHandler", 30, [
      { sid: "JobTableRead", actions: ["dynamodb:GetItem"], resources: [tableArn] },
      { sid: "WebhookQueue", actions: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility", "sqs:SendMessage"], resources: [core.webhooks.arn] },
      parameters,
    ], []);

    // The sweeper: job records by key and by index, requests republished, outboxes handed on (job
    // updates, webhook events), the fleet raised. It reads the parameters for its cold start and for the
    // links in the updates it publishes.
    this.sweep = fn("sweep-function", `${p.name}-ingest-sweep`, "index.sweep", 50, [
      { sid: "JobTable", actions: ["dynamodb:GetItem", "dynamodb:PutItem"], resources: [tableArn] },
      monthTotals,
      jobIndexes,
      { sid: "Publish", actions: ["sns:Publish"], resources: [core.requestsTopic.arn, core.updatesTopic.arn] },
      enqueueWebhooks,
      parameters,
      ...scaleUp,
    ], []);
    const every = new CloudwatchEventRule(this, "sweep-schedule", {
      name: `${p.name}-ingest-sweep`,
      description: "Puts jobs whose lease ran out back on the requests queue",
      scheduleExpression: "rate(1 minute)",
    });
    new CloudwatchEventTarget(this, "sweep-target", { rule: every.name, arn: this.sweep.arn });
    new LambdaPermission(this, "sweep-invoke", {
      statementId: "EventBridgeSchedule",
      action: "lambda:InvokeFunction",
      functionName: this.sweep.functionName,
      principal: "events.amazonaws.com",
      sourceArn: every.arn,
    });

    // AWS_IAM: reached through CloudFront only (the distribution's grant is in page-front.ts).
    this.url = new LambdaFunctionUrl(this, "url", { functionName: this.http.functionName, authorizationType: "AWS_IAM" });
    // NONE: anyone may call it, through the distribution or straight; it answers the qBittorrent API only,
    // and a direct Invoke gets what the URL gives (the handler takes URL events only).
    this.qbittorrentUrl = publicFunctionUrl(this, "qbittorrent-url", this.qbittorrent);
    new LambdaEventSourceMapping(this, "facts", {
      eventSourceArn: core.facts.queue.arn,
      functionName: this.facts.arn,
      batchSize: 10,
      functionResponseTypes: ["ReportBatchItemFailures"],
    });
    new LambdaEventSourceMapping(this, "webhooks", {
      eventSourceArn: core.webhooks.arn,
      functionName: this.webhooks.arn,
      batchSize: 10,
      functionResponseTypes: ["ReportBatchItemFailures"],
    });
  }
}
