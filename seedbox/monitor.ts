// Follows every torrent in Deluge: reports progress (throttled), spots finished ones and uploads them,
// enforces the magnet timeout, the disk guard and the seeding rule. Its first pass is the start-up reconcile.
// nextStep is the policy (what a torrent does next); the Monitor carries it out and notes it in Work.
import { covers, resolveSelection, type FileSelection } from "../lib/file-selection.ts";
import { isJobId, type JobErrorCode } from "../lib/job.ts";
import type { Logger } from "../lib/log.ts";
import type { Progress } from "../lib/messages.ts";
import { seedingDone, type SeedingRule } from "../lib/seeding.ts";
import type { Deluge, TorrentFile, TorrentStatus } from "./deluge.ts";
import type { EarlyUploads } from "./early-upload.ts";
import type { Facts } from "./facts.ts";
import type { Uploader } from "./uploader.ts";
import type { JobWork, Work } from "./work.ts";

/** The rules the monitor applies, from config. */
export interface MonitorPolicy extends SeedingRule {
  magnetTimeoutS: number;
  diskReserveBytes: number;
  progressIntervalMs: number;
  pollMs: number;
}

/** What the monitor asks of the leases. */
export interface MonitorLeases {
  /** Whether this seedbox holds the job (taking it again if it may: after a restart), or only seeds it. */
  ensure(id: string, o: { done: boolean }): Promise<"held" | "seed" | "drop">;
  /** Done with the job here: uploaded, or failed. */
  release(id: string): Promise<void>;
  /** A torrent (a magnet, once its size is known) does not fit here: hand it back or fail it. Its torrent is gone already. */
  noRoom(id: string, bytes: number): Promise<void>;
  /** The files the job's record chooses (null: every file). */
  chosen(id: string): Promise<FileSelection | null>;
}

export interface MonitorOptions {
  deluge: Pick<Deluge, "statuses" | "files" | "resume" | "chooseFiles">;
  facts: Pick<Facts, "progress" | "failed" | "uploaded">;
  uploader: Pick<Uploader, "upload">;
  /** Overlapped upload, when on: sends checked parts while torrents download. */
  early?: Pick<EarlyUploads, "advance" | "discard"> | undefined;
  /** Each job's record, the disk guard, and stopping a job. */
  work: Work;
  /** The seedbox's leases: only torrents it holds are worked on. */
  leases: MonitorLeases;
  log: Logger;
  policy: MonitorPolicy;
  /** Upload attempts before a job fails. */
  maxUploadAttempts?: number;
}

/** What a torrent does next, from what Deluge says and what the seedbox did with it so far. */
export type Step =
  | { kind: "fail"; code: JobErrorCode; message: string }
  /** Uploaded: it seeds until the seeding rule lets it go. */
  | { kind: "seed" }
  /** Finished and at rest: its files go up. */
  | { kind: "upload" }
  /** Finished: its upload runs, or the next attempt is not due yet. */
  | { kind: "wait" }
  /** A magnet still fetching its metadata: its size is not known yet. */
  | { kind: "metadata" }
  /** Downloading (or queued, or paused): it must stay within the disk guard. */
  | { kind: "download"; remaining: number };

const busyStates = new Set(["Moving", "Error"]);

/** Whether the torrent is complete and its files are at rest in its save_path (moved, if it was to move). */
export function isDone(s: Pick<TorrentStatus, "is_finished" | "state">): boolean {
  return s.is_finished && !busyStates.has(s.state);
}

const hasMetadata = (s: TorrentStatus) => s.total_wanted > 0 || s.num_files > 0;

/** The monitor's policy: what a torrent does next. No I/O. */
export function nextStep(s: TorrentStatus, job: Readonly<JobWork> | undefined, nowMs: number, p: Pick<MonitorPolicy, "magnetTimeoutS">): Step {
  if (s.state === "Error") return { kind: "fail", code: "deluge_error", message: `Deluge could not download this torrent: ${s.message || "unknown error"}.` };
  if (isDone(s)) {
    if (job?.uploaded) return { kind: "seed" };
    if (job?.upload || (job?.failures && job.failures.retryAt > nowMs)) return { kind: "wait" };
    return { kind: "upload" };
  }
  if (hasMetadata(s)) return { kind: "download", remaining: Math.max(0, s.total_wanted - s.total_done) };
  if (nowMs / 1000 - s.time_added > p.magnetTimeoutS) {
    return { kind: "fail", code: "no_peers", message: `No peer sent this torrent's metadata within ${p.magnetTimeoutS} s; check that it is still seeded.` };
  }
  return { kind: "metadata" };
}

/** The wait before an upload attempt after `count` failures. */
const retryDelayMs = (count: number) => Math.min(60_000, 2000 * 2 ** count);

const downloading = (s: TorrentStatus): Progress => ({
  status: s.state === "Queued" ? "queued" : "downloading",
  name: s.name,
  progress: s.progress / 100,
  size: s.total_wanted > 0 ? s.total_wanted : null,
  downloaded: s.total_done,
  rate: s.download_payload_rate,
  eta: s.eta > 0 ? s.eta : null,
});

const uploading = (name: string, total: number, uploaded: number): Progress => ({
  status: "uploading", name, progress: total > 0 ? uploaded / total : 1, size: total, downloaded: total, rate: 0, eta: null,
});

export class Monitor {
  private readonly o: MonitorOptions;
  private wake: (() => void) | null = null;
  private kicked = false;
  /** A torrent is finishing, since less than 10 s, or awaits its metadata to choose files: look again soon rather than at the next poll. */
  private finishing = false;
  private readonly passed = Promise.withResolvers<void>();

  constructor(o: MonitorOptions) {
    this.o = o;
  }

  /**
   * Settles after run()'s first pass over Deluge's torrents, which holds again the leases of the jobs
   * Deluge still has after a restart: taking requests before it would count none of them against capacity.
   */
  get firstPass(): Promise<void> {
    return this.passed.promise;
  }

  /** Looks again now rather than at the next poll (a file appeared, a torrent was added). */
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
    await this.o.work.stopUploads();
  }

  async tick(signal: AbortSignal): Promise<void> {
    const all = await this.o.deluge.statuses(signal);
    for (const [id, s] of Object.entries(all)) if (isJobId(id)) await this.follow(id, s, signal);
    this.o.work.forgetGone((id) => id in all);
  }

  /** One torrent's turn in a pass. */
  private async follow(id: string, s: TorrentStatus, signal: AbortSignal): Promise<void> {
    try {
      if (!(await this.worksOn(id, s, signal))) return;
      await this.check(id, s, signal);
      const job = this.o.work.peek(id);
      if (job?.trouble !== undefined) this.o.work.get(id).trouble = undefined;
    } catch (err) {
      // Once per torrent and kind of trouble, not once a second while it lasts (an AWS outage, say).
      const what = String((err as Error)?.message ?? err);
      const job = this.o.work.get(id);
      if (job.trouble !== what) this.o.log.warn("could not handle torrent", { job: id, err });
      job.trouble = what;
    }
  }

  /** Whether this seedbox works on the torrent: it holds the job (taking it again after a restart) or seeds it. */
  private async worksOn(id: string, s: TorrentStatus, signal: AbortSignal): Promise<boolean> {
    const job = this.o.work.peek(id);
    if (job?.uploaded || job?.upload) return true;
    const hold = await this.o.leases.ensure(id, { done: isDone(s) });
    // A torrent of a job this seedbox does not hold (its lease was taken while it was down): it goes.
    if (hold === "drop") {
      await this.o.work.removeTorrent(id, signal);
      this.o.work.forget(id);
      return false;
    }
    // Uploaded before a restart: it seeds as the rule says, and is not uploaded again.
    if (hold === "seed") this.o.work.get(id).uploaded = true;
    // First seen (after a restart, or just added) before its metadata: the record keeps its file choice.
    if (hold === "held" && !job && !hasMetadata(s)) {
      const files = await this.o.leases.chosen(id);
      const w = this.o.work.get(id);
      if (files && !w.chosen) w.chosen = { files };
    }
    return true;
  }

  /** Carries out the torrent's next step. */
  private async check(id: string, s: TorrentStatus, signal: AbortSignal): Promise<void> {
    const job = this.o.work.peek(id);
    // Its status was read before the files changed: the next pass reads the new one.
    if (job?.chosen && !job.upload && hasMetadata(s) && (await this.applyChoice(id, job.chosen.files, signal))) return;
    // A magnet with files chosen: look again soon, so that little of the rest comes before its metadata.
    if (job?.chosen && !hasMetadata(s)) this.finishing = true;
    const step = nextStep(s, this.o.work.peek(id), Date.now(), this.o.policy);
    if (step.kind === "fail") return this.fail(id, step.code, step.message);
    if (step.kind === "seed" || step.kind === "upload" || step.kind === "wait") {
      const job = this.o.work.get(id);
      job.admitted = undefined;
      job.finishingSince = undefined;
      if (step.kind === "seed") return this.seedOrRemove(id, s);
      if (step.kind === "upload") this.startUpload(id, s, signal);
      return;
    }
    this.noteFinishing(id, s);
    if (step.kind === "download" && !(await this.keepDownloading(id, s, step.remaining, signal))) return;
    await this.report(id, downloading(s));
  }

  /** Every piece is in but Deluge has not finished (it is moving the files): look again soon, for 10 s. */
  private noteFinishing(id: string, s: TorrentStatus): void {
    if (s.progress < 100) return;
    const job = this.o.work.get(id);
    job.finishingSince ??= Date.now();
    if (Date.now() - job.finishingSince < 10_000) this.finishing = true;
  }

  /** Keeps a downloading torrent within the disk guard (else hands its job back) and moving; false when it went. */
  private async keepDownloading(id: string, s: TorrentStatus, remaining: number, signal: AbortSignal): Promise<boolean> {
    // Another seedbox may have the room: the job goes back rather than failing.
    if (!(await this.o.work.admit(id, remaining))) return (await this.handBack(id, remaining, signal), false);
    if (s.state === "Downloading" && this.o.early) {
      void this.o.early.advance(id, s.save_path, await this.filesOf(id, signal));
    } else if (s.state === "Paused") {
      // The seedbox never pauses a torrent; deluged killed before it saved resume data restores it paused.
      this.o.log.info("resuming a torrent deluged restored paused", { job: id });
      await this.o.deluge.resume(id, signal);
    }
    return true;
  }

  /**
   * Publishes progress at most once per interval, but at once when the status changes. Not awaited: one
   * slow publish must not hold up every other torrent's turn. A failed one is sent again on a later pass.
   */
  private async report(id: string, p: Progress, force = false): Promise<void> {
    const job = this.o.work.peek(id);
    const last = job?.published;
    const now = Date.now();
    if (job?.publishing) return;
    if (!force && last && last.status === p.status && (now - last.at < this.o.policy.progressIntervalMs || last.progress === p.progress)) return;
    this.o.work.get(id).publishing = true;
    void this.o.facts.progress(id, p).then(
      () => void (this.o.work.get(id).published = { at: now, status: p.status, progress: p.progress }),
      (err: unknown) => this.o.log.warn("could not publish progress; sending it again later", { job: id, err }),
    ).finally(() => void (this.o.work.get(id).publishing = undefined));
  }

  /** The torrent's chosen files, from Deluge the first time. */
  private async filesOf(id: string, signal: AbortSignal): Promise<TorrentFile[]> {
    const job = this.o.work.get(id);
    if (job.files) return job.files;
    const files = await this.o.deluge.files(id, signal);
    if (!files) throw new Error("Deluge no longer has the torrent");
    const wanted = files.filter((f) => f.wanted);
    return files.length > 0 ? (this.o.work.get(id).files = wanted) : wanted;
  }

  /**
   * Downloads only the chosen files, now that the torrent's file list is known (a magnet's globs and
   * indexes are resolved here). True when the files changed; a choice naming no file fails the job.
   */
  private async applyChoice(id: string, chosen: FileSelection | null, signal: AbortSignal): Promise<boolean> {
    const files = await this.o.deluge.files(id, signal);
    if (!files || files.length === 0) return false;
    const { indexes } = resolveSelection(chosen, files.map((f) => f.path));
    if (indexes.length === 0) {
      await this.fail(id, "no_files_chosen", `None of this torrent's ${files.length} files is one of those chosen (${chosen!.map((e) => JSON.stringify(e)).join(", ")}).`);
      return true;
    }
    const on = new Set(indexes);
    const changed = files.some((f) => f.wanted !== on.has(f.index));
    if (changed) await this.o.deluge.chooseFiles(id, files.length, indexes, signal);
    const job = this.o.work.get(id);
    job.chosen = undefined;
    // A wider choice than its upload's (which may have ended meanwhile): that manifest does not complete
    // the job (lib/job-record.ts manifestServes), so it goes up again, with any new files.
    const wider = changed || (job.applied !== undefined && !covers(job.applied.files, chosen));
    job.applied = { files: chosen };
    job.files = changed ? undefined : files.filter((f) => f.wanted);
    if (wider) job.uploaded = undefined;
    if (changed) this.o.log.info("files chosen", { job: id, files: indexes.length, of: files.length, chosen });
    return changed;
  }

  /** Starts uploading a finished torrent in the background; its record holds the upload until it ends. */
  private startUpload(id: string, s: TorrentStatus, signal: AbortSignal): void {
    const abort = new AbortController();
    const stop = () => abort.abort();
    signal.addEventListener("abort", stop, { once: true });
    let filesUp = false;
    const done = this.upload(id, s, abort.signal, () => (filesUp = true))
      .catch(async (err) => {
        if (!abort.signal.aborted) await this.uploadFailed(id, err, filesUp);
      })
      .finally(() => {
        signal.removeEventListener("abort", stop);
        if (this.o.work.peek(id)?.upload) this.o.work.get(id).upload = undefined;
      });
    this.o.work.get(id).upload = { abort, done };
  }

  /** Uploads the files, reports the job uploaded, and lets its lease go. `filesUp` marks when only the fact is left. */
  private async upload(id: string, s: TorrentStatus, signal: AbortSignal, filesUp: () => void): Promise<void> {
    const log = this.o.log.with({ job: id });
    const files = await this.filesOf(id, signal);
    const total = files.reduce((n, f) => n + f.size, 0);
    await this.report(id, uploading(s.name, total, 0), true);
    const { run, applied } = this.o.work.peek(id) ?? {};
    const result = await this.o.uploader.upload(
      { id, name: s.name, saveRoot: s.save_path, files, run, chosen: applied?.files },
      (n) => void this.report(id, uploading(s.name, total, n)).catch(() => {}),
      signal,
    );
    if (result === "exists") log.info("already uploaded", { run, chosen: applied?.files });
    filesUp();
    await this.o.facts.uploaded(id);
    await this.o.early?.discard(id);
    const job = this.o.work.get(id);
    job.uploaded = true;
    job.failures = undefined;
    // The manifest is written: nothing more of this job is this seedbox's to do (seeding needs no lease).
    await this.o.leases.release(id).catch((err) => log.warn("could not release the lease; it runs out instead", { err }));
    this.kick();
  }

  /** An upload attempt failed: try again later, or fail the job after the last attempt. */
  private async uploadFailed(id: string, err: unknown, filesUp: boolean): Promise<void> {
    const log = this.o.log.with({ job: id });
    // The files are up and only the fact did not go out (queues unreachable): the next pass sends it
    // again (the upload finds the manifest), and this never counts towards failing the job.
    const count = (this.o.work.peek(id)?.failures?.count ?? 0) + (filesUp ? 0 : 1);
    const max = this.o.maxUploadAttempts ?? 5;
    log.warn(filesUp ? "could not report the upload; trying again" : "upload failed", { err, attempt: count, of: max });
    if (!filesUp && count >= max) {
      this.o.work.get(id).failures = undefined;
      // If even the failure cannot be reported, the next pass uploads again.
      await this.fail(id, "upload_failed", "Uploading the files to S3 failed repeatedly.").catch((e) => log.warn("could not report the failure", { err: e }));
    } else {
      this.o.work.get(id).failures = { count, retryAt: Date.now() + retryDelayMs(count) };
    }
  }

  private async seedOrRemove(id: string, s: TorrentStatus): Promise<void> {
    const seeded = { ratio: s.ratio ?? 0, seedingTimeS: s.seeding_time ?? 0 };
    if (!seedingDone(this.o.policy, seeded)) return;
    await this.o.work.removeTorrent(id);
    this.o.work.forget(id);
    this.o.log.info("removed after seeding", { job: id, ratio: seeded.ratio, seedingTimeS: seeded.seedingTimeS });
  }

  /** Removes the torrent and its data, and reports why. */
  private async fail(id: string, code: JobErrorCode, message: string): Promise<void> {
    // The fact goes out first: if it cannot (AWS unreachable), the torrent stays, and the next pass,
    // finding the same condition, tries again. Nothing is removed without the job hearing of it.
    await this.o.facts.failed(id, code, message);
    this.o.log.warn("job failed", { job: id, code, reason: message });
    await this.o.work.removeTorrent(id).catch((err) => this.o.log.warn("could not remove torrent", { job: id, err }));
    this.o.work.forget(id);
    await this.o.leases.release(id).catch((err) => this.o.log.warn("could not release the lease; it runs out instead", { job: id, err }));
  }

  /** Removes a torrent that does not fit here, and hands its job back through the leases. */
  private async handBack(id: string, bytes: number, signal: AbortSignal): Promise<void> {
    await this.o.early?.discard(id);
    await this.o.work.removeTorrent(id, signal);
    this.o.work.forget(id);
    await this.o.leases.noRoom(id, bytes);
  }
}
