// The job store in one SQLite file (node:sqlite), for local mode: durable across restarts and kill -9
// (WAL), and safe for several processes at once, because every write is one conditional statement
// (an UPDATE on the version it read, or an INSERT that does nothing when the row exists).
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { dueOf, type JobRecord } from "../job-record.ts";
import { decodeListCursor, encodeListCursor, readChanges, type FeedRow } from "../cursors.ts";
import { AppError } from "../errors.ts";
import { recordExpiry } from "../job.ts";
import type { Changes, DuePosition, JobStore, Page, Versioned } from "../job-store.ts";
import { noUsage, usageKeys, type Usage } from "../cost.ts";

interface Row {
  v: number;
  rec: string;
}

export class JobDb implements JobStore {
  private readonly db: DatabaseSync;
  private readonly retentionDays: number;
  private readonly now: () => Date;
  private readonly q: Record<"get" | "insert" | "update" | "first" | "after" | "fresh" | "late" | "forget" | "remove" | "dueFirst" | "dueAfter" | "addUsage" | "monthUsage", StatementSync>;

  constructor(o: { path: string; retentionDays: number; now?: () => Date }) {
    this.db = new DatabaseSync(o.path);
    this.retentionDays = o.retentionDays;
    this.now = o.now ?? (() => new Date());
    // WAL: readers never block the writer and a killed process loses nothing it committed. Other
    // processes' writes wait (busy_timeout) rather than fail: ingest and every local seedbox share the
    // file. busy_timeout comes first, so that even switching to WAL waits for a writer in another process.
    this.db.exec(`
      PRAGMA busy_timeout = 10000;
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        v INTEGER NOT NULL,
        created TEXT NOT NULL,
        changed TEXT NOT NULL,
        expires INTEGER,
        rec TEXT NOT NULL
      ) STRICT;
      CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created, id);
      CREATE INDEX IF NOT EXISTS jobs_by_changed ON jobs (changed, id);
    `);
    // The sweeper's due time, NULL once a job has ended; a partial index holds only the open jobs.
    // Files from before it get the column here, and the records their due time at their next write.
    const columns = this.db.prepare("SELECT name FROM pragma_table_info('jobs')").all() as { name: string }[];
    if (!columns.some((c) => c.name === "due")) {
      try {
        this.db.exec("ALTER TABLE jobs ADD COLUMN due TEXT");
      } catch (err) {
        // Another process opening a new file at the same moment (ingest and a seedbox) added it first.
        if (!/duplicate column name/.test((err as Error).message)) throw err;
      }
    }
    this.db.exec("CREATE INDEX IF NOT EXISTS jobs_by_due ON jobs (due, id) WHERE due IS NOT NULL");
    // Each month's usage totals (lib/cost.ts): one row a month, added to by every job's write.
    this.db.exec(`CREATE TABLE IF NOT EXISTS usage (month TEXT PRIMARY KEY, ${usageKeys.map((k) => `${k} REAL NOT NULL DEFAULT 0`).join(", ")}) STRICT`);
    const p = (sql: string) => this.db.prepare(sql);
    this.q = {
      get: p("SELECT v, rec FROM jobs WHERE id = ?"),
      insert: p("INSERT INTO jobs (id, v, created, changed, expires, due, rec) VALUES (?, 1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"),
      update: p("UPDATE jobs SET v = v + 1, created = ?, changed = ?, expires = ?, due = ?, rec = ? WHERE id = ? AND v = ?"),
      first: p("SELECT v, rec FROM jobs ORDER BY created DESC, id DESC LIMIT ?"),
      after: p("SELECT v, rec FROM jobs WHERE (created, id) < (?, ?) ORDER BY created DESC, id DESC LIMIT ?"),
      fresh: p("SELECT v, rec FROM jobs WHERE (changed, id) > (?, ?) ORDER BY changed, id LIMIT ?"),
      late: p("SELECT v, rec FROM jobs WHERE changed >= ? AND (changed, id) <= (?, ?) ORDER BY changed DESC, id DESC LIMIT ?"),
      forget: p("DELETE FROM jobs WHERE expires IS NOT NULL AND expires < ?"),
      remove: p("DELETE FROM jobs WHERE id = ?"),
      dueFirst: p("SELECT v, rec FROM jobs WHERE due IS NOT NULL AND due <= ? ORDER BY due, id LIMIT ?"),
      dueAfter: p("SELECT v, rec FROM jobs WHERE due IS NOT NULL AND due <= ? AND (due, id) > (?, ?) ORDER BY due, id LIMIT ?"),
      addUsage: p(`INSERT INTO usage (month, ${usageKeys.join(", ")}) VALUES (?, ${usageKeys.map(() => "?").join(", ")})
        ON CONFLICT (month) DO UPDATE SET ${usageKeys.map((k) => `${k} = ${k} + excluded.${k}`).join(", ")}`),
      monthUsage: p(`SELECT ${usageKeys.join(", ")} FROM usage WHERE month = ?`),
    };
    // What DynamoDB's TTL does in AWS mode: ended jobs' records go some time after their files.
    this.q.forget.run(Math.floor(this.now().getTime() / 1000));
  }

  /** Forgets one job's record (tests tidy up with it; the API never deletes records). */
  remove(id: string): void {
    this.q.remove.run(id);
  }

  close(): void {
    this.db.close();
  }

  async get(id: string): Promise<Versioned | null> {
    const row = this.q.get.get(id) as Row | undefined;
    return row ? { rec: decode(row), version: row.v } : null;
  }

  async put(rec: JobRecord, expected: number | null): Promise<number | null> {
    const job = rec.job;
    const expiry = recordExpiry(job, this.retentionDays);
    const expires = expiry ? Math.floor(expiry.getTime() / 1000) : null;
    const body = JSON.stringify(rec);
    const due = dueOf(rec);
    const r = expected === null
      ? this.q.insert.run(job.id, job.createdAt, job.updatedAt, expires, due, body)
      : this.q.update.run(job.createdAt, job.updatedAt, expires, due, body, job.id, expected);
    return r.changes === 1 ? (expected ?? 0) + 1 : null;
  }

  async list(o: { limit: number; cursor: string | null }): Promise<Page> {
    const start = o.cursor === null ? null : decodeListCursor(o.cursor);
    // One more than asked says whether another page follows.
    const rows = (start ? this.q.after.all(start.createdAt, start.id, o.limit + 1) : this.q.first.all(o.limit + 1)) as unknown as Row[];
    const records = rows.slice(0, o.limit).map(decode);
    const last = records.at(-1);
    const next = rows.length > o.limit && last ? encodeListCursor({ createdAt: last.job.createdAt, id: last.job.id }) : null;
    return { records, next };
  }

  changes(o: { since: string | null; limit: number }): Promise<Changes> {
    const rows = (r: unknown[]): FeedRow[] => (r as Row[]).map((row) => {
      const rec = decode(row);
      return { id: rec.job.id, version: row.v, updatedAt: rec.job.updatedAt, rec };
    });
    return readChanges(o, this.now(), {
      fresh: async (after, limit) => rows(this.q.fresh.all(after.at, after.id, limit)),
      late: async (from, upTo, limit) => rows(this.q.late.all(from, upTo.at, upTo.id, limit)),
    });
  }

  async addUsage(month: string, delta: Usage): Promise<void> {
    this.q.addUsage.run(month, ...usageKeys.map((k) => delta[k]));
  }

  async monthUsage(month: string): Promise<Usage> {
    const row = this.q.monthUsage.get(month) as Usage | undefined;
    return row ? { ...row } : { ...noUsage };
  }

  async overdue(o: { upTo: string; after: DuePosition | null; limit: number }): Promise<Versioned[]> {
    const rows = (o.after ? this.q.dueAfter.all(o.upTo, o.after.due, o.after.id, o.limit) : this.q.dueFirst.all(o.upTo, o.limit)) as unknown as Row[];
    return rows.map((row) => ({ rec: decode(row), version: row.v }));
  }

}

function decode(row: Row): JobRecord {
  try {
    return JSON.parse(row.rec) as JobRecord;
  } catch (err) {
    throw new AppError("internal", "A job record could not be read.", { cause: err });
  }
}
