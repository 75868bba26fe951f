// One set of AWS SDK clients per process, built from config (a local endpoint in local mode).
import { S3Client } from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { AwsConfig } from "../config.ts";

export interface AwsClients {
  s3: S3Client;
  sqs: SQSClient;
  sns: SNSClient;
}

export function awsClients(cfg: Pick<AwsConfig, "region" | "endpoint">): AwsClients {
  const common = { region: cfg.region, maxAttempts: 4, ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}) };
  return {
    // A custom endpoint (moto) wants path-style bucket addressing.
    s3: new S3Client({ ...common, forcePathStyle: cfg.endpoint !== undefined }),
    sqs: new SQSClient(common),
    sns: new SNSClient(common),
  };
}

export function destroyClients(c: AwsClients): void {
  c.s3.destroy();
  c.sqs.destroy();
  c.sns.destroy();
}
