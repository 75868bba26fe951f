// Uploads a finished torrent's files into S3 (multipart, parts read straight from disk), then writes the manifest last.
import { lstat, open, realpath } from "node:fs/promises";
import { basename, resolve, sep } from "node:path";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { create as contentDisposition } from "content-disposition";
import mime from "mime-types";
import type { Bucket } from "../lib/aws/bucket.ts";
import { dataPrefix, manifestKey } from "../lib/layout.ts";
import type { Logger } from "../lib/log.ts";
import type { Manifest } from "../lib/messages.ts";
import { safeRelativePaths } from "../lib/safepath.ts";
import type { EarlyUploads } from "./early-upload.ts";
import { eachLimited, MultipartFile, readFully } from "./multipart.ts";
import { partSizeFor } from "./parts.ts";

export interface UploadJob {
  id: string;
  name: string;
  /** The folder holding the files: Deluge's save_path once it has finished (and moved) the torrent. */
  saveRoot: string;
  /** Paths relative to saveRoot, as Deluge lists them, with Deluge's file index. */
  files: { index: number; path: string; size: number }[];
}

export interface UploaderOptions {
  s3: S3Client;
  bucket: Bucket;
  /** Folders a save_path may lie in; anything else is refused. */
  roots: string[];
  partSizeMin: number;
  queueSize: number;
  /** Parts already sent while the torrent downloaded, if overlapped upload is on. */
  early?: EarlyUploads;
  log: Logger;
}

/** Content-Disposition with the file's own name, encoded so no name (quotes, CR/LF) can break the header. */
export const dispositionFor = (path: string) => contentDisposition(basename(path));

/** libtorrent's padding files in hybrid torrents are not payload. */
const isPadding = (path: string) => path.split("/").some((p) => p === ".pad");

/** Each file's S3 key, in the order given; null for padding files, which are not uploaded. */
export function objectKeys(id: string, files: readonly { path: string }[]): (string | null)[] {
  const payload = files.filter((f) => !isPadding(f.path));
  const keys = safeRelativePaths(payload.map((f) => f.path.split("/")));
  let i = 0;
  return files.map((f) => (isPadding(f.path) ? null : dataPrefix(id) + keys[i++]!));
}

/** The headers a downloaded file is served with. */
export const objectHeaders = (path: string) => ({
  ContentType: mime.lookup(path) || "application/octet-stream",
  ContentDisposition: dispositionFor(path),
});

const within = (root: string, p: string) => p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);

export class Uploader {
  private readonly o: UploaderOptions;
  constructor(o: UploaderOptions) {
    this.o = o;
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

  /** Uploads every file, then the manifest. "exists" when the manifest was already there. */
  async upload(job: UploadJob, onProgress: (uploadedBytes: number) => void, signal: AbortSignal): Promise<"uploaded" | "exists"> {
    const { bucket, log } = this.o;
    if (await bucket.exists(manifestKey(job.id))) return "exists";
    const root = await realpath(job.saveRoot);
    const roots = await Promise.all(this.o.roots.map((r) => realpath(r).catch(() => r)));
    if (!roots.some((r) => within(r, root))) throw new Error(`save path is outside the seedbox folders: ${root}`);

    const keys = objectKeys(job.id, job.files);
    const manifest: Manifest = { id: job.id, name: job.name, files: [] };
    let done = 0;
    for (const [i, f] of job.files.entries()) {
      const key = keys[i];
      if (!key) continue;
      signal.throwIfAborted();
      const disk = await this.diskPath(root, f.path);
      const base = done;
      if (!(await this.o.early?.finish(job.id, f.index, disk, signal))) {
        await this.putFile(disk, key, f.path, f.size, (n) => onProgress(base + n), signal);
      }
      done += f.size;
      onProgress(done);
      manifest.files.push({ path: f.path, key, size: f.size });
    }
    // Written last: its existence is what makes the job complete.
    await bucket.putJson(manifestKey(job.id), manifest);
    log.info("uploaded", { job: job.id, files: manifest.files.length, bytes: done });
    return "uploaded";
  }

  /**
   * Uploads one file to `key`: one PUT when it fits in a part, else a multipart upload with `queueSize`
   * parts in flight, each read straight into a reused buffer. Aborted on `signal` or on any failure.
   */
  async putFile(disk: string, key: string, path: string, size: number, onProgress: (sent: number) => void, signal: AbortSignal): Promise<void> {
    const params = { Bucket: this.o.bucket.name, Key: key, ...objectHeaders(path) };
    const partSize = partSizeFor(size, this.o.partSizeMin);
    const fh = await open(disk, "r");
    try {
      if (size <= partSize) {
        const Body = await readFully(fh, Buffer.allocUnsafe(size), 0);
        await this.o.s3.send(new PutObjectCommand({ ...params, Body, ContentLength: size }), { abortSignal: signal });
        return onProgress(size);
      }
      const upload = new MultipartFile(this.o.s3, params);
      const buffers: Buffer[] = [];
      let sent = 0;
      try {
        await eachLimited(Array.from({ length: Math.ceil(size / partSize) }, (_, n) => n), this.o.queueSize, async (n, slot) => {
          signal.throwIfAborted();
          const len = Math.min(partSize, size - n * partSize);
          const buf = (buffers[slot] ??= Buffer.allocUnsafe(partSize)).subarray(0, len);
          await upload.put(n + 1, await readFully(fh, buf, n * partSize), signal);
          onProgress((sent += len));
        });
        await upload.complete(signal);
      } catch (err) {
        await upload.abort().catch(() => {});
        throw err;
      }
    } finally {
      await fh.close();
    }
  }
}
