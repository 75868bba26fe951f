// The Discord bot in AWS mode, over HTTP interactions (bot/lambda.ts), as three functions from one
// bundle, none always on:
// - "<name>-discord": the Interactions Endpoint URL Discord POSTs to (function URL, auth NONE: Discord
//   cannot sign AWS requests; it signs each body with Ed25519 instead, which the function checks).
//   Function URLs created since October 2025 need a public lambda:InvokeFunction grant beside the URL
//   grant, and provider 5.100 cannot limit it to URL calls (lambda:InvokedViaFunctionUrl), so anyone
//   may invoke this function directly: it takes only function URL events, verifies every signature,
//   holds no secret but the API token (for autocomplete), and may do one thing, publish to its topic.
// - "<name>-discord-work": subscribed to the interactions topic (SNS invokes it asynchronously; no
//   poller, nothing idle). It verifies the signed request again, runs the command and edits the reply.
// - "<name>-discord-updates": the updates-bot queue through an SQS event source mapping; it posts and
//   edits the status messages with the bot token (REST only).
import { AssetType, TerraformAsset } from "cdktf";
import { Construct } from "constructs";
import { LambdaEventSourceMapping } from "@cdktf/provider-aws/lib/lambda-event-source-mapping/index.js";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function/index.js";
import { LambdaFunctionEventInvokeConfig } from "@cdktf/provider-aws/lib/lambda-function-event-invoke-config/index.js";
import type { LambdaFunctionUrl } from "@cdktf/provider-aws/lib/lambda-function-url/index.js";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission/index.js";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic/index.js";
import { SnsTopicSubscription } from "@cdktf/provider-aws/lib/sns-topic-subscription/index.js";
import type { CoreResources } from "./core.ts";
import { ssmParameterArn, type Grant } from "./iam.ts";
import { nodeFunction, publicFunctionUrl } from "./node-function.ts";

export interface DiscordLambdaProps {
  name: string;
  region: string;
  partition: string;
  account: string;
  core: CoreResources;
  /** A folder with index.mjs (scripts/build-lambda.ts buildDiscordLambda). */
  bundleDir: string;
  /** The API and link base: the CloudFront URL. */
  apiUrl: string;
  /** The application's Ed25519 public key (hex; not a secret). */
  publicKey: string;
  /** User and role ids allowed to use the bot, comma-separated. */
  allowList: string;
  apiTokenParam: string;
  discordTokenParam: string;
  logRetentionDays: number;
}

export class DiscordLambda extends Construct {
  readonly interactions: LambdaFunction;
  readonly worker: LambdaFunction;
  readonly updates: LambdaFunction;
  readonly url: LambdaFunctionUrl;
  readonly topic: SnsTopic;

  constructor(scope: Construct, id: string, p: DiscordLambdaProps) {
    super(scope, id);
    const ssmArn = (param: string) => ssmParameterArn(p, param);
    const bundle = new TerraformAsset(this, "bundle", { path: p.bundleDir, type: AssetType.ARCHIVE });
    this.topic = new SnsTopic(this, "topic", { name: `${p.name}-interactions` });

    const fn = (id: string, fnName: string, handler: string, o: { timeout: number; memory: number; grants: Grant[]; env?: Record<string, string> }) =>
      nodeFunction(this, id, {
        name: fnName, handler, bundle, timeout: o.timeout, memory: o.memory, grants: o.grants, logRetentionDays: p.logRetentionDays,
        env: {
          DISCORD_PUBLIC_KEY: p.publicKey,
          DISCORD_ALLOWED_USERS: p.allowList,
          DISCORD_ALLOWED_ROLES: p.allowList,
          T2S_API_URL: p.apiUrl,
          T2S_PUBLIC_URL: p.apiUrl,
          T2S_API_TOKEN_PARAM: p.apiTokenParam,
          ...o.env,
        },
      });
    const apiToken: Grant = { sid: "ApiToken", actions: ["ssm:GetParameters"], resources: [ssmArn(p.apiTokenParam)] };
    const bothTokens: Grant = { sid: "Tokens", actions: ["ssm:GetParameters"], resources: [ssmArn(p.apiTokenParam), ssmArn(p.discordTokenParam)] };

    // More memory is more CPU: the cold start (module load, first answer) must stay well inside 3 s.
    this.interactions = fn("interactions", `${p.name}-discord`, "index.interactionsHandler", {
      timeout: 10, memory: 1024,
      grants: [{ sid: "HandOff", actions: ["sns:Publish"], resources: [this.topic.arn] }, apiToken],
      env: { T2S_INTERACTIONS_TOPIC_ARN: this.topic.arn },
    });
    this.worker = fn("worker", `${p.name}-discord-work`, "index.workHandler", {
      timeout: 60, memory: 512, grants: [bothTokens], env: { T2S_DISCORD_TOKEN_PARAM: p.discordTokenParam },
    });
    // The queue's visibility timeout (60 s) must stay above this timeout.
    this.updates = fn("updates", `${p.name}-discord-updates`, "index.updatesHandler", {
      timeout: 30, memory: 512,
      grants: [
        bothTokens,
        { sid: "UpdatesQueue", actions: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"], resources: [p.core.updatesBot.queue.arn] },
      ],
      env: { T2S_DISCORD_TOKEN_PARAM: p.discordTokenParam },
    });

    this.url = publicFunctionUrl(this, "url", this.interactions);

    new LambdaPermission(this, "topic-permission", {
      statementId: "InteractionsTopic", action: "lambda:InvokeFunction", functionName: this.worker.functionName,
      principal: "sns.amazonaws.com", sourceArn: this.topic.arn,
    });
    new SnsTopicSubscription(this, "subscription", { topicArn: this.topic.arn, protocol: "lambda", endpoint: this.worker.arn });
    // One retry at most, and never past the interaction token's 15 minutes.
    new LambdaFunctionEventInvokeConfig(this, "worker-retries", { functionName: this.worker.functionName, maximumRetryAttempts: 1, maximumEventAgeInSeconds: 600 });

    new LambdaEventSourceMapping(this, "updates-mapping", {
      eventSourceArn: p.core.updatesBot.queue.arn,
      functionName: this.updates.arn,
      batchSize: 10,
      functionResponseTypes: ["ReportBatchItemFailures"],
      // Few instances, so few boards with their own memory of each message (2 is the least allowed).
      scalingConfig: { maximumConcurrency: 2 },
    });
  }
}
