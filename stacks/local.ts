// Local mode: the core resources applied by real terraform to the local endpoints: moto for queues and
// topics, and the disk-backed local S3 store for the bucket.
import { Fn, LocalBackend, TerraformStack, TerraformVariable } from "cdktf";
import type { Construct } from "constructs";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider/index.js";
import { CoreResources, coreOutputs } from "./core.ts";

export class LocalStack extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    // State sits beside the synthesized stack, in the local data folder.
    new LocalBackend(this, { path: "terraform.tfstate" });
    const endpoint = new TerraformVariable(this, "aws_endpoint", {
      type: "string",
      description: "The local AWS endpoint, e.g. http://127.0.0.1:5000",
    });
    const s3Endpoint = new TerraformVariable(this, "s3_endpoint", {
      type: "string",
      default: "",
      description: "The local S3 store, e.g. http://127.0.0.1:8333 (empty: the AWS endpoint serves S3 too)",
    });
    const name = new TerraformVariable(this, "name", { type: "string", default: "t2s" });
    const retention = new TerraformVariable(this, "retention_days", { type: "number", default: 7, description: "Days before incoming/ and files/ expire (T2S_RETENTION_DAYS)" });
    const e = endpoint.stringValue;
    const s3 = Fn.coalesce([s3Endpoint.stringValue, e]);
    new AwsProvider(this, "aws", {
      region: "us-east-1",
      // Keys come from the environment: the local S3 store's generated keys (moto takes any).
      skipCredentialsValidation: true,
      skipRequestingAccountId: true,
      skipMetadataApiCheck: "true",
      s3UsePathStyle: true,
      endpoints: [{ s3, sqs: e, sns: e, iam: e, sts: e, ec2: e, ssm: e, lambda: e, dynamodb: e }],
    });
    const core = new CoreResources(this, "core", { name: name.stringValue, retentionDays: retention.numberValue, maxReceiveCount: 10, forceDestroy: true, tlsOnly: false, s3Extras: false });
    // Ten receives with the consumer's growing backoff ride out about 20 minutes of trouble (the store, a
    // write conflict) before a message counts as dead; poison comes back at once and gets there in seconds.
    // tlsOnly is off because the local store speaks plain HTTP and enforces bucket policies: a TLS-only
    // policy would refuse every write. It has no Block Public Access and no notifications (s3Extras).
    coreOutputs(this, core);
  }
}
