// Uploads a finished torrent's files into the bucket (multipart, parts read straight from disk), then writes the manifest last.
import { lstat, open, realpath, type FileHandle } from "node:fs/promises";
import { crc32 } from "node:zlib";
import { resolve, sep } from "node:path";
import { create as contentDisposition } from "content-disposition";
import type { FileSelection } from "../lib/file-selection.ts";
import { manifestServes } from "../lib/job-record.ts";
import { dataPrefix, manifestKey, zipKey } from "../lib/layout.ts";
import type { Logger } from "../lib/log.ts";
import { parseManifest, type Manifest } from "../lib/messages.ts";
import type { ObjectHeaders, ObjectStore } from "../lib/object-store.ts";
import { BufferPool, eachLimited, readFully } from "./multipart.ts";
import { objectHeaders, objectKeys } from "./objects.ts";
import { partSizeFor } from "./parts.ts";
import { readZipRange, zipLayout, type ZipEntry } from "./zip.ts";

export interface UploadJob {
  id: string;
  name: string;
  /** The folder holding the files: Deluge's save_path once it has finished (and moved) the torrent. */
  saveRoot: string;
  /** Paths relative to saveRoot, as Deluge lists them, with Deluge's file index. */
  files: { index: number; path: string; size: number }[];
  /** The run of the job (the request's), written into the manifest. */
  run?: string | undefined;
  /** The file selection `files` follow (null: every file; undefined: not known here), written into the manifest. */
  chosen?: FileSelection | null | undefined;
}

/** Parts of a job's files sent while the torrent downloaded (seedbox/early-upload.ts). */
export interface SentEarly {
  /** Sends the rest of file `index` from `diskPath` and completes it: its CRC-32, or null when nothing went early. */
  finish(id: string, index: number, diskPath: string, signal: AbortSignal): Promise<number | null>;
}

export interface UploaderOptions {
  bucket: ObjectStore;
  /** Folders a save_path may lie in; anything else is refused. */
  roots: string[];
  partSizeMin: number;
  queueSize: number;
  /** Parts already sent while the torrent downloaded, if overlapped upload is on. */
  early?: SentEarly;
  /** Also store one STORE zip of a multi-file job's files (T2S_ZIP); on unless false. */
  zip?: boolean;
  log: Logger;
}

const within = (root: string, p: string) => p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);

export class Uploader {
  private readonly o: UploaderOptions;
  private readonly buffers: BufferPool;
  constructor(o: UploaderOptions) {
    this.o = o;
    this.buffers = new BufferPool(o.queueSize);
  }

  /** Resolves a file Deluge names to a real file inside the torrent's folder, refusing links and escapes. */
  private async diskPath(root: string, rel: string): Promise<string> {
    const p = resolve(root, rel);
    if (!within(root, p)) throw new Error(`file path escapes the torrent folder: ${JSON.stringify(rel)}`);
    const st = await lstat(p);
    if (!st.isFile()) throw new Error(`not a regular file: ${JSON.stringify(rel)}`);
    if (!within(root, await realpath(p))) throw new Error(`file path escapes the torrent folder: ${JSON.stringify(rel)}`);
    return p;
  }

  /**
   * Uploads every file, then the manifest. "exists" when a manifest of this run and choice was already there;
   * one of a narrower choice (written before a requester widened it) is replaced.
   */
  async upload(job: UploadJob, onProgress: (uploadedBytes: number) => void, signal: AbortSignal): Promise<"uploaded" | "exists"> {
    const { bucket, log } = this.o;
    if (manifestFits(await bucket.get(manifestKey(job.id), signal), job.id, job.run, job.chosen)) return "exists";
    const root = await realpath(job.saveRoot);
    const roots = await Promise.all(this.o.roots.map((r) => realpath(r).catch(() => r)));
    if (!roots.some((r) => within(r, root))) throw new Error(`save path is outside the seedbox folders: ${root}`);

    const keys = objectKeys(job.id, job.files);
    const manifest: Manifest = { id: job.id, name: job.name, files: [], ...(job.run ? { run: job.run } : {}), ...(job.chosen !== undefined ? { chosen: job.chosen } : {}) };
    const zipped: (ZipEntry & { disk: string })[] = [];
    let done = 0;
    for (const [i, f] of job.files.entries()) {
      const key = keys[i];
      if (!key) continue;
      signal.throwIfAborted();
      const disk = await this.diskPath(root, f.path);
      const base = done;
      const crc = (await this.o.early?.finish(job.id, f.index, disk, signal)) ??
        (await this.putFile(disk, key, f.path, f.size, (n) => onProgress(base + n), signal));
      done += f.size;
      onProgress(done);
      manifest.files.push({ path: f.path, key, size: f.size });
      zipped.push({ name: key.slice(dataPrefix(job.id).length), size: f.size, crc32: crc, disk });
    }
    if (this.o.zip !== false && zipped.length > 1) {
      try {
        const started = Date.now();
        manifest.zip = { key: zipKey(job.id), size: await this.putZip(job, zipped, signal) };
        log.info("zip uploaded", { job: job.id, entries: zipped.length, bytes: manifest.zip.size, ms: Date.now() - started });
      } catch (err) {
        // The zip is a convenience: the files are up, so the job completes without one rather than failing.
        if (signal.aborted) throw err;
        log.warn("zip upload failed; the job completes without a zip", { job: job.id, err });
      }
    }
    // Written last: its existence is what makes the job complete.
    await bucket.putJson(manifestKey(job.id), manifest);
    log.info("uploaded", { job: job.id, files: manifest.files.length, bytes: done });
    return "uploaded";
  }

  /** Uploads one file to `key`; resolves to its CRC-32. */
  async putFile(disk: string, key: string, path: string, size: number, onProgress: (sent: number) => void, signal: AbortSignal): Promise<number> {
    const fh = await open(disk, "r");
    try {
      return await this.putObject(key, objectHeaders(path), size, (buf, pos) => readFully(fh, buf, pos), onProgress, signal);
    } finally {
      await fh.close();
    }
  }

  /**
   * Uploads the zip of the job's files to files/<id>/all.zip, its parts read by position from the files
   * (one open handle per file, closed at the end); resolves to the zip's size.
   */
  async putZip(job: UploadJob, entries: readonly (ZipEntry & { disk: string })[], signal: AbortSignal): Promise<number> {
    const layout = zipLayout(entries);
    const handles = new Map<number, Promise<FileHandle>>();
    const handle = (i: number) => {
      let h = handles.get(i);
      if (!h) handles.set(i, (h = open(entries[i]!.disk, "r")));
      return h;
    };
    const headers = { contentType: "application/zip", contentDisposition: contentDisposition(`${(job.name || job.id).replace(/[/\\]/g, "_")}.zip`) };
    try {
      await this.putObject(zipKey(job.id), headers, layout.size, (buf, pos) => readZipRange(layout, buf, pos, async (i, dest, start) => readFully(await handle(i), dest, start)), () => {}, signal);
    } finally {
      await Promise.all([...handles.values()].map((h) => h.then((fh) => fh.close()).catch(() => {})));
    }
    return layout.size;
  }

  /**
   * Uploads `size` bytes, read by `read(buf, position)`: one PUT when they fit in a part, else a multipart
   * upload with `queueSize` parts in flight, each read straight into a reused buffer. Aborted on `signal` or
   * on any failure, so no multipart upload is left open. Resolves to the bytes' CRC-32.
   */
  private async putObject(
    key: string, headers: ObjectHeaders,
    size: number, read: (buf: Buffer, position: number) => Promise<Buffer>, onProgress: (sent: number) => void, signal: AbortSignal,
  ): Promise<number> {
    const partSize = partSizeFor(size, this.o.partSizeMin);
    if (size <= partSize) {
      const Body = await read(Buffer.allocUnsafe(size), 0);
      await this.o.bucket.putObject(key, headers, Body, signal);
      onProgress(size);
      return crc32(Body) >>> 0;
    }
    const upload = this.o.bucket.multipart(key, headers);
    let sent = 0;
    try {
      await eachLimited(Array.from({ length: Math.ceil(size / partSize) }, (_, n) => n), this.o.queueSize, async (n) => {
        signal.throwIfAborted();
        const len = Math.min(partSize, size - n * partSize);
        await this.buffers.with(partSize, len, async (buf) => upload.put(n + 1, await read(buf, n * partSize), signal));
        onProgress((sent += len));
      });
      return await upload.complete(signal);
    } catch (err) {
      await upload.abort().catch(() => {});
      throw err;
    }
  }
}

/**
 * Whether a stored manifest (its bytes; null: none) holds what a run asks for: the files of `chosen`
 * (undefined: not known here, so any manifest of the run will do). A malformed one does not.
 */
export function manifestFits(raw: Buffer | null, id: string, run: string | undefined, chosen: FileSelection | null | undefined): boolean {
  if (!raw) return false;
  let m: Manifest;
  try {
    m = parseManifest(raw.toString("utf8"), id);
  } catch {
    return false;
  }
  return manifestServes(m, run, chosen);
}
