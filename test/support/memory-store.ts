// An in-memory JobStore with the same conditional-write contract, for unit tests of the registry's users.
import { dueOf, type JobRecord } from "../../lib/job-record.ts";
import type { Changes, DuePosition, JobStore, Page, Versioned } from "../../lib/job-store.ts";
import { addUsage, noUsage, type Usage } from "../../lib/cost.ts";

export class MemoryStore implements JobStore {
  readonly items = new Map<string, Versioned>();
  readonly months = new Map<string, Usage>();
  async addUsage(month: string, delta: Usage): Promise<void> {
    this.months.set(month, addUsage(this.months.get(month) ?? noUsage, delta));
  }
  async monthUsage(month: string): Promise<Usage> {
    return this.months.get(month) ?? noUsage;
  }
  async get(id: string): Promise<Versioned | null> {
    const v = this.items.get(id);
    return v ? structuredClone(v) : null;
  }
  async put(rec: JobRecord, expected: number | null): Promise<number | null> {
    const cur = this.items.get(rec.job.id);
    if ((cur?.version ?? null) !== expected) return null;
    const version = (cur?.version ?? 0) + 1;
    this.items.set(rec.job.id, { rec: structuredClone(rec), version });
    return version;
  }
  async list(): Promise<Page> {
    return { records: [...this.items.values()].map((v) => v.rec), next: null };
  }
  async changes(): Promise<Changes> {
    return { records: [], cursor: "x" };
  }
  async overdue(o: { upTo: string; after: DuePosition | null; limit: number }): Promise<Versioned[]> {
    const key = (due: string, id: string) => `${due}#${id}`;
    return [...this.items.values()]
      .map((v) => ({ v, due: dueOf(v.rec) }))
      .filter((x): x is { v: Versioned; due: string } => x.due !== null && x.due <= o.upTo && (!o.after || key(x.due, x.v.rec.job.id) > key(o.after.due, o.after.id)))
      .sort((a, b) => (key(a.due, a.v.rec.job.id) < key(b.due, b.v.rec.job.id) ? -1 : 1))
      .slice(0, o.limit)
      .map((x) => structuredClone(x.v));
  }
}
