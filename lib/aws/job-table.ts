// The job store on DynamoDB. One item per job, keyed by id; two indexes on one constant partition
// serve the newest-first list (by createdAt) and the change feed (by updatedAt). The record is kept
// gzipped in one binary attribute: it is read and written whole, and the gzip keeps a job of thousands
// of files inside DynamoDB's 400 KB item limit (and each write's cost low: it is billed per KB, three
// times, once per index).
import { gunzipSync, gzipSync } from "node:zlib";
import { ConditionalCheckFailedException, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { JobRecord } from "../apply-fact.ts";
import { advanceFeed, decodeFeedCursor, decodeListCursor, encodeFeedCursor, encodeListCursor, feedFrom } from "../cursors.ts";
import { AppError } from "../errors.ts";
import { recordExpiry } from "../job.ts";
import type { Changes, JobStore, Page, Versioned } from "../job-store.ts";
import { jobTableSchema } from "./job-table-schema.ts";

const kind = "job";
const maxItemBytes = 400 * 1024;

export interface Item {
  id: string;
  kind: string;
  created: string;
  changed: string;
  v: number;
  rec: Uint8Array;
  expires?: number;
}

export class JobTooLarge extends Error {
  override name = "JobTooLarge";
}

export class JobTable implements JobStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly retentionDays: number;
  private readonly now: () => Date;

  constructor(o: { client: DynamoDBClient; table: string; retentionDays: number; now?: () => Date }) {
    this.doc = DynamoDBDocumentClient.from(o.client);
    this.table = o.table;
    this.retentionDays = o.retentionDays;
    this.now = o.now ?? (() => new Date());
  }

  async get(id: string): Promise<Versioned | null> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: { id }, ConsistentRead: true }));
    return out.Item ? { rec: decodeRecord(out.Item as Item), version: (out.Item as Item).v } : null;
  }

  async put(rec: JobRecord, expected: number | null): Promise<number | null> {
    const version = (expected ?? 0) + 1;
    const item = jobItem(rec, version, this.retentionDays);
    try {
      await this.doc.send(new PutCommand({
        TableName: this.table,
        Item: item,
        ...(expected === null
          ? { ConditionExpression: "attribute_not_exists(id)" }
          : { ConditionExpression: "v = :v", ExpressionAttributeValues: { ":v": expected } }),
      }));
      return version;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException || (err as Error)?.name === "ConditionalCheckFailedException") return null;
      throw err;
    }
  }

  async list(o: { limit: number; cursor: string | null }): Promise<Page> {
    const start = o.cursor === null ? undefined : decodeListCursor(o.cursor);
    const out = await this.doc.send(new QueryCommand({
      TableName: this.table,
      IndexName: jobTableSchema.byCreated.name,
      KeyConditionExpression: "kind = :k",
      ExpressionAttributeValues: { ":k": kind },
      ScanIndexForward: false,
      Limit: o.limit,
      ...(start ? { ExclusiveStartKey: { id: start.id, kind, created: `${start.createdAt}#${start.id}` } } : {}),
    }));
    const records = (out.Items ?? []).map((i) => decodeRecord(i as Item));
    const last = records.at(-1);
    // DynamoDB says whether it stopped early; the cursor is made from the last job, never its key as is.
    const next = out.LastEvaluatedKey && last ? encodeListCursor({ createdAt: last.job.createdAt, id: last.job.id }) : null;
    return { records, next };
  }

  async changes(o: { since: string | null; limit: number }): Promise<Changes> {
    // From now on: the first read from this cursor looks back over the window anyway.
    if (o.since === null) return { records: [], cursor: encodeFeedCursor({ at: this.now().toISOString(), seen: [] }) };
    const pos = decodeFeedCursor(o.since);
    const out = await this.doc.send(new QueryCommand({
      TableName: this.table,
      IndexName: jobTableSchema.byChanged.name,
      KeyConditionExpression: "kind = :k AND changed > :from",
      ExpressionAttributeValues: { ":k": kind, ":from": feedFrom(pos) },
      ScanIndexForward: true,
      Limit: o.limit + pos.seen.length,
    }));
    const found = (out.Items ?? []).map((i) => {
      const rec = decodeRecord(i as Item);
      return { id: rec.job.id, version: (i as Item).v, updatedAt: rec.job.updatedAt, rec };
    });
    const { items, next } = advanceFeed(pos, found, o.limit);
    return { records: items.map((i) => i.rec), cursor: encodeFeedCursor(next) };
  }
}

/** The item of one version of a record (exported for loading many records at once in tests and benchmarks). */
export function jobItem(rec: JobRecord, version: number, retentionDays: number): Item {
  const job = rec.job;
  const body = gzipSync(JSON.stringify(rec));
  if (body.length > maxItemBytes - 1024) throw new JobTooLarge(`the record of job ${job.id} is ${body.length} bytes gzipped, over DynamoDB's item limit`);
  const expiry = recordExpiry(job, retentionDays);
  return {
    id: job.id,
    kind,
    created: `${job.createdAt}#${job.id}`,
    changed: `${job.updatedAt}#${job.id}`,
    v: version,
    rec: body,
    ...(expiry ? { expires: Math.floor(expiry.getTime() / 1000) } : {}),
  };
}

function decodeRecord(item: Item): JobRecord {
  try {
    return JSON.parse(gunzipSync(item.rec).toString("utf8")) as JobRecord;
  } catch (err) {
    throw new AppError("internal", "A job record could not be read.", { cause: err });
  }
}
