// Overlapped upload: while a torrent downloads, the parts of each file whose pieces Deluge has finished
// are read, checked against the torrent's SHA-1 piece hashes, and sent as parts of an S3 multipart upload.
// At the finish only the tail is left. Nothing is completed here: the uploader completes the object once
// Deluge has the whole torrent, so no unchecked byte ever ends up in a finished object.
import { open } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../lib/log.ts";
import type { ObjectStore, PartUpload } from "../lib/object-store.ts";
import { parseTorrent } from "../lib/torrent.ts";
import type { Deluge, TorrentFile } from "./deluge.ts";
import { BufferPool, eachLimited, readFully } from "./multipart.ts";
import { objectHeaders, objectKeys } from "./objects.ts";
import { checkable, partDownloaded, partRange, partVerified, planParts, type PartPlan } from "./parts.ts";
import type { SentEarly } from "./uploader.ts";

/** A file to send early: where it lies in the torrent (its index) and on disk. */
type PlacedFile = Pick<TorrentFile, "index" | "path" | "size">;

export interface EarlyUploadsOptions {
  bucket: Pick<ObjectStore, "multipart">;
  deluge: Pick<Deluge, "call">;
  partSizeMin: number;
  /** Parts in flight per torrent. */
  concurrency: number;
  /** The job's .torrent, or null when there is none (a magnet: no piece hashes to check against). */
  torrentOf: (id: string, signal: AbortSignal) => Promise<Uint8Array | null>;
  log: Logger;
}

interface FileState {
  index: number;
  path: string;
  key: string;
  plan: PartPlan;
  upload: PartUpload;
}

interface JobState {
  hashes: Uint8Array;
  /** The folder the torrent's file paths are relative to (Deluge's save_path). */
  saveRoot: string;
  files: FileState[];
  abort: AbortController;
  running: Promise<void> | null;
}

/** Reads bytes [start, start + buf.length) of a file into `buf`. */
async function readRange(path: string, buf: Buffer, start: number): Promise<Buffer> {
  const fh = await open(path, "r");
  try {
    return await readFully(fh, buf, start);
  } finally {
    await fh.close();
  }
}

export class EarlyUploads implements SentEarly {
  private readonly o: EarlyUploadsOptions;
  /** "off": this job is not uploaded early (no .torrent, or no file fits whole pieces). */
  private readonly jobs = new Map<string, JobState | "off">();
  private readonly loading = new Set<string>();
  private readonly buffers: BufferPool;

  constructor(o: EarlyUploadsOptions) {
    this.o = o;
    this.buffers = new BufferPool(o.concurrency);
  }

  /** Reads part n of file `f` from `path` and sends it, if `check` passes on its bytes. */
  private sendPart(f: FileState, n: number, path: string, check: (buf: Buffer) => boolean, signal: AbortSignal): Promise<void> {
    const [start, end] = partRange(f.plan, n);
    return this.buffers.with(f.plan.partSize, end - start, async (buf) => {
      await readRange(path, buf, start);
      if (check(buf)) await f.upload.put(n + 1, buf, signal);
    });
  }

  /**
   * Uploads whatever newly finished parts the torrent has, in the background; one pass at a time per job.
   * The promise (which never rejects) is for tests: the monitor does not wait for it.
   */
  advance(id: string, saveRoot: string, files: readonly PlacedFile[]): Promise<void> {
    const st = this.jobs.get(id);
    if (st === "off" || this.loading.has(id)) return Promise.resolve();
    if (st?.running) return st.running;
    if (!st) {
      this.loading.add(id);
      return this.load(id, saveRoot, files)
        // A discard while loading removed the id from `loading`: the job is gone, keep nothing.
        .then((loaded) => void (this.loading.has(id) && this.jobs.set(id, loaded ?? "off")))
        .catch((err) => this.o.log.warn("overlapped upload unavailable", { job: id, err }))
        .finally(() => this.loading.delete(id));
    }
    st.running = this.pass(id, st)
      .catch((err) => {
        if (!st.abort.signal.aborted) this.o.log.warn("overlapped upload pass failed; the finish uploads the rest", { job: id, err });
      })
      .finally(() => (st.running = null));
    return st.running;
  }

  private async load(id: string, saveRoot: string, files: readonly PlacedFile[]): Promise<JobState | null> {
    const abort = new AbortController();
    const bytes = await this.o.torrentOf(id, abort.signal);
    if (!bytes) return null;
    const t = parseTorrent(bytes);
    if (t.infoHash !== id) return null;
    let offset = 0;
    const offsets = t.files.map((f) => ((offset += f.length), offset - f.length));
    const keys = objectKeys(id, files);
    const early: FileState[] = [];
    for (const [i, f] of files.entries()) {
      const key = keys[i];
      const tf = t.files[f.index];
      if (!key || !tf || tf.length !== f.size) continue;
      const plan = planParts(offsets[f.index]!, f.size, t.pieceLength, this.o.partSizeMin, t.size);
      if (plan && plan.count > 1) {
        const upload = this.o.bucket.multipart(key, objectHeaders(f.path));
        early.push({ index: f.index, path: f.path, key, plan, upload });
      }
    }
    return early.length > 0 ? { hashes: t.pieces, saveRoot, files: early, abort, running: null } : null;
  }

  private async pass(id: string, st: JobState): Promise<void> {
    const signal = st.abort.signal;
    const got = await this.o.deluge.call<{ pieces?: number[] | null }>("core.get_torrent_status", [id, ["pieces"]], signal);
    const states = got?.pieces;
    if (!Array.isArray(states)) return;
    const todo: { f: FileState; n: number }[] = [];
    for (const f of st.files) {
      for (let n = 0; n < f.plan.count; n++) {
        if (!f.upload.has(n + 1) && checkable(f.plan, n) && partDownloaded(f.plan, n, states)) todo.push({ f, n });
      }
    }
    await eachLimited(todo, this.o.concurrency, async ({ f, n }) => {
      signal.throwIfAborted();
      // Deluge's piece states are a hint; the bytes on disk are what must match the torrent.
      await this.sendPart(f, n, join(st.saveRoot, f.path), (buf) => partVerified(f.plan, n, buf, st.hashes), signal);
    });
  }

  /**
   * Completes file `index` of a finished torrent from its final location: sends the parts not yet sent,
   * then completes the upload; resolves to the file's CRC-32. Null when nothing was sent early (the caller
   * uploads the whole file).
   */
  async finish(id: string, index: number, diskPath: string, signal: AbortSignal): Promise<number | null> {
    const st = this.jobs.get(id);
    if (!st || st === "off") return null;
    await st.running;
    const f = st.files.find((x) => x.index === index);
    if (!f?.upload.started) return null;
    try {
      const rest = Array.from({ length: f.plan.count }, (_, n) => n).filter((n) => !f.upload.has(n + 1));
      const early = f.plan.count - rest.length;
      // The torrent is finished: libtorrent has checked every piece, as for a whole-file upload.
      await eachLimited(rest, this.o.concurrency, async (n) => {
        signal.throwIfAborted();
        await this.sendPart(f, n, diskPath, () => true, signal);
      });
      const crc = await f.upload.complete(signal);
      this.o.log.info("overlapped upload completed", { job: id, key: f.key, parts: f.plan.count, partsEarly: early });
      return crc;
    } catch (err) {
      await this.abortFile(f);
      throw err;
    }
  }

  private async abortFile(f: FileState): Promise<void> {
    await f.upload.abort().catch((err) => this.o.log.warn("could not abort a multipart upload", { key: f.key, err }));
  }

  /** Stops any pass and aborts every open upload of the job (cancel, failure, done). */
  async discard(id: string): Promise<void> {
    const st = this.jobs.get(id);
    this.jobs.delete(id);
    this.loading.delete(id);
    if (!st || st === "off") return;
    st.abort.abort();
    await st.running;
    await Promise.all(st.files.map((f) => this.abortFile(f)));
  }
}
