// The job store: where job records live, for any number of writers. Every write is conditional on
// the version it read, so two writers can never silently overwrite each other; listing is paged.
import type { Usage } from "./cost.ts";
import type { JobRecord } from "./job-record.ts";

export interface Versioned {
  rec: JobRecord;
  /** Bumped by every write; a write names the version it read. */
  version: number;
}

export interface Page {
  /** Newest first (by createdAt, then id). */
  records: JobRecord[];
  /** Opaque; null on the last page. */
  next: string | null;
}

export interface Changes {
  /** Records changed since the cursor, oldest change first; at least once (a change may come twice). */
  records: JobRecord[];
  /** Where to ask from next time. */
  cursor: string;
}

export interface JobStore {
  /** The current record and its version (a strongly consistent read), or null. */
  get(id: string): Promise<Versioned | null>;
  /**
   * Writes `rec` if the stored version is still `expected` (null: only if there is no record yet).
   * Returns the new version, or null when another writer got there first.
   */
  put(rec: JobRecord, expected: number | null): Promise<number | null>;
  /** One page of jobs, newest first. A cursor that is not one of `next`'s throws invalid_request. */
  list(o: { limit: number; cursor: string | null }): Promise<Page>;
  /** What changed since `since` (null: from now on). A bad cursor throws invalid_request. */
  changes(o: { since: string | null; limit: number }): Promise<Changes>;
  /**
   * Open jobs whose due time (lib/job-record.ts dueOf) is at or before `upTo`, earliest first, after the
   * position `after` (the last one of the previous call). Served by an index only open jobs are in.
   */
  overdue(o: { upTo: string; after: DuePosition | null; limit: number }): Promise<Versioned[]>;
  /** Adds a change in one job's usage to a month's totals ("2026-12"): one atomic add, no read. */
  addUsage(month: string, delta: Usage): Promise<void>;
  /** A month's usage totals (zeros for a month without any): one read, however many jobs ran. */
  monthUsage(month: string): Promise<Usage>;
}

/** A place in the order of due times. */
export interface DuePosition {
  due: string;
  id: string;
}

/** A record the store cannot hold (DynamoDB's item limit): the job fails with a plain reason instead. */
export class RecordTooLarge extends Error {
  override name = "RecordTooLarge";
}

export const pageLimits = { default: 50, max: 200 } as const;
