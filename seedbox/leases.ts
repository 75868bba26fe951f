// The seedbox's leases: the jobs it holds, taken before a torrent is added, renewed while it works and
// released when it is done. A renewal that finds the lease taken over (fenced) drops the job here; one that
// finds the job cancelled removes it and its files. Every write is a named change (lib/job-record.ts)
// through the one update path (lib/job-update.ts).
import type { Publish } from "../lib/aws/topic.ts";
import type { FileSelection } from "../lib/file-selection.ts";
import { countHandBack, releaseLease, renewLease, requestOf, selectionOf, takeLease, type JobRecord, type RenewResult } from "../lib/job-record.ts";
import type { JobStore } from "../lib/job-store.ts";
import { updateRecord } from "../lib/job-update.ts";
import type { LeaseTiming } from "../lib/lease.ts";
import type { Logger } from "../lib/log.ts";
import { sleep } from "../lib/time.ts";

export interface LeasesDeps {
  store: JobStore;
  /** This seedbox's stable id (the instance id in AWS, seedbox-N locally). */
  me: string;
  timing: LeaseTiming;
  publishRequest: Publish;
  log: Logger;
  /** Stops all work on a job and removes its torrent and data from Deluge; the bucket is not touched. */
  drop: (id: string) => Promise<void>;
  /** Removes a cancelled job: its torrent, its open uploads and its files in the bucket. */
  cancelled: (id: string) => Promise<void>;
  /** Right after a take, before any work: clears what an earlier holder left open (multipart uploads). */
  taken?: (id: string) => Promise<void>;
  /** The jobs whose torrents Deluge has now (null: it cannot tell), so a lease with nothing behind it ends. */
  inEngine?: () => Promise<Set<string> | null>;
  nowMs?: () => number;
}

export type TakeOutcome = "taken" | "held" | "ended" | "missing";

export class Leases {
  private readonly d: LeasesDeps;
  /** Job id → the epoch this seedbox holds it under. */
  private readonly held = new Map<string, number>();
  /** Job id → when this seedbox took it: a torrent being added is not missing yet. */
  private readonly heldSince = new Map<string, number>();
  /** Takes under way (one per job at a time): they count against capacity already. */
  private readonly taking = new Map<string, Promise<TakeOutcome>>();
  private readonly now: () => number;

  constructor(d: LeasesDeps) {
    this.d = d;
    this.now = d.nowMs ?? Date.now;
  }

  /** This seedbox's id. */
  get me(): string {
    return this.d.me;
  }

  /** Jobs held or being taken: what capacity is measured against. */
  count(): number {
    return this.held.size + this.taking.size;
  }

  holds(id: string): boolean {
    return this.held.has(id);
  }

  ids(): string[] {
    return [...this.held.keys()];
  }

  /** Reads the job's record (null: none). */
  async record(id: string): Promise<JobRecord | null> {
    return (await this.d.store.get(id))?.rec ?? null;
  }

  /** The files the job's record chooses (null: every file, or no record). */
  async chosen(id: string): Promise<FileSelection | null> {
    const rec = await this.record(id);
    return rec ? selectionOf(rec.job) : null;
  }

  /** Takes the job's lease: free, expired, or this seedbox's own from before a restart. */
  take(id: string): Promise<TakeOutcome> {
    if (this.held.has(id)) return Promise.resolve("taken");
    const pending = this.taking.get(id);
    if (pending) return pending;
    const p = this.takeNow(id).finally(() => this.taking.delete(id));
    this.taking.set(id, p);
    return p;
  }

  private async takeNow(id: string): Promise<TakeOutcome> {
    let outcome = "missing" as TakeOutcome;
    let epoch = 0;
    await updateRecord(this.d.store, id, (r) => {
      if (!r) return (outcome = "missing"), null;
      const t = takeLease(r, this.d.me, this.now(), this.d.timing);
      if (!t.ok) return (outcome = t.why), null;
      outcome = "taken";
      epoch = t.lease.epoch;
      return t.rec;
    });
    if (outcome === "taken") {
      await this.d.taken?.(id).catch((err) => this.d.log.warn("could not clear what an earlier holder left", { job: id, err }));
      this.held.set(id, epoch);
      this.heldSince.set(id, this.now());
      this.d.log.info("lease taken", { job: id, epoch });
    }
    return outcome;
  }

  /**
   * For a torrent found in Deluge that this seedbox does not hold (a restart): holds it again if it may.
   * A finished torrent (`done`) of a completed job stays to seed: its files are up, it needs no lease.
   */
  async ensure(id: string, o: { done?: boolean } = {}): Promise<"held" | "seed" | "drop"> {
    if (this.held.has(id)) return "held";
    const outcome = await this.take(id);
    if (outcome === "taken") return "held";
    if (outcome === "ended" && o.done && (await this.record(id))?.job.status === "completed") return "seed";
    this.d.log.info("dropping a torrent this seedbox does not hold", { job: id, why: outcome });
    return "drop";
  }

  /** Lets the job go (done with it, or failed it); no write when it is no longer this seedbox's. */
  async release(id: string, o: { handBack?: boolean } = {}): Promise<void> {
    const epoch = this.held.get(id);
    if (epoch === undefined) return;
    this.held.delete(id);
    this.heldSince.delete(id);
    let cancelled = false;
    await updateRecord(this.d.store, id, (r) => {
      cancelled = r?.job.status === "cancelled";
      return releaseLease(r, this.d.me, epoch, this.now(), this.d.timing, o);
    });
    this.d.log.info(o.handBack ? "lease handed back" : "lease released", { job: id, epoch });
    // Cancelled while this seedbox held it: ingest left the clean-up to the holder, and no renewal will
    // come. Not awaited: a release from inside the job's upload would otherwise wait on the removal, which
    // waits for that upload to end.
    if (cancelled) {
      this.d.log.info("job cancelled; removing it", { job: id, epoch });
      void this.d.cancelled(id).catch((err) => this.d.log.warn("could not remove a cancelled job", { job: id, err }));
    }
  }

  /**
   * Gives a job back for another seedbox: releases it if held, counts the hand-back if asked, and
   * publishes its request again. The caller has stopped all work on it.
   */
  async handBack(id: string, o: { count: boolean; why: string }): Promise<void> {
    if (this.held.has(id)) {
      await this.release(id, { handBack: o.count });
    } else if (o.count) {
      await updateRecord(this.d.store, id, (r) => (r ? countHandBack(r, this.now(), this.d.timing) : null));
    }
    const rec = await this.record(id);
    if (rec) await this.d.publishRequest(requestOf(rec));
    this.d.log.info("job handed back", { job: id, why: o.why, counted: o.count });
  }

  /** One renewal of every held lease; what a renewal finds (fenced, cancelled, ended) is acted on here. */
  async renewAll(): Promise<void> {
    const inEngine = (await this.d.inEngine?.().catch(() => null)) ?? null;
    await Promise.all(this.ids().map(async (id) => {
      const epoch = this.held.get(id)!;
      if (inEngine && !inEngine.has(id) && this.now() - (this.heldSince.get(id) ?? 0) > this.missingGraceMs()) {
        return this.missing(id);
      }
      let result = { kind: "ended" } as RenewResult;
      try {
        await updateRecord(this.d.store, id, (r) => {
          result = renewLease(r, this.d.me, epoch, this.now(), this.d.timing);
          return result.kind === "renewed" ? result.rec : null;
        });
      } catch (err) {
        // The store is slow or unreachable: the lease outlasts several missed renewals; try again next time.
        return this.d.log.warn("could not renew a lease", { job: id, epoch, err });
      }
      if (result.kind === "renewed" || this.held.get(id) !== epoch) return;
      this.held.delete(id);
      this.heldSince.delete(id);
      try {
        if (result.kind === "cancelled") {
          this.d.log.info("job cancelled; removing it", { job: id, epoch });
          await this.d.cancelled(id);
        } else {
          this.d.log.warn(result.kind === "fenced" ? "lease taken over by another seedbox; dropping the job" : "job ended elsewhere; dropping it", { job: id, epoch });
          await this.d.drop(id);
        }
      } catch (err) {
        this.d.log.warn("could not let a job go", { job: id, err });
      }
    }));
  }

  /** How long a held job's torrent may be absent from Deluge (it is being added) before the job goes back. */
  private missingGraceMs(): number {
    return Math.max(30_000, 3 * this.d.timing.renewMs);
  }

  /** A held job whose torrent Deluge no longer has (removed by hand, lost): its work ends here and it goes back on the queue. */
  private async missing(id: string): Promise<void> {
    this.d.log.warn("held job's torrent is gone from deluge; handing it back", { job: id });
    try {
      await this.d.drop(id);
      await this.handBack(id, { count: false, why: "torrent gone from deluge" });
    } catch (err) {
      this.d.log.warn("could not hand back a job whose torrent is gone; its lease runs out instead", { job: id, err });
    }
  }

  /** Renews every interval until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(this.d.timing.renewMs, signal).catch(() => {});
      if (signal.aborted) break;
      await this.renewAll();
    }
  }

  /** The host is going away (a spot interruption): every held job is dropped here and handed back. */
  async handBackAll(): Promise<number> {
    const ids = this.ids();
    await Promise.all(ids.map(async (id) => {
      try {
        await this.d.drop(id);
        await this.handBack(id, { count: false, why: "host going away" });
      } catch (err) {
        this.d.log.warn("could not hand a job back; its lease runs out instead", { job: id, err });
      }
    }));
    return ids.length;
  }
}
