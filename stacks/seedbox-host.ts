// The seedbox host: Ubuntu 24.04 on EC2 running deluged, deluge-web and seedbox as systemd units. The
// Discord bot is not on it: in AWS mode it runs as Lambdas over HTTP interactions (discord-lambda.ts).
// No inbound rule, IMDSv2 only, reached through SSM Session Manager; data on its own gp3 volume.
import { AssetType, Fn, Op, TerraformAsset } from "cdktf";
import { Construct } from "constructs";
import { DataAwsAmi } from "@cdktf/provider-aws/lib/data-aws-ami/index.js";
import { DataAwsEc2InstanceTypeOfferings } from "@cdktf/provider-aws/lib/data-aws-ec2-instance-type-offerings/index.js";
import { DataAwsSubnet } from "@cdktf/provider-aws/lib/data-aws-subnet/index.js";
import { DataAwsVpc } from "@cdktf/provider-aws/lib/data-aws-vpc/index.js";
import { EbsVolume } from "@cdktf/provider-aws/lib/ebs-volume/index.js";
import { IamInstanceProfile } from "@cdktf/provider-aws/lib/iam-instance-profile/index.js";
import { IamRolePolicyAttachment } from "@cdktf/provider-aws/lib/iam-role-policy-attachment/index.js";
import { Instance } from "@cdktf/provider-aws/lib/instance/index.js";
import { S3Object } from "@cdktf/provider-aws/lib/s3-object/index.js";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group/index.js";
import { VolumeAttachment } from "@cdktf/provider-aws/lib/volume-attachment/index.js";
import { coreEnv, type CoreResources } from "./core.ts";
import { ServiceRole, ssmParameterArn } from "./iam.ts";
import { renderUserData } from "./user-data.ts";

export const canonicalOwner = "099720109477";

export interface SeedboxHostProps {
  name: string;
  region: string;
  core: CoreResources;
  partition: string;
  account: string;
  /** "arm64" or "x86_64" (may be a terraform token). */
  arch: string;
  instanceType: string;
  volumeGiB: number;
  /** A folder holding the app release (scripts/build-lambda.ts stages it). */
  releaseDir: string;
  apiTokenParam: string;
}

export class SeedboxHost extends Construct {
  readonly instance: Instance;
  readonly role: ServiceRole;
  readonly securityGroup: SecurityGroup;
  readonly releaseObject: S3Object;

  constructor(scope: Construct, id: string, p: SeedboxHostProps) {
    super(scope, id);
    const { core } = p;
    const bucketArn = core.bucket.arn;
    const ssmArn = (param: string) => ssmParameterArn(p, param);

    const ubuntuArch = Fn.conditional(Op.eq(p.arch, "arm64"), "arm64", "amd64");
    const ami = new DataAwsAmi(this, "ubuntu", {
      mostRecent: true,
      owners: [canonicalOwner],
      filter: [
        { name: "name", values: [`ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-${ubuntuArch}-server-*`] },
        { name: "architecture", values: [p.arch] },
        { name: "virtualization-type", values: ["hvm"] },
      ],
    });
    // The data volume must live in the instance's zone: the first zone offering the type.
    const offerings = new DataAwsEc2InstanceTypeOfferings(this, "zones", {
      locationType: "availability-zone",
      filter: [{ name: "instance-type", values: [p.instanceType] }],
    });
    const zone = Fn.element(Fn.sort(offerings.locations), 0);
    const vpc = new DataAwsVpc(this, "vpc", { default: true });
    const subnet = new DataAwsSubnet(this, "subnet", { vpcId: vpc.id, availabilityZone: zone, defaultForAz: true });

    this.securityGroup = new SecurityGroup(this, "sg", {
      name: `${p.name}-seedbox`,
      description: "torrent2s3 seedbox: no inbound rule, outbound for peers, packages and AWS APIs",
      vpcId: vpc.id,
      ingress: [],
      egress: [{ description: "all outbound", fromPort: 0, toPort: 0, protocol: "-1", cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"] }],
    });

    const release = new TerraformAsset(this, "release", { path: p.releaseDir, type: AssetType.ARCHIVE });
    const releaseObject = (this.releaseObject = new S3Object(this, "release-object", {
      bucket: core.bucket.id,
      key: `releases/${release.assetHash}.zip`,
      source: release.path,
      sourceHash: release.assetHash,
    }));

    this.role = new ServiceRole(this, "role", {
      name: `${p.name}-seedbox`,
      service: "ec2.amazonaws.com",
      grants: [
        { sid: "RequestsQueue", actions: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"], resources: [core.requests.queue.arn] },
        { sid: "FactsTopic", actions: ["sns:Publish"], resources: [core.factsTopic.arn] },
        // Head/Delete on files/* serve the restart reconcile and cancels; Put covers multipart uploads.
        { sid: "Files", actions: ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:GetObject", "s3:DeleteObject"], resources: [`${bucketArn}/files/*`] },
        { sid: "Incoming", actions: ["s3:GetObject"], resources: [`${bucketArn}/incoming/*`] },
        { sid: "Release", actions: ["s3:GetObject"], resources: [`${bucketArn}/releases/*`] },
        // ListBucket makes a missing key a 404 rather than a 403; open uploads are listed to abort stale ones.
        { sid: "ListFiles", actions: ["s3:ListBucket", "s3:ListBucketMultipartUploads"], resources: [bucketArn] },
        { sid: "OwnParameters", actions: ["ssm:GetParameter", "ssm:GetParameters"], resources: [ssmArn(`/${p.name}/host/*`), ssmArn(p.apiTokenParam)] },
      ],
    });
    new IamRolePolicyAttachment(this, "ssm-core", {
      role: this.role.role.name,
      policyArn: `arn:${p.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore`,
    });
    const profile = new IamInstanceProfile(this, "profile", { name: `${p.name}-seedbox`, role: this.role.role.name });

    const volume = new EbsVolume(this, "data", {
      availabilityZone: zone,
      size: p.volumeGiB,
      type: "gp3",
      encrypted: true,
      tags: { Name: `${p.name}-seedbox-data` },
    });

    const userData = renderUserData({
      region: p.region,
      bucket: core.bucket.bucket,
      releaseKey: releaseObject.key,
      dataVolumeId: volume.id,
      serviceEnv: {
        AWS_REGION: p.region,
        T2S_DATA_DIR: "/var/lib/t2s",
        T2S_DOWNLOAD_DIR: "/var/lib/t2s/downloading",
        T2S_COMPLETED_DIR: "/var/lib/t2s/completed",
        ...coreEnv(core),
        T2S_API_TOKEN_PARAM: p.apiTokenParam,
      },
    }, { forTerraform: true });

    this.instance = new Instance(this, "instance", {
      ami: ami.id,
      instanceType: p.instanceType,
      subnetId: subnet.id,
      vpcSecurityGroupIds: [this.securityGroup.id],
      iamInstanceProfile: profile.name,
      metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
      rootBlockDevice: { volumeType: "gp3", volumeSize: 16, encrypted: true },
      userData,
      // A new release or setup script replaces the host; the data volume survives it.
      userDataReplaceOnChange: true,
      tags: { Name: `${p.name}-seedbox` },
    });
    new VolumeAttachment(this, "data-attachment", {
      deviceName: "/dev/sdf",
      volumeId: volume.id,
      instanceId: this.instance.id,
      stopInstanceBeforeDetaching: true,
    });
  }
}
