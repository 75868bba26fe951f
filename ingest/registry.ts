// The job registry: job records in S3 (jobs/<id>.json), written only by ingest, one writer per id at a time.
import type { JobRecord } from "../lib/apply-fact.ts";
import type { Bucket } from "../lib/aws/bucket.ts";
import { idFromJobKey, jobKey, jobsPrefix } from "../lib/layout.ts";

export type JobListener = (rec: JobRecord) => void;

export class JobRegistry {
  private readonly bucket: Bucket;
  private readonly cache = new Map<string, JobRecord>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly listeners = new Set<JobListener>();
  private loaded: Promise<void> | null = null;

  constructor(bucket: Bucket) {
    this.bucket = bucket;
  }

  private async read(id: string): Promise<JobRecord | null> {
    const raw = await this.bucket.get(jobKey(id));
    return raw ? (JSON.parse(raw.toString("utf8")) as JobRecord) : null;
  }

  /** Loads every record once, so listing is served from memory. */
  private load(): Promise<void> {
    this.loaded ??= (async () => {
      const ids = (await this.bucket.list(jobsPrefix)).map(idFromJobKey).filter((id): id is string => id !== null);
      await Promise.all(ids.map(async (id) => {
        const rec = await this.read(id);
        if (rec && !this.cache.has(id)) this.cache.set(id, rec);
      }));
    })().catch((err) => {
      this.loaded = null;
      throw err;
    });
    return this.loaded;
  }

  async record(id: string): Promise<JobRecord | null> {
    await this.load();
    return this.cache.get(id) ?? null;
  }

  /** Every job record, newest first. */
  async list(): Promise<JobRecord[]> {
    await this.load();
    return [...this.cache.values()].sort((a, b) => b.job.createdAt.localeCompare(a.job.createdAt) || a.job.id.localeCompare(b.job.id));
  }

  /**
   * Changes one record: `change` gets the current record (or null) and returns the new one, or null
   * to leave it. Changes to one id run one at a time; the result is persisted before listeners hear of it.
   */
  update(id: string, change: (rec: JobRecord | null) => JobRecord | null | Promise<JobRecord | null>): Promise<JobRecord | null> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const run = prev.catch(() => {}).then(async () => {
      await this.load();
      const next = await change(this.cache.get(id) ?? null);
      if (!next) return null;
      await this.bucket.putJson(jobKey(id), next);
      this.cache.set(id, next);
      for (const l of this.listeners) l(next);
      return next;
    });
    this.locks.set(id, run);
    void run.finally(() => {
      if (this.locks.get(id) === run) this.locks.delete(id);
    }).catch(() => {});
    return run;
  }

  subscribe(listener: JobListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
