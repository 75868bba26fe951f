// AWS mode: the core resources, the seedbox fleet (Auto Scaling, from zero), the ingest Lambdas behind CloudFront with the page,
// and the Discord Lambdas (HTTP interactions), in the owner's account.
import { Fn, LocalBackend, Op, TerraformOutput, TerraformStack, TerraformVariable } from "cdktf";
import type { Construct } from "constructs";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider/index.js";
import { DataAwsCallerIdentity } from "@cdktf/provider-aws/lib/data-aws-caller-identity/index.js";
import { DataAwsPartition } from "@cdktf/provider-aws/lib/data-aws-partition/index.js";
import { SsmParameter } from "@cdktf/provider-aws/lib/ssm-parameter/index.js";
import { archs, emailPattern, logRetentionChoices, instanceTypePattern, maxQbittorrentConcurrency, maxSeedboxesLimit, minVolumeGiB, publicKeyPattern, secretNames, validateSettings, type AwsSettings } from "./aws-settings.ts";
import { CoreResources } from "./core.ts";
import { DiscordLambda } from "./discord-lambda.ts";
import { IngestLambda } from "./ingest-lambda.ts";
import { Monitoring } from "./monitoring.ts";
import { DownloadKeys, PageFront } from "./page-front.ts";
import { SeedboxFleet, type FleetSettings } from "./seedbox-fleet.ts";

export interface AwsStackProps {
  settings: AwsSettings;
  /** Output of scripts/build-lambda.ts. */
  build: { lambdaDir: string; discordDir: string; releaseDir: string };
  /** Tests only: a local AWS endpoint (moto), with fake keys and skip flags. */
  localEndpoint?: string;
  /** Tests only: where the state goes (by default cdktf keeps terraform.aws.tfstate in the project folder). */
  statePath?: string;
}

export class AwsStack extends TerraformStack {
  constructor(scope: Construct, id: string, props: AwsStackProps) {
    super(scope, id);
    const s = validateSettings(props.settings);
    if (props.statePath) new LocalBackend(this, { path: props.statePath });
    const v = {
      name: new TerraformVariable(this, "name", {
        type: "string", default: s.name, description: "Prefix of resource names and of the SSM parameters /<name>/...",
        validation: [{ condition: '${can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))}', errorMessage: "name must be 2-21 characters: lowercase letters, digits and -, starting with a letter." }],
      }),
      region: new TerraformVariable(this, "region", { type: "string", default: s.region, description: "AWS region" }),
      arch: new TerraformVariable(this, "arch", {
        type: "string", default: s.arch, description: "Seedbox CPU: arm64 (t4g) or x86_64",
        validation: [{ condition: `\${contains(${JSON.stringify(archs)}, var.arch)}`, errorMessage: 'arch must be "arm64" or "x86_64".' }],
      }),
      instanceType: new TerraformVariable(this, "instance_type", { type: "string", default: s.instanceType, description: "The preferred seedbox type; empty: t4g.small (arm64) or t3.small (x86_64)" }),
      instanceTypes: new TerraformVariable(this, "instance_types", {
        type: "list(string)", default: s.instanceTypes, description: "More types the fleet may launch after instance_type (spot capacity pools); same architecture",
        validation: [{ condition: `\${alltrue([for t in var.instance_types : can(regex("${instanceTypePattern.source}", t))])}`, errorMessage: 'instance_types must be EC2 instance types such as "t4g.medium".' }],
      }),
      spot: new TerraformVariable(this, "spot", { type: "bool", default: s.spot, description: "Spot seedboxes (capacity-optimised, no on-demand base) instead of on-demand" }),
      maxSeedboxes: new TerraformVariable(this, "max_seedboxes", {
        type: "number", default: s.maxSeedboxes, description: "Most seedboxes at once (the Auto Scaling group's max; it idles at 0)",
        validation: [{ condition: `\${var.max_seedboxes >= 1 && var.max_seedboxes <= ${maxSeedboxesLimit} && floor(var.max_seedboxes) == var.max_seedboxes}`, errorMessage: `max_seedboxes must be a whole number from 1 to ${maxSeedboxesLimit}.` }],
      }),
      idleMinutes: new TerraformVariable(this, "idle_minutes", {
        type: "number", default: s.idleMinutes, description: "Minutes a seedbox with no work waits before it terminates itself",
        validation: [{ condition: "${var.idle_minutes >= 1 && floor(var.idle_minutes) == var.idle_minutes}", errorMessage: "idle_minutes must be a whole number of at least 1." }],
      }),
      maxTorrents: new TerraformVariable(this, "max_torrents", {
        type: "number", default: s.maxTorrents, description: "Torrents one seedbox holds at once (T2S_MAX_TORRENTS; ingest sizes the fleet by it)",
        validation: [{ condition: "${var.max_torrents >= 1 && floor(var.max_torrents) == var.max_torrents}", errorMessage: "max_torrents must be a whole number of at least 1." }],
      }),
      volumeGiB: new TerraformVariable(this, "volume_size_gib", {
        type: "number", default: s.volumeGiB, description: "Size of each seedbox's gp3 data volume for Deluge, GiB",
        validation: [{ condition: `\${var.volume_size_gib >= ${minVolumeGiB}}`, errorMessage: `volume_size_gib must be at least ${minVolumeGiB}.` }],
      }),
      retentionDays: new TerraformVariable(this, "retention_days", {
        type: "number", default: s.retentionDays, description: "Days before incoming/ and files/ expire",
        validation: [{ condition: "${var.retention_days >= 1}", errorMessage: "retention_days must be at least 1." }],
      }),
      monthlyBudget: new TerraformVariable(this, "monthly_budget_usd", {
        // A string, so that unset can be "" (cdktf cannot write a null default).
        type: "string", default: s.monthlyBudgetUsd,
        description: "The month's estimated spend in USD at which new jobs wait and the fleet is not raised; empty: no guard",
        validation: [{
          condition: '${var.monthly_budget_usd == "" ? true : (can(tonumber(var.monthly_budget_usd)) ? tonumber(var.monthly_budget_usd) >= 0 : false)}',
          errorMessage: "monthly_budget_usd must be empty (no guard) or a number of dollars of at least 0.",
        }],
      }),
      discordAllowList: new TerraformVariable(this, "discord_allow_list", { type: "list(string)", default: s.discordAllowList, description: "Discord user or role ids allowed to use the bot" }),
      discordPublicKey: new TerraformVariable(this, "discord_public_key", {
        type: "string", default: s.discordPublicKey, description: "The Discord application's public key (developer portal, General Information); not a secret",
        validation: [{ condition: `\${var.discord_public_key == "" || can(regex("${publicKeyPattern.source}", var.discord_public_key))}`, errorMessage: "discord_public_key must be the 64 hex characters the developer portal shows." }],
      }),
      alarmEmail: new TerraformVariable(this, "alarm_email", {
        type: "string", default: s.alarmEmail, description: "Where alarms are e-mailed (confirm the first message SNS sends); empty: none",
        validation: [{ condition: `\${var.alarm_email == "" || can(regex("${emailPattern.source}", var.alarm_email))}`, errorMessage: "alarm_email must be an e-mail address or empty." }],
      }),
      logRetentionDays: new TerraformVariable(this, "log_retention_days", {
        type: "number", default: s.logRetentionDays, description: "Days CloudWatch keeps the Lambdas' and the seedboxes' logs",
        validation: [{ condition: `\${contains(${JSON.stringify(logRetentionChoices)}, var.log_retention_days)}`, errorMessage: `log_retention_days must be one of ${logRetentionChoices.join(", ")}.` }],
      }),
      qbittorrentConcurrency: new TerraformVariable(this, "qbittorrent_concurrency", {
        type: "number", default: s.qbittorrentConcurrency,
        description: "Most instances of the public qBittorrent function at once (reserved concurrency; -1: none reserved, 0: the qBittorrent API off)",
        validation: [{ condition: `\${var.qbittorrent_concurrency >= -1 && var.qbittorrent_concurrency <= ${maxQbittorrentConcurrency} && floor(var.qbittorrent_concurrency) == var.qbittorrent_concurrency}`, errorMessage: `qbittorrent_concurrency must be a whole number from -1 to ${maxQbittorrentConcurrency}.` }],
      }),
      keepData: new TerraformVariable(this, "keep_data", {
        type: "bool", default: s.keepData, description: "Deletion protection on the job table, and no destroy of a bucket holding objects; false before a destroy meant to delete the data",
      }),
    };
    const logRetentionDays = v.logRetentionDays.numberValue;
    const name = v.name.stringValue;
    const region = v.region.stringValue;
    const arch = v.arch.stringValue;
    // coalesce skips the empty default.
    const instanceType = Fn.coalesce([v.instanceType.stringValue, Fn.conditional(Op.eq(arch, "arm64"), "t4g.small", "t3.small")]);
    const fleet: FleetSettings = {
      groupName: `${name}-seedbox`,
      maxSeedboxes: v.maxSeedboxes.numberValue,
      idleMinutes: v.idleMinutes.numberValue,
      maxTorrents: v.maxTorrents.numberValue,
      spot: v.spot.booleanValue,
      instanceTypes: Fn.distinct(Fn.concat([[instanceType], v.instanceTypes.listValue])),
    };

    const e = props.localEndpoint;
    new AwsProvider(this, "aws", {
      region,
      defaultTags: [{ tags: { app: "torrent2s3", stack: name } }],
      ...(e ? {
        // A local endpoint takes any keys; these are not secrets.
        accessKey: "test", secretKey: "test",
        skipCredentialsValidation: true, skipRequestingAccountId: true, skipMetadataApiCheck: "true", s3UsePathStyle: true,
        endpoints: [{ s3: e, sqs: e, sns: e, iam: e, sts: e, ec2: e, ssm: e, lambda: e, cloudwatchlogs: e, dynamodb: e, cloudfront: e, autoscaling: e, cloudwatch: e, events: e }],
      } : {}),
    });

    const partition = new DataAwsPartition(this, "partition").partition;
    const account = new DataAwsCallerIdentity(this, "account").accountId;
    const keepData = v.keepData.booleanValue;
    const core = new CoreResources(this, "core", {
      name, retentionDays: v.retentionDays.numberValue, tlsOnly: true,
      deletionProtection: keepData, forceDestroy: Fn.conditional(keepData, false, true),
    });
    const secrets = secretNames(name);
    const seedboxes = new SeedboxFleet(this, "seedbox", {
      name, region, core, partition, account, arch, fleet,
      volumeGiB: v.volumeGiB.numberValue,
      releaseDir: props.build.releaseDir,
      logRetentionDays,
    });
    // moto cannot evaluate aws:SecureTransport and denies every object request under the TLS-only
    // policy: against it, the release goes up before the policy (and the policy goes first on destroy).
    if (e && core.tlsPolicy) core.tlsPolicy.dependsOn = [`${seedboxes.releaseObject.terraformResourceType}.${seedboxes.releaseObject.friendlyUniqueId}`];
    const downloads = s.downloadsPublicKey
      ? new DownloadKeys(this, "downloads", { name, publicKeyPem: s.downloadsPublicKey, privateKeyParam: secrets.downloadsPrivateKey })
      : undefined;
    const ingest = new IngestLambda(this, "ingest", {
      name, region, partition, account, core,
      retentionDays: core.retentionDays,
      bundleDir: props.build.lambdaDir,
      apiTokenParam: secrets.apiToken,
      signingSecretParam: secrets.signingSecret,
      fleet,
      monthlyBudgetUsd: v.monthlyBudget.stringValue,
      ...(downloads ? { downloads: { keyPairId: downloads.publicKey.id, privateKeyParam: downloads.privateKeyParam } } : {}),
      logRetentionDays,
      qbittorrentConcurrency: v.qbittorrentConcurrency.numberValue,
    });

    const front = new PageFront(this, "front", {
      name, webDir: `${props.build.lambdaDir}/web`, ingest: ingest.http, ingestUrl: ingest.url, qbittorrentUrl: ingest.qbittorrentUrl, tlsOnly: !e, headersPolicy: !e,
      // Presigned links name the bucket's regional endpoint (virtual-hosted style).
      storageOrigin: `https://${core.bucket.bucketRegionalDomainName}`,
      ...(downloads ? { downloads: { core, keys: downloads } } : {}),
    });
    // Links and cookies are for the CloudFront URL: the function URL answers CloudFront only.
    new SsmParameter(this, "public-url", { name: ingest.publicUrlParam, type: "String", value: front.url });
    const discord = new DiscordLambda(this, "discord", {
      name, region, partition, account, core,
      bundleDir: props.build.discordDir,
      apiUrl: front.url,
      publicKey: v.discordPublicKey.stringValue,
      allowList: Fn.join(",", v.discordAllowList.listValue),
      apiTokenParam: secrets.apiToken,
      discordTokenParam: secrets.discordToken,
      logRetentionDays,
    });
    const monitoring = new Monitoring(this, "monitoring", {
      name,
      alarmEmail: v.alarmEmail.stringValue,
      deadLetters: { requests: core.requests.dlq, "facts-ingest": core.facts.dlq, "updates-bot": core.updatesBot.dlq, webhooks: core.webhooksDlq },
      functions: [ingest.http, ingest.qbittorrent, ingest.facts, ingest.webhooks, ingest.sweep, discord.interactions, discord.worker, discord.updates],
      sweep: ingest.sweep,
      monthlyBudgetUsd: v.monthlyBudget.stringValue,
    });

    const out = (id: string, value: string, description: string) => new TerraformOutput(this, id, { value, description, staticId: true });
    out("page_url", front.url, "The web page and API (CloudFront)");
    out("interactions_url", discord.url.functionUrl, "The Interactions Endpoint URL to set in the Discord developer portal");
    out("bucket", core.bucket.bucket, "The S3 bucket");
    out("page_bucket", front.bucket.bucket, "The bucket holding the page's static files");
    out("seedbox_group", seedboxes.group.name, "The seedboxes' Auto Scaling group (0 when idle); list its instances with: aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names <name>");
    out("alarms_topic", monitoring.topic.arn, "The SNS topic every alarm publishes to (subscribe more endpoints to it if you like)");
    out("seedbox_logs", seedboxes.logGroup.name, "The seedboxes' CloudWatch log group (setup, Deluge, seedbox), one stream per instance");
    out("parameters", `${secrets.apiToken} ${secrets.signingSecret} ${secrets.discordToken}`, "The SSM SecureString parameters the owner sets");
  }
}
