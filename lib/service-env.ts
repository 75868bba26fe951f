// The environment by which a deployer (stacks/ in AWS mode, scripts/local/stack.ts locally) hands the
// services their resources: each name declared once, written by the deployers and read by the config
// readers (lib/config.ts, lib/open-job-store.ts, ingest/config.ts) through this table.
// No imports: stacks/ loads this file at synth time.

export const serviceEnvNames = {
  bucket: "T2S_BUCKET",
  requestsTopicArn: "T2S_REQUESTS_TOPIC_ARN",
  requestsQueueUrl: "T2S_REQUESTS_QUEUE_URL",
  factsTopicArn: "T2S_FACTS_TOPIC_ARN",
  factsQueueUrl: "T2S_FACTS_QUEUE_URL",
  updatesTopicArn: "T2S_UPDATES_TOPIC_ARN",
  /** ingest: the webhook deliveries' queue; unset, no webhooks. */
  webhooksQueueUrl: "T2S_WEBHOOKS_QUEUE_URL",
  /** The job store: a DynamoDB table (AWS mode) or a SQLite file (local mode), exactly one of them. */
  jobsTable: "T2S_JOBS_TABLE",
  jobsDb: "T2S_JOBS_DB",
} as const;

/** The core's addresses, which every service gets (lib/config.ts awsConfig reads them). */
export const coreKeys = ["bucket", "requestsTopicArn", "requestsQueueUrl", "factsTopicArn", "factsQueueUrl", "updatesTopicArn"] as const;
export type CoreAddresses = Record<(typeof coreKeys)[number], string>;

/** The core's addresses as environment variables. */
export function coreEnv(a: CoreAddresses): Record<string, string> {
  return Object.fromEntries(coreKeys.map((k) => [serviceEnvNames[k], a[k]]));
}
