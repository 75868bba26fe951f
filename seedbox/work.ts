// The seedbox's work on each job whose torrent it follows: one record per job, the disk guard, and stopping
// all work on a job. The monitor decides what a job does next and notes here what it did; the leases and
// the requests consumer stop a job here. Built before both, so neither needs the other to exist first.
import type { FileSelection } from "../lib/file-selection.ts";
import type { ProgressStatus } from "../lib/messages.ts";
import type { Deluge, TorrentFile } from "./deluge.ts";
import type { EarlyUploads } from "./early-upload.ts";

/** What the seedbox keeps about a job beyond what Deluge says. A missing record is an empty one. */
export interface JobWork {
  /** The last progress published, so progress goes out at most once per interval. */
  published?: { at: number; status: ProgressStatus; progress: number };
  /** A progress publish on its way: the monitor's pass never waits for one, and sends no second. */
  publishing?: true;
  /** Bytes the torrent still needs that the disk guard let past (until it is done downloading). */
  admitted?: number;
  /** The upload running. */
  upload?: { abort: AbortController; done: Promise<void> };
  /** Its files are up: it only seeds. */
  uploaded?: true;
  /** Failed upload attempts, and when the next may start. */
  failures?: { count: number; retryAt: number };
  /** The last error met, so a lasting one is logged once. */
  trouble?: string;
  /** When it was first seen with every piece but not finished yet (Deluge is moving it). */
  finishingSince?: number;
  /** The files it fetches (the chosen ones) as Deluge lists them, asked for once its metadata is in. */
  files?: TorrentFile[];
  /** A file selection (null: every file) the monitor applies once the metadata is in and no upload runs. */
  chosen?: { files: FileSelection | null };
  /** The selection Deluge's priorities follow now (null: every file), written into the manifest; absent: not known here (a restart). */
  applied?: { files: FileSelection | null };
  /** The run its request named, written into its manifest. */
  run?: string;
}

export interface WorkDeps {
  deluge: Pick<Deluge, "status" | "remove">;
  /** Overlapped upload, when on: a forgotten job's open uploads are aborted. */
  early?: Pick<EarlyUploads, "discard"> | undefined;
  freeBytes: () => Promise<number>;
  diskReserveBytes: number;
}

export class Work {
  private readonly d: WorkDeps;
  private readonly jobs = new Map<string, JobWork>();

  constructor(d: WorkDeps) {
    this.d = d;
  }

  /** The job's record, made if there is none. */
  get(id: string): JobWork {
    let job = this.jobs.get(id);
    if (!job) this.jobs.set(id, (job = {}));
    return job;
  }

  /** The job's record, if there is one. */
  peek(id: string): Readonly<JobWork> | undefined {
    return this.jobs.get(id);
  }

  /**
   * Whether a torrent of `remaining` bytes fits: free space, less the reserve, less what torrents already
   * admitted still need.
   */
  async admit(id: string, remaining: number): Promise<boolean> {
    if (this.jobs.get(id)?.admitted !== undefined) return true;
    const fits = remaining <= (await this.room(id));
    if (fits) this.get(id).admitted = remaining;
    return fits;
  }

  /** Bytes a new torrent may take: free space, less the reserve and what admitted torrents (but `except`) still need. */
  async room(except?: string): Promise<number> {
    let owed = 0;
    for (const [other, job] of this.jobs) if (other !== except) owed += job.admitted ?? 0;
    return (await this.d.freeBytes()) - this.d.diskReserveBytes - owed;
  }

  /** Removes a torrent and its data, if Deluge still holds it. */
  async removeTorrent(id: string, signal?: AbortSignal): Promise<void> {
    if (await this.d.deluge.status(id, signal)) await this.d.deluge.remove(id, true, signal);
  }

  /**
   * The job's request named its files: the monitor applies them. A torrent that was uploaded is uploaded
   * again (its job runs again, for more files: its manifest is gone).
   */
  choose(id: string, files: FileSelection | null): void {
    const job = this.get(id);
    job.chosen = { files };
    if (!job.upload) job.uploaded = undefined;
  }

  /**
   * A lease taken (again): what the job's earlier work here left goes (an upload done, failures, progress
   * published, the file list), but not what holds for the torrent and its request: the run, and the file
   * choice applied to Deluge or still to apply. This seedbox takes again a lease it let go after an upload
   * that a wider choice made stale; forgetting the choice then uploaded that stale manifest's files again.
   */
  retake(id: string): void {
    const { run, chosen, applied } = this.jobs.get(id) ?? {};
    this.forget(id);
    if (run === undefined && chosen === undefined && applied === undefined) return;
    const job = this.get(id);
    if (run !== undefined) job.run = run;
    if (chosen !== undefined) job.chosen = chosen;
    if (applied !== undefined) job.applied = applied;
  }

  /** Drops what is kept about the job. A running upload stays until it ends: it is what stops it, or it is being stopped. */
  forget(id: string): void {
    void this.d.early?.discard(id);
    const upload = this.jobs.get(id)?.upload;
    if (upload) this.jobs.set(id, { upload });
    else this.jobs.delete(id);
  }

  /**
   * Forgets the jobs whose torrents Deluge no longer has (`present` says which it has) and that went as far
   * as reporting progress, once no upload of theirs runs. A job only admitted is kept: its torrent is
   * being added.
   */
  forgetGone(present: (id: string) => boolean): void {
    for (const [id, job] of this.jobs) {
      const empty = Object.values(job).every((v) => v === undefined);
      if (!present(id) && !job.upload && (job.published || empty)) this.forget(id);
    }
  }

  /** Stops any upload, removes the torrent and its data; resolves once nothing more will be written. */
  async stop(id: string, signal: AbortSignal): Promise<void> {
    const upload = this.jobs.get(id)?.upload;
    upload?.abort.abort();
    await upload?.done;
    await this.d.early?.discard(id);
    await this.removeTorrent(id, signal).catch((err) => {
      if (!/not found|invalid torrent/i.test(String(err?.message))) throw err;
    });
    this.forget(id);
  }

  /** Shutdown: stops every running upload and waits for them to end. */
  async stopUploads(): Promise<void> {
    const uploads = [...this.jobs.values()].flatMap((j) => (j.upload ? [j.upload] : []));
    for (const u of uploads) u.abort.abort();
    await Promise.allSettled(uploads.map((u) => u.done));
  }
}
