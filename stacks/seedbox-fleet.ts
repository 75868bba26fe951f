// The seedbox fleet: an Auto Scaling group of 0..max_seedboxes Debian 12 instances, each running
// deluged, deluge-web and seedbox as systemd units on its own encrypted data volume. No inbound rule,
// IMDSv2 only, reached through SSM Session Manager. ingest raises the desired capacity when it queues
// work (ingest-lambda.ts); a seedbox idle for idle_minutes terminates itself with a decrement. The
// desired capacity belongs to them, not to terraform. The Discord bot needs no host: it runs as
// Lambdas over HTTP interactions (discord-lambda.ts).
import { AssetType, Fn, Op, TerraformAsset, TerraformLocal, Token, type IResolvable } from "cdktf";
import { Construct } from "constructs";
import { AutoscalingGroup } from "@cdktf/provider-aws/lib/autoscaling-group/index.js";
import { AutoscalingPolicy } from "@cdktf/provider-aws/lib/autoscaling-policy/index.js";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group/index.js";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm/index.js";
import { DataAwsAmi } from "@cdktf/provider-aws/lib/data-aws-ami/index.js";
import { DataAwsEc2InstanceTypeOfferings } from "@cdktf/provider-aws/lib/data-aws-ec2-instance-type-offerings/index.js";
import { DataAwsSubnets } from "@cdktf/provider-aws/lib/data-aws-subnets/index.js";
import { DataAwsVpc } from "@cdktf/provider-aws/lib/data-aws-vpc/index.js";
import { IamInstanceProfile } from "@cdktf/provider-aws/lib/iam-instance-profile/index.js";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template/index.js";
import { S3Object } from "@cdktf/provider-aws/lib/s3-object/index.js";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group/index.js";
import { join } from "node:path";
import { releaseFile } from "../scripts/build-release.ts";
import { coreEnv, type CoreResources } from "./core.ts";
import { ServiceRole, ssmParameterArn } from "./iam.ts";
import { renderUserData } from "./user-data.ts";
import { serviceEnvNames } from "../lib/service-env.ts";

/** Debian's own AWS account, which publishes the official images (https://wiki.debian.org/Cloud/AmazonEC2Image). */
export const debianOwner = "136693071363";
/** The Debian release the seedboxes boot, and the one the rehearsal boots (scripts/rehearse/). */
export const debianRelease = { version: 12, codename: "bookworm" } as const;

/** The fleet's settings as terraform expressions (variables) or plain values. */
export interface FleetSettings {
  /** The group's name, a plain string: the seedboxes and ingest get it before the group exists. */
  groupName: string;
  maxSeedboxes: number;
  idleMinutes: number;
  maxTorrents: number;
  /** true: spot above an on-demand base of 0; false: on-demand only (a terraform bool). */
  spot: boolean | IResolvable;
  /** The types the group may launch, the first preferred (a terraform list). */
  instanceTypes: string[];
}

/** The group's ARN for IAM: its id part is random, its name is ours. */
export const groupArn = (w: { partition: string; region: string; account: string }, groupName: string) =>
  `arn:${w.partition}:autoscaling:${w.region}:${w.account}:autoScalingGroup:*:autoScalingGroupName/${groupName}`;

/** The fleet's env for the services that read it: ingest (scale-up) and the seedbox (membership). */
export const fleetEnv = (f: FleetSettings): Record<string, string> => ({
  T2S_FLEET_GROUP: f.groupName,
  T2S_MAX_SEEDBOXES: Fn.tostring(f.maxSeedboxes),
  T2S_MAX_TORRENTS: Fn.tostring(f.maxTorrents),
});

export interface SeedboxFleetProps {
  name: string;
  region: string;
  core: CoreResources;
  partition: string;
  account: string;
  /** "arm64" or "x86_64" (may be a terraform token). */
  arch: string;
  volumeGiB: number;
  fleet: FleetSettings;
  /** A folder holding the release tarballs (scripts/build-release.ts builds them). */
  releaseDir: string;
  /** Days the seedboxes' log group keeps lines. */
  logRetentionDays: number;
}

export class SeedboxFleet extends Construct {
  readonly group: AutoscalingGroup;
  readonly launchTemplate: LaunchTemplate;
  readonly role: ServiceRole;
  readonly securityGroup: SecurityGroup;
  readonly releaseObject: S3Object;
  /** The setup log, deluged, deluge-web and the seedbox of every instance, one stream per instance (deploy/log-shipper.py). */
  readonly logGroup: CloudwatchLogGroup;

  constructor(scope: Construct, id: string, p: SeedboxFleetProps) {
    super(scope, id);
    const { core, fleet } = p;
    const bucketArn = core.bucket.arn;
    const ssmArn = (param: string) => ssmParameterArn(p, param);

    // Debian names its images debian-12-amd64-<date>-<build> and debian-12-arm64-...
    const debianArch = Fn.conditional(Op.eq(p.arch, "arm64"), "arm64", "amd64");
    const ami = new DataAwsAmi(this, "debian", {
      mostRecent: true,
      owners: [debianOwner],
      filter: [
        { name: "name", values: [`debian-${debianRelease.version}-${debianArch}-*`] },
        { name: "architecture", values: [p.arch] },
        { name: "virtualization-type", values: ["hvm"] },
      ],
    });
    // Subnets: the default VPC's default subnets in every zone that offers one of the types.
    const offerings = new DataAwsEc2InstanceTypeOfferings(this, "zones", {
      locationType: "availability-zone",
      filter: [{ name: "instance-type", values: fleet.instanceTypes }],
    });
    const vpc = new DataAwsVpc(this, "vpc", { default: true });
    const subnets = new DataAwsSubnets(this, "subnets", {
      filter: [
        { name: "vpc-id", values: [vpc.id] },
        { name: "default-for-az", values: ["true"] },
        { name: "availability-zone", values: Fn.distinct(offerings.locations) },
      ],
    });

    this.securityGroup = new SecurityGroup(this, "sg", {
      name: `${p.name}-seedbox`,
      description: "torrent2s3 seedbox: no inbound rule, outbound for peers, packages and AWS APIs",
      vpcId: vpc.id,
      ingress: [],
      egress: [{ description: "all outbound", fromPort: 0, toPort: 0, protocol: "-1", cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"] }],
    });

    // The release for the fleet's CPU (scripts/build-release.ts builds both: arch may be set at deploy).
    const releases = Object.fromEntries((["arm64", "x86_64"] as const).map((a) =>
      [a, new TerraformAsset(this, `release-${a}`, { path: join(p.releaseDir, releaseFile(a)), type: AssetType.FILE })]));
    const forArch = (f: (a: TerraformAsset) => string) => Fn.conditional(Op.eq(p.arch, "arm64"), f(releases.arm64!), f(releases.x86_64!));
    const releaseObject = (this.releaseObject = new S3Object(this, "release-object", {
      bucket: core.bucket.id,
      key: forArch((r) => `releases/${r.assetHash}.tar.gz`),
      source: forArch((r) => r.path),
      sourceHash: forArch((r) => r.assetHash),
    }));

    // It outlives the instances, which delete their volumes when they end; an empty group costs nothing.
    this.logGroup = new CloudwatchLogGroup(this, "logs", { name: `/${p.name}/seedbox`, retentionInDays: p.logRetentionDays });
    const ownParameters = ssmArn(`/${p.name}/host/*`);
    this.role = new ServiceRole(this, "role", {
      name: `${p.name}-seedbox`,
      service: "ec2.amazonaws.com",
      grants: [
        { sid: "RequestsQueue", actions: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"], resources: [core.requests.queue.arn] },
        { sid: "FactsTopic", actions: ["sns:Publish"], resources: [core.factsTopic.arn] },
        // Leases live on the job records (conditional writes); a job it cannot take goes back on the requests topic.
        { sid: "JobLeases", actions: ["dynamodb:GetItem", "dynamodb:PutItem"], resources: [core.jobsTable.arn] },
        { sid: "HandBack", actions: ["sns:Publish"], resources: [core.requestsTopic.arn] },
        // Head/Delete on files/* serve the restart reconcile and cancels; Put covers multipart uploads.
        { sid: "Files", actions: ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:GetObject", "s3:DeleteObject"], resources: [`${bucketArn}/files/*`] },
        { sid: "Incoming", actions: ["s3:GetObject"], resources: [`${bucketArn}/incoming/*`] },
        { sid: "Release", actions: ["s3:GetObject"], resources: [`${bucketArn}/releases/*`] },
        // ListBucket makes a missing key a 404 rather than a 403; open uploads are listed to abort stale ones.
        { sid: "ListFiles", actions: ["s3:ListBucket", "s3:ListBucketMultipartUploads"], resources: [bucketArn] },
        { sid: "Logs", actions: ["logs:CreateLogStream", "logs:PutLogEvents"], resources: [`${this.logGroup.arn}:*`] },
        { sid: "OwnParameters", actions: ["ssm:GetParameter", "ssm:GetParameters"], resources: [ownParameters] },
        // Its own group only: shield itself while it holds work, and end itself when idle.
        { sid: "OwnGroup", actions: ["autoscaling:SetInstanceProtection", "autoscaling:TerminateInstanceInAutoScalingGroup"], resources: [groupArn(p, fleet.groupName)] },
        // Session Manager, for a shell on the host. Not AmazonSSMManagedInstanceCore: that one also reads
        // every SSM parameter, and so every secret of the stack. These actions take no resource scope.
        { sid: "SessionManager", actions: ["ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"], resources: ["*"] },
      ],
      // The torrent host faces the internet: even a policy attached later by hand reads no other parameter.
      denials: [{ sid: "NoOtherParameters", actions: ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"], exceptOn: [ownParameters] }],
    });
    const profile = new IamInstanceProfile(this, "profile", { name: `${p.name}-seedbox`, role: this.role.role.name });

    const userData = renderUserData({
      region: p.region,
      bucket: core.bucket.bucket,
      releaseKey: releaseObject.key,
      serviceEnv: {
        AWS_REGION: p.region,
        T2S_DATA_DIR: "/var/lib/t2s",
        T2S_DOWNLOAD_DIR: "/var/lib/t2s/downloading",
        ...coreEnv(core),
        ...fleetEnv(fleet),
        T2S_IDLE_MINUTES: Fn.tostring(fleet.idleMinutes),
        [serviceEnvNames.jobsTable]: core.jobsTable.name,
        T2S_RETENTION_DAYS: Token.asString(core.retentionDays),
        T2S_LOG_GROUP: this.logGroup.name,
      },
    }, { forTerraform: true });

    const gp3 = (size: number) => ({ volumeType: "gp3", volumeSize: size, encrypted: "true", deleteOnTermination: "true" });
    this.launchTemplate = new LaunchTemplate(this, "template", {
      name: `${p.name}-seedbox`,
      imageId: ami.id,
      instanceType: Fn.element(fleet.instanceTypes, 0),
      iamInstanceProfile: { arn: profile.arn },
      // A public IPv4 address: the default VPC has no NAT, and peers, packages and AWS APIs are outbound.
      networkInterfaces: [{ deviceIndex: 0, associatePublicIpAddress: "true", deleteOnTermination: "true", securityGroups: [this.securityGroup.id] }],
      metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
      // Root, and the data volume for Deluge: each instance's own, gone with it (jobs live in S3 and the job store).
      blockDeviceMappings: [
        // Debian's images name their root device /dev/xvda (Ubuntu's: /dev/sda1).
        { deviceName: "/dev/xvda", ebs: gp3(16) },
        { deviceName: "/dev/sdf", ebs: gp3(p.volumeGiB) },
      ],
      instanceInitiatedShutdownBehavior: "terminate",
      // Through a local: a literal argument of a terraform function may not hold the script's double quotes.
      userData: Fn.base64encode(new TerraformLocal(this, "user-data", userData).asString),
      // New releases become new versions; the group launches the latest, no instance is replaced.
      updateDefaultVersion: true,
      tagSpecifications: ["instance", "volume"].map((resourceType) => ({ resourceType, tags: { Name: `${p.name}-seedbox` } })),
    });

    this.group = new AutoscalingGroup(this, "group", {
      name: fleet.groupName,
      minSize: 0,
      maxSize: fleet.maxSeedboxes,
      vpcZoneIdentifier: subnets.ids,
      // One policy for both: on-demand only unless spot is on (then no on-demand at all).
      mixedInstancesPolicy: {
        launchTemplate: {
          launchTemplateSpecification: { launchTemplateId: this.launchTemplate.id, version: Fn.tostring(this.launchTemplate.latestVersion) },
        },
        instancesDistribution: {
          onDemandAllocationStrategy: "prioritized",
          onDemandBaseCapacity: 0,
          onDemandPercentageAboveBaseCapacity: Fn.conditional(fleet.spot, 0, 100),
          spotAllocationStrategy: "capacity-optimized",
        },
      },
      capacityRebalance: fleet.spot,
      // Nothing to wait for: it starts at 0, and ingest sets the desired capacity.
      waitForCapacityTimeout: "0",
      healthCheckGracePeriod: 600,
      tag: [{ key: "Name", value: `${p.name}-seedbox`, propagateAtLaunch: true }],
      lifecycle: { ignoreChanges: ["desired_capacity"] },
    });
    // One override per type, in order: on-demand "prioritized" takes the first with capacity
    // (TerraformIterator.fromList would make a set of them, which has no order).
    this.group.addOverride("mixed_instances_policy.launch_template.dynamic.override", {
      for_each: fleet.instanceTypes,
      content: { instance_type: "${override.value}" },
    });

    // The backstop: a request waiting 10 minutes adds one seedbox (AWS Auto Scaling re-runs the action
    // while the alarm stays in ALARM, one per cooldown, up to max). ingest's own scale-up is the fast path.
    const addOne = new AutoscalingPolicy(this, "add-one", {
      name: `${p.name}-seedbox-add-one`,
      autoscalingGroupName: this.group.name,
      policyType: "SimpleScaling",
      adjustmentType: "ChangeInCapacity",
      scalingAdjustment: 1,
      cooldown: 300,
    });
    new CloudwatchMetricAlarm(this, "backlog", {
      alarmName: `${p.name}-requests-waiting`,
      alarmDescription: "Requests wait in the queue: add a seedbox (backstop to ingest's scale-up)",
      namespace: "AWS/SQS",
      metricName: "ApproximateNumberOfMessagesVisible",
      dimensions: { QueueName: core.requests.queue.name },
      statistic: "Maximum",
      period: 300,
      evaluationPeriods: 2,
      threshold: 0,
      comparisonOperator: "GreaterThanThreshold",
      treatMissingData: "notBreaching",
      alarmActions: [addOne.arn],
    });
  }
}
