// Job tables for store tests and benchmarks: created from the adapter's own schema (the same one
// stacks/ builds), and filled with many records at once.
import { CreateTableCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { BatchWriteCommand, DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { JobRecord } from "../../lib/job-record.ts";
import { jobItem } from "../../lib/aws/job-table.ts";
import { jobTableSchema as s } from "../../lib/aws/job-table-schema.ts";
import { newJob } from "../../lib/job.ts";

export async function createJobTable(client: DynamoDBClient, name: string): Promise<void> {
  const index = (i: { name: string; hashKey?: string; rangeKey: string }) => ({
    IndexName: i.name,
    KeySchema: [{ AttributeName: i.hashKey ?? s.kindKey, KeyType: "HASH" as const }, { AttributeName: i.rangeKey, KeyType: "RANGE" as const }],
    Projection: { ProjectionType: "ALL" as const },
  });
  await client.send(new CreateTableCommand({
    TableName: name,
    BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: [s.hashKey, s.kindKey, s.byCreated.rangeKey, s.byChanged.rangeKey, s.byDue.hashKey, s.byDue.rangeKey].map((a) => ({ AttributeName: a, AttributeType: "S" })),
    KeySchema: [{ AttributeName: s.hashKey, KeyType: "HASH" }],
    GlobalSecondaryIndexes: [index(s.byCreated), index(s.byChanged), index(s.byDue)],
  }));
}

export const randomId = () => [...crypto.getRandomValues(new Uint8Array(20))].map((b) => b.toString(16).padStart(2, "0")).join("");

/** A queued job created at `createdAt`. */
export function jobRecord(createdAt: string, id = randomId()): JobRecord {
  return { job: newJob({ id, name: `job ${id.slice(0, 8)}`, size: 1000, requester: { via: "api", user: "seed" }, now: createdAt }), lastFactAt: null, files: [] };
}

/** Writes records as version 1, 25 to a call, a few calls at once. */
export async function loadRecords(client: DynamoDBClient, table: string, recs: JobRecord[]): Promise<void> {
  const doc = DynamoDBDocumentClient.from(client);
  const batches: JobRecord[][] = [];
  for (let i = 0; i < recs.length; i += 25) batches.push(recs.slice(i, i + 25));
  const next = async (): Promise<void> => {
    const b = batches.shift();
    if (!b) return;
    let items: Record<string, unknown> = { [table]: b.map((r) => ({ PutRequest: { Item: jobItem(r, 1, 7) } })) };
    while (Object.keys(items).length > 0) {
      const out = await doc.send(new BatchWriteCommand({ RequestItems: items as never }));
      items = (out.UnprocessedItems ?? {}) as Record<string, unknown>;
    }
    return next();
  };
  await Promise.all(Array.from({ length: 8 }, next));
}
