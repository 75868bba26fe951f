// The job store on DynamoDB. One item per job, keyed by id; two indexes on one constant partition
// serve the newest-first list (by createdAt) and the change feed (by updatedAt). The record is kept
// gzipped in one binary attribute: it is read and written whole, and the gzip keeps a job of thousands
// of files inside DynamoDB's 400 KB item limit (and each write's cost low: it is billed per KB, three
// times, once per index).
import { gunzipSync, gzipSync } from "node:zlib";
import { ConditionalCheckFailedException, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { noUsage, usageKeys, type Usage } from "../cost.ts";
import { dueOf, type JobRecord } from "../job-record.ts";
import { decodeListCursor, encodeListCursor, readChanges, type FeedRow } from "../cursors.ts";
import { AppError } from "../errors.ts";
import { recordExpiry } from "../job.ts";
import { RecordTooLarge, type Changes, type DuePosition, type JobStore, type Page, type Versioned } from "../job-store.ts";
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
  /** Only on open jobs: the sweeper's sparse index. */
  open?: string;
  due?: string;
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
      // One more than asked says whether another page follows (DynamoDB's LastEvaluatedKey also comes
      // after a page that is exactly full).
      Limit: o.limit + 1,
      ...(start ? { ExclusiveStartKey: { id: start.id, kind, created: `${start.createdAt}#${start.id}` } } : {}),
    }));
    const items = out.Items ?? [];
    const records = items.slice(0, o.limit).map((i) => decodeRecord(i as Item));
    const last = records.at(-1);
    // The cursor is made from the last job, never from DynamoDB's key as is.
    // LastEvaluatedKey without the extra item: DynamoDB stopped at its 1 MB page size, and more follow.
    const more = items.length > o.limit || out.LastEvaluatedKey !== undefined;
    const next = more && last ? encodeListCursor({ createdAt: last.job.createdAt, id: last.job.id }) : null;
    return { records, next };
  }

  changes(o: { since: string | null; limit: number }): Promise<Changes> {
    const query = async (cond: string, values: Record<string, string>, forward: boolean, limit: number): Promise<FeedRow[]> => {
      const out = await this.doc.send(new QueryCommand({
        TableName: this.table,
        IndexName: jobTableSchema.byChanged.name,
        KeyConditionExpression: `kind = :k AND ${cond}`,
        ExpressionAttributeValues: { ":k": kind, ...values },
        ScanIndexForward: forward,
        Limit: limit,
      }));
      return (out.Items ?? []).map((i) => {
        const rec = decodeRecord(i as Item);
        return { id: rec.job.id, version: (i as Item).v, updatedAt: rec.job.updatedAt, rec };
      });
    };
    // The index's sort key is `${updatedAt}#${id}`: feed order as one string.
    const key = (p: { at: string; id: string }) => `${p.at}#${p.id}`;
    return readChanges(o, this.now(), {
      fresh: (after, limit) => query("changed > :pos", { ":pos": key(after) }, true, limit),
      late: (from, upTo, limit) => query("changed BETWEEN :from AND :pos", { ":from": from, ":pos": key(upTo) }, false, limit),
    });
  }

  // A month's totals are one item beside the jobs ("usage#2026-12": never a job id), in no index: it has no kind.
  async addUsage(month: string, delta: Usage): Promise<void> {
    await this.doc.send(new UpdateCommand({
      TableName: this.table,
      Key: { id: usageId(month) },
      UpdateExpression: `ADD ${usageKeys.map((k, i) => `#k${i} :v${i}`).join(", ")}`,
      ExpressionAttributeNames: Object.fromEntries(usageKeys.map((k, i) => [`#k${i}`, k])),
      ExpressionAttributeValues: Object.fromEntries(usageKeys.map((k, i) => [`:v${i}`, delta[k]])),
    }));
  }

  async monthUsage(month: string): Promise<Usage> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: { id: usageId(month) }, ConsistentRead: true }));
    const item = (out.Item ?? {}) as Record<string, unknown>;
    return Object.fromEntries(usageKeys.map((k) => [k, Number(item[k] ?? noUsage[k])])) as unknown as Usage;
  }

  async overdue(o: { upTo: string; after: DuePosition | null; limit: number }): Promise<Versioned[]> {
    const s = jobTableSchema.byDue;
    // "~" sorts after every hex digit: every id of the last due time is included.
    const out = await this.doc.send(new QueryCommand({
      TableName: this.table,
      IndexName: s.name,
      KeyConditionExpression: `#open = :k AND #due ${o.after ? "BETWEEN :from AND :to" : "<= :to"}`,
      ExpressionAttributeNames: { "#open": s.hashKey, "#due": s.rangeKey },
      ExpressionAttributeValues: { ":k": kind, ":to": `${o.upTo}#~`, ...(o.after ? { ":from": `${o.after.due}#${o.after.id}!` } : {}) },
      Limit: o.limit,
    }));
    return (out.Items ?? []).map((i) => ({ rec: decodeRecord(i as Item), version: (i as Item).v }));
  }

}

/** The item of one version of a record (exported for loading many records at once in tests and benchmarks). */
export function jobItem(rec: JobRecord, version: number, retentionDays: number): Item {
  const job = rec.job;
  const body = gzipSync(JSON.stringify(rec));
  if (body.length > maxItemBytes - 1024) throw new RecordTooLarge(`the record of job ${job.id} is ${body.length} bytes gzipped, over DynamoDB's item limit`);
  const expiry = recordExpiry(job, retentionDays);
  const due = dueOf(rec);
  return {
    id: job.id,
    kind,
    created: `${job.createdAt}#${job.id}`,
    changed: `${job.updatedAt}#${job.id}`,
    v: version,
    rec: body,
    ...(expiry ? { expires: Math.floor(expiry.getTime() / 1000) } : {}),
    ...(due !== null ? { open: kind, due: `${due}#${job.id}` } : {}),
  };
}

const usageId = (month: string) => `usage#${month}`;

function decodeRecord(item: Item): JobRecord {
  try {
    return JSON.parse(gunzipSync(item.rec).toString("utf8")) as JobRecord;
  } catch (err) {
    throw new AppError("internal", "A job record could not be read.", { cause: err });
  }
}
