// Local mode: the core resources applied to a local AWS endpoint (moto) by real terraform.
import { LocalBackend, TerraformStack, TerraformVariable } from "cdktf";
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
    const name = new TerraformVariable(this, "name", { type: "string", default: "t2s" });
    const e = endpoint.stringValue;
    new AwsProvider(this, "aws", {
      region: "us-east-1",
      // moto accepts any keys; these are not secrets.
      accessKey: "test",
      secretKey: "test",
      skipCredentialsValidation: true,
      skipRequestingAccountId: true,
      skipMetadataApiCheck: "true",
      s3UsePathStyle: true,
      endpoints: [{ s3: e, sqs: e, sns: e, iam: e, sts: e, ec2: e, ssm: e, lambda: e, dynamodb: e }],
    });
    const core = new CoreResources(this, "core", { name: name.stringValue, retentionDays: 7, maxReceiveCount: 3, forceDestroy: true, tlsOnly: false });
    // tlsOnly is off because moto speaks plain HTTP and enforces bucket policies: a TLS-only policy would refuse every write.
    coreOutputs(this, core);
  }
}
