// Which job store a service uses: a DynamoDB table (AWS mode) or one SQLite file (local mode), shared by
// ingest and the seedboxes alike.
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { JobTable } from "./aws/job-table.ts";
import { ConfigError, num, optional, type Env } from "./config.ts";
import type { JobStore } from "./job-store.ts";
import { serviceEnvNames } from "./service-env.ts";
import { JobDb } from "./sqlite/job-db.ts";

export interface JobStoreConfig {
  table: string | undefined;
  db: string | undefined;
  /** Days after which the bucket expires a job's files. */
  retentionDays: number;
}

export function jobStoreConfig(env: Env): JobStoreConfig {
  const table = optional(env, serviceEnvNames.jobsTable);
  const db = optional(env, serviceEnvNames.jobsDb);
  if ((table === undefined) === (db === undefined)) throw new ConfigError(`set exactly one of ${serviceEnvNames.jobsTable} (DynamoDB) and ${serviceEnvNames.jobsDb} (a SQLite file)`);
  return { table, db, retentionDays: retentionDays(env) };
}

/** T2S_RETENTION_DAYS: what ingest shows and, in local mode, the bucket's expiry rule too. */
export const retentionDays = (env: Env): number => num(env, "T2S_RETENTION_DAYS", 7);

export function openJobStore(cfg: JobStoreConfig, dynamodb: DynamoDBClient): JobStore & { close(): void } {
  if (cfg.db) return new JobDb({ path: cfg.db, retentionDays: cfg.retentionDays });
  const table = new JobTable({ client: dynamodb, table: cfg.table!, retentionDays: cfg.retentionDays });
  return Object.assign(table, { close: () => {} });
}
