// Follows every torrent in Deluge: reports progress (throttled), spots finished ones and uploads them,
// enforces the magnet timeout, the disk guard and the seeding policy. Its first pass is the start-up reconcile.
import { isJobId, type JobErrorCode } from "../lib/job.ts";
import type { Logger } from "../lib/log.ts";
import type { Progress, ProgressStatus } from "../lib/messages.ts";
import type { Deluge, TorrentStatus } from "./deluge.ts";
import type { Facts } from "./facts.ts";
import type { EarlyUploads } from "./early-upload.ts";
import type { Uploader } from "./uploader.ts";

/** The rules the monitor applies, from config. */
export interface MonitorPolicy {
  magnetTimeoutS: number;
  diskReserveBytes: number;
  /** Seed after upload until this ratio or this time, whichever comes first; 0 and 0 remove at once. */
  seedRatio: number;
  seedTimeS: number;
  progressIntervalMs: number;
  pollMs: number;
}

export interface MonitorOptions {
  deluge: Deluge;
  facts: Facts;
  uploader: Uploader;
  /** Overlapped upload, when on: sends checked parts while torrents download. */
  early?: EarlyUploads;
  log: Logger;
  freeBytes: () => Promise<number>;
  policy: MonitorPolicy;
  /** Upload attempts before a job fails. */
  maxUploadAttempts?: number;
  /** The seedbox's leases (seedbox/leases.ts): only torrents it holds are worked on. */
  leases?: MonitorLeases;
}

/** What the monitor asks of the leases. */
export interface MonitorLeases {
  /** Whether this seedbox holds the job (taking it again if it may: after a restart), or only seeds it. */
  ensure(id: string, o: { done: boolean }): Promise<"held" | "seed" | "drop">;
  /** Done with the job here: uploaded, or failed. */
  release(id: string): Promise<void>;
  /** A torrent (a magnet, once its size is known) does not fit here: hand it back or fail it. Its torrent is gone already. */
  noRoom(id: string, bytes: number): Promise<void>;
}

interface Uploading {
  abort: AbortController;
  done: Promise<void>;
}

const busyStates = new Set(["Moving", "Error"]);

/** Whether the torrent is complete and its files are at rest in its save_path (moved, if it was to move). */
export function isDone(s: Pick<TorrentStatus, "is_finished" | "state">): boolean {
  return s.is_finished && !busyStates.has(s.state);
}

const hasMetadata = (s: TorrentStatus) => s.total_wanted > 0 || s.files.length > 0;

export class Monitor {
  private readonly o: MonitorOptions;
  private readonly published = new Map<string, { at: number; status: ProgressStatus; progress: number }>();
  /** Remaining bytes of each torrent let past the disk guard. */
  private readonly admitted = new Map<string, number>();
  private readonly uploading = new Map<string, Uploading>();
  private readonly uploaded = new Set<string>();
  private readonly failures = new Map<string, { count: number; retryAt: number }>();
  /** The last error met per torrent, so a lasting one is logged once. */
  private readonly troubles = new Map<string, string>();
  private wake: (() => void) | null = null;
  private kicked = false;
  /** When each torrent was first seen with every piece but not finished yet (Deluge is moving it). */
  private readonly finishingSince = new Map<string, number>();
  /** One is, since less than 10 s: look again soon rather than at the next poll. */
  private finishing = false;

  constructor(o: MonitorOptions) {
    this.o = o;
  }

  /** Looks again now rather than at the next poll (a file appeared, a torrent was added). */
  private readonly passed = Promise.withResolvers<void>();
  /**
   * Settles after run()'s first pass over Deluge's torrents, which holds again the leases of the jobs
   * Deluge still has after a restart: taking requests before it would count none of them against capacity.
   */
  get firstPass(): Promise<void> {
    return this.passed.promise;
  }

  kick(): void {
    this.kicked = true;
    this.wake?.();
  }

  async run(signal: AbortSignal): Promise<void> {
    let down = false;
    const onAbort = () => this.wake?.();
    signal.addEventListener("abort", onAbort, { once: true });
    while (!signal.aborted) {
      this.kicked = false;
      this.finishing = false;
      try {
        await this.tick(signal);
        if (down) this.o.log.info("deluge reachable again");
        down = false;
      } catch (err) {
        if (signal.aborted) break;
        if (!down) this.o.log.error("cannot read torrents from deluge; retrying", { err });
        down = true;
      }
      this.passed.resolve();
      if (this.kicked) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, down ? 2000 : this.finishing ? Math.min(100, this.o.policy.pollMs) : this.o.policy.pollMs);
        this.wake = () => (clearTimeout(t), resolve());
      });
      this.wake = null;
    }
    signal.removeEventListener("abort", onAbort);
    this.passed.resolve();
    for (const u of this.uploading.values()) u.abort.abort();
    await Promise.allSettled([...this.uploading.values()].map((u) => u.done));
  }

  async tick(signal: AbortSignal): Promise<void> {
    const all = await this.o.deluge.statuses(signal);
    for (const [id, s] of Object.entries(all)) {
      if (!isJobId(id)) continue;
      try {
        if (this.o.leases && !this.uploaded.has(id) && !this.uploading.has(id)) {
          const hold = await this.o.leases.ensure(id, { done: isDone(s) });
          // A torrent of a job this seedbox does not hold (its lease was taken while it was down): it goes.
          if (hold === "drop") {
            await this.removeTorrent(id, signal);
            this.forget(id);
            continue;
          }
          // Uploaded before a restart: it seeds as the policy says, and is not uploaded again.
          if (hold === "seed") this.uploaded.add(id);
        }
        await this.check(id, s, signal);
        this.troubles.delete(id);
      } catch (err) {
        // Once per torrent and kind of trouble, not once a second while it lasts (an AWS outage, say).
        const what = String((err as Error)?.message ?? err);
        if (this.troubles.get(id) !== what) this.o.log.warn("could not handle torrent", { job: id, err });
        this.troubles.set(id, what);
      }
    }
    for (const id of this.published.keys()) if (!(id in all) && !this.uploading.has(id)) this.forget(id);
  }

  /**
   * Whether a torrent of `remaining` bytes fits: free space, less the reserve, less what torrents already
   * admitted still need.
   */
  async admit(id: string, remaining: number): Promise<boolean> {
    if (this.admitted.has(id)) return true;
    const fits = remaining <= (await this.room(id));
    if (fits) this.admitted.set(id, remaining);
    return fits;
  }

  /** Bytes a new torrent may take: free space, less the reserve and what admitted torrents (but `except`) still need. */
  async room(except?: string): Promise<number> {
    let owed = 0;
    for (const [other, n] of this.admitted) if (other !== except) owed += n;
    return (await this.o.freeBytes()) - this.o.policy.diskReserveBytes - owed;
  }

  private async check(id: string, s: TorrentStatus, signal: AbortSignal): Promise<void> {
    if (s.state === "Error") return this.fail(id, "deluge_error", `Deluge could not download this torrent: ${s.message || "unknown error"}.`);
    if (isDone(s)) {
      this.admitted.delete(id);
      this.finishingSince.delete(id);
      if (this.uploaded.has(id)) return this.applySeedingPolicy(id, s);
      const f = this.failures.get(id);
      if (!this.uploading.has(id) && (!f || f.retryAt <= Date.now())) this.startUpload(id, s, signal);
      return;
    }
    if (s.progress >= 100) {
      const since = this.finishingSince.get(id) ?? Date.now();
      this.finishingSince.set(id, since);
      if (Date.now() - since < 10_000) this.finishing = true;
    }
    if (!hasMetadata(s)) {
      if (Date.now() / 1000 - s.time_added > this.o.policy.magnetTimeoutS) {
        return this.fail(id, "no_peers", `No peer sent this torrent's metadata within ${this.o.policy.magnetTimeoutS} s; check that it is still seeded.`);
      }
    } else if (!(await this.admit(id, Math.max(0, s.total_wanted - s.total_done)))) {
      // With leases, another seedbox may have the room: the job goes back rather than failing.
      if (this.o.leases) return this.handBack(id, Math.max(0, s.total_wanted - s.total_done), signal);
      return this.fail(id, "disk_full", "There is not enough free disk space on the seedbox for this torrent.");
    } else if (s.state === "Downloading") {
      void this.o.early?.advance(id, s);
    } else if (s.state === "Paused") {
      // The seedbox never pauses a torrent; deluged killed before it saved resume data restores it paused.
      this.o.log.info("resuming a torrent deluged restored paused", { job: id });
      await this.o.deluge.resume(id, signal);
    }
    const status: ProgressStatus = s.state === "Queued" ? "queued" : "downloading";
    await this.report(id, {
      status,
      name: s.name,
      progress: s.progress / 100,
      size: s.total_wanted > 0 ? s.total_wanted : null,
      downloaded: s.total_done,
      rate: s.download_payload_rate,
      eta: s.eta > 0 ? s.eta : null,
    });
  }

  /** Removes a torrent and its data, if Deluge still holds it. */
  private async removeTorrent(id: string, signal?: AbortSignal): Promise<void> {
    if (await this.o.deluge.status(id, signal)) await this.o.deluge.remove(id, true, signal);
  }

  /** Publishes progress at most once per interval, but at once when the status changes. */
  private async report(id: string, p: Progress, force = false): Promise<void> {
    const last = this.published.get(id);
    const now = Date.now();
    if (!force && last && last.status === p.status && (now - last.at < this.o.policy.progressIntervalMs || last.progress === p.progress)) return;
    this.published.set(id, { at: now, status: p.status, progress: p.progress });
    await this.o.facts.progress(id, p);
  }

  private startUpload(id: string, s: TorrentStatus, signal: AbortSignal): void {
    const abort = new AbortController();
    const stop = () => abort.abort();
    signal.addEventListener("abort", stop, { once: true });
    const log = this.o.log.with({ job: id });
    const total = s.files.reduce((n, f) => n + f.size, 0);
    const progress = (uploaded: number): Progress => ({
      status: "uploading", name: s.name, progress: total > 0 ? uploaded / total : 1, size: total, downloaded: total, rate: 0, eta: null,
    });
    let factOnly = false;
    const done = (async () => {
      await this.report(id, progress(0), true);
      const result = await this.o.uploader.upload(
        { id, name: s.name, saveRoot: s.save_path, files: s.files.map((f) => ({ index: f.index, path: f.path, size: f.size })) },
        (n) => void this.report(id, progress(n)).catch(() => {}),
        abort.signal,
      );
      if (result === "exists") log.info("already uploaded");
      factOnly = true;
      await this.o.facts.uploaded(id);
      await this.o.early?.discard(id);
      this.uploaded.add(id);
      this.failures.delete(id);
      // The manifest is written: nothing more of this job is this seedbox's to do (seeding needs no lease).
      await this.o.leases?.release(id).catch((err) => log.warn("could not release the lease; it runs out instead", { err }));
      this.kick();
    })()
      .catch(async (err) => {
        if (abort.signal.aborted) return;
        // The files are up and only the fact did not go out (queues unreachable): the next pass sends it
        // again (the upload finds the manifest), and this never counts towards failing the job.
        const count = (this.failures.get(id)?.count ?? 0) + (factOnly ? 0 : 1);
        const max = this.o.maxUploadAttempts ?? 5;
        log.warn(factOnly ? "could not report the upload; trying again" : "upload failed", { err, attempt: count, of: max });
        if (!factOnly && count >= max) {
          this.failures.delete(id);
          // If even the failure cannot be reported, the next pass uploads again.
          await this.fail(id, "upload_failed", "Uploading the files to S3 failed repeatedly.").catch((e) => log.warn("could not report the failure", { err: e }));
        } else {
          this.failures.set(id, { count, retryAt: Date.now() + Math.min(60_000, 2000 * 2 ** count) });
        }
      })
      .finally(() => {
        signal.removeEventListener("abort", stop);
        this.uploading.delete(id);
      });
    this.uploading.set(id, { abort, done });
  }

  private async applySeedingPolicy(id: string, s: TorrentStatus): Promise<void> {
    const ratio = s.ratio ?? 0;
    const seeded = s.seeding_time ?? 0;
    const met = (this.o.policy.seedRatio === 0 && this.o.policy.seedTimeS === 0) ||
      (this.o.policy.seedRatio > 0 && ratio >= this.o.policy.seedRatio) || (this.o.policy.seedTimeS > 0 && seeded >= this.o.policy.seedTimeS);
    if (!met) return;
    await this.removeTorrent(id);
    this.forget(id);
    this.o.log.info("removed after seeding", { job: id, ratio, seedingTimeS: seeded });
  }

  private forget(id: string): void {
    void this.o.early?.discard(id);
    this.published.delete(id);
    this.admitted.delete(id);
    this.uploaded.delete(id);
    this.failures.delete(id);
    this.finishingSince.delete(id);
    this.troubles.delete(id);
  }

  /** Removes the torrent and its data, and reports why. */
  async fail(id: string, code: JobErrorCode, message: string): Promise<void> {
    // The fact goes out first: if it cannot (AWS unreachable), the torrent stays, and the next pass,
    // finding the same condition, tries again. Nothing is removed without the job hearing of it.
    await this.o.facts.failed(id, code, message);
    this.o.log.warn("job failed", { job: id, code, reason: message });
    await this.removeTorrent(id).catch((err) => this.o.log.warn("could not remove torrent", { job: id, err }));
    this.forget(id);
    await this.o.leases?.release(id).catch((err) => this.o.log.warn("could not release the lease; it runs out instead", { job: id, err }));
  }

  /** Removes a torrent that does not fit here, and hands its job back through the leases. */
  private async handBack(id: string, bytes: number, signal: AbortSignal): Promise<void> {
    await this.o.early?.discard(id);
    await this.removeTorrent(id, signal);
    this.forget(id);
    await this.o.leases!.noRoom(id, bytes);
  }

  /** Stops any upload, removes the torrent and its data; resolves once nothing more will be written. */
  async cancel(id: string, signal: AbortSignal): Promise<void> {
    const u = this.uploading.get(id);
    u?.abort.abort();
    await u?.done;
    await this.o.early?.discard(id);
    await this.removeTorrent(id, signal).catch((err) => {
      if (!/not found|invalid torrent/i.test(String(err?.message))) throw err;
    });
    this.forget(id);
  }
}
