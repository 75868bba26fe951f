// The job store in one SQLite file (node:sqlite), for local mode: durable across restarts and kill -9
// (WAL), and safe for several processes at once, because every write is one conditional statement
// (an UPDATE on the version it read, or an INSERT that does nothing when the row exists).
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { JobRecord } from "../apply-fact.ts";
import { decodeListCursor, encodeListCursor, readChanges, type FeedRow } from "../cursors.ts";
import { AppError } from "../errors.ts";
import { recordExpiry } from "../job.ts";
import type { Changes, JobStore, Page, Versioned } from "../job-store.ts";

interface Row {
  v: number;
  rec: string;
}

export class JobDb implements JobStore {
  private readonly db: DatabaseSync;
  private readonly retentionDays: number;
  private readonly now: () => Date;
  private readonly q: Record<"get" | "insert" | "update" | "first" | "after" | "fresh" | "late" | "forget" | "remove", StatementSync>;

  constructor(o: { path: string; retentionDays: number; now?: () => Date }) {
    this.db = new DatabaseSync(o.path);
    this.retentionDays = o.retentionDays;
    this.now = o.now ?? (() => new Date());
    // WAL: readers never block the writer and a killed process loses nothing it committed. Other
    // processes' writes wait (busy_timeout) rather than fail.
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      PRAGMA busy_timeout = 10000;
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
    const p = (sql: string) => this.db.prepare(sql);
    this.q = {
      get: p("SELECT v, rec FROM jobs WHERE id = ?"),
      insert: p("INSERT INTO jobs (id, v, created, changed, expires, rec) VALUES (?, 1, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"),
      update: p("UPDATE jobs SET v = v + 1, created = ?, changed = ?, expires = ?, rec = ? WHERE id = ? AND v = ?"),
      first: p("SELECT v, rec FROM jobs ORDER BY created DESC, id DESC LIMIT ?"),
      after: p("SELECT v, rec FROM jobs WHERE (created, id) < (?, ?) ORDER BY created DESC, id DESC LIMIT ?"),
      fresh: p("SELECT v, rec FROM jobs WHERE (changed, id) > (?, ?) ORDER BY changed, id LIMIT ?"),
      late: p("SELECT v, rec FROM jobs WHERE changed >= ? AND (changed, id) <= (?, ?) ORDER BY changed DESC, id DESC LIMIT ?"),
      forget: p("DELETE FROM jobs WHERE expires IS NOT NULL AND expires < ?"),
      remove: p("DELETE FROM jobs WHERE id = ?"),
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
    const r = expected === null
      ? this.q.insert.run(job.id, job.createdAt, job.updatedAt, expires, body)
      : this.q.update.run(job.createdAt, job.updatedAt, expires, body, job.id, expected);
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

}

function decode(row: Row): JobRecord {
  try {
    return JSON.parse(row.rec) as JobRecord;
  } catch (err) {
    throw new AppError("internal", "A job record could not be read.", { cause: err });
  }
}
