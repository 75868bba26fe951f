// One set of AWS SDK clients per process, built from config (a local endpoint in local mode).
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { AwsConfig } from "../config.ts";

export interface AwsClients {
  s3: S3Client;
  sqs: SQSClient;
  sns: SNSClient;
  dynamodb: DynamoDBClient;
}

type Credentials = { accessKeyId: string; secretAccessKey: string };

/**
 * What every AWS client here shares. Without timeouts the SDK waits on a stalled connection indefinitely
 * (4 attempts). A try fails after 5 s without a connection, or 30 s of silence on the socket (above SQS's
 * 20 s long poll). That is smithy's `socketTimeout`: its `requestTimeout` caps a whole request, which a
 * long upload may rightly exceed.
 */
export function clientDefaults(cfg: { region: string; endpoint?: string | undefined }, credentials?: Credentials, timeouts = { connectMs: 5_000, silenceMs: 30_000 }) {
  return {
    region: cfg.region,
    maxAttempts: 4,
    requestHandler: { connectionTimeout: timeouts.connectMs, socketTimeout: timeouts.silenceMs },
    ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
    ...(credentials ? { credentials } : {}),
  };
}

/** `credentials` only for a local endpoint that the process's environment does not name keys for (tests). */
export function awsClients(cfg: Pick<AwsConfig, "region" | "endpoint"> & { s3Endpoint?: string | undefined }, credentials?: Credentials): AwsClients {
  const s3 = cfg.s3Endpoint ?? cfg.endpoint;
  const common = clientDefaults(cfg, credentials);
  return {
    // A local endpoint (the disk-backed store, or moto) wants path-style bucket addressing.
    s3: new S3Client({ ...common, ...(s3 ? { endpoint: s3 } : {}), forcePathStyle: s3 !== undefined }),
    sqs: new SQSClient(common),
    sns: new SNSClient(common),
    dynamodb: new DynamoDBClient(common),
  };
}

export function destroyClients(c: AwsClients): void {
  c.s3.destroy();
  c.sqs.destroy();
  c.sns.destroy();
  c.dynamodb.destroy();
}
