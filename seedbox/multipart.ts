// One S3 multipart upload of one file, part by part, from positional reads of the file on disk. Used for
// whole files at the finish and for parts sent early while a torrent downloads. lib-storage's Upload takes
// a stream and decides the parts itself, so it can neither send a chosen part early nor skip the stream's
// extra copies; reading each part straight into its buffer keeps CPU and memory below the CLI tools'.
import type { FileHandle } from "node:fs/promises";
import { crc32 } from "node:zlib";
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, UploadPartCommand,
  type CompletedPart, type S3Client,
} from "@aws-sdk/client-s3";
import { crc32Combine } from "./zip.ts";

/** Fills `buf` from the file at `position`; fails if the file is shorter. */
export async function readFully(fh: FileHandle, buf: Buffer, position: number): Promise<Buffer> {
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, position + got);
    if (bytesRead === 0) throw new Error("the file is shorter than expected");
    got += bytesRead;
  }
  return buf;
}

/**
 * Runs `work` over `items` with at most `n` at once. After a failure no item starts, and it rejects only
 * once every running item has settled: a caller's cleanup (aborting a multipart upload) then runs after
 * the last part, not beside parts that would open a new upload.
 */
export async function eachLimited<T>(items: readonly T[], n: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      try {
        await work(items[next++]!);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
  const failure = settled.find((r) => r.status === "rejected");
  if (failure) throw failure.reason;
}

/**
 * Part buffers reused from one part to the next: each is held by one part at a time, and at most `keep`
 * wait idle. Fresh multi-MiB buffers per part pile up as garbage faster than V8 collects them.
 */
export class BufferPool {
  private readonly idle: Buffer[] = [];
  private readonly keep: number;

  constructor(keep: number) {
    this.keep = keep;
  }

  /** Runs `use` with `length` bytes of a buffer of at least `capacity`, then takes the buffer back. */
  async with<T>(capacity: number, length: number, use: (buf: Buffer) => Promise<T>): Promise<T> {
    const i = this.idle.findIndex((b) => b.length >= capacity);
    const buf = i >= 0 ? this.idle.splice(i, 1)[0]! : Buffer.allocUnsafe(Math.max(capacity, length));
    try {
      return await use(buf.subarray(0, length));
    } finally {
      // Full: keep the larger, so a short last part does not push out a whole part's buffer.
      this.idle.push(buf);
      if (this.idle.length > this.keep) this.idle.splice(this.idle.indexOf(this.idle.reduce((a, b) => (b.length < a.length ? b : a))), 1);
    }
  }
}

/** S3's CRC32 checksum header value for a CRC from zlib's native CRC32 (the SDK would otherwise compute its own). */
export function crc32Base64(crc: number): string {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(crc >>> 0);
  return out.toString("base64");
}

export class MultipartFile {
  private readonly s3: S3Client;
  private readonly params: { Bucket: string; Key: string; ContentType: string; ContentDisposition: string };
  /** Created once by the first part to go (parts go several at a time). */
  private uploadId: Promise<string> | null = null;
  private readonly parts = new Map<number, CompletedPart>();
  /** Each sent part's CRC-32 and length: the whole object's CRC-32 is combined from them. */
  private readonly crcs = new Map<number, { crc: number; length: number }>();

  constructor(s3: S3Client, params: { Bucket: string; Key: string; ContentType: string; ContentDisposition: string }) {
    this.s3 = s3;
    this.params = params;
  }

  get started(): boolean {
    return this.uploadId !== null;
  }

  has(partNumber: number): boolean {
    return this.parts.has(partNumber);
  }

  get sentParts(): number {
    return this.parts.size;
  }

  private id(signal: AbortSignal): Promise<string> {
    this.uploadId ??= this.s3.send(new CreateMultipartUploadCommand({ ...this.params, ChecksumAlgorithm: "CRC32" }), { abortSignal: signal })
      .then((o) => {
        if (!o.UploadId) throw new Error("S3 gave no upload id");
        return o.UploadId;
      })
      .catch((err) => {
        this.uploadId = null; // the next part tries again
        throw err;
      });
    return this.uploadId;
  }

  async put(partNumber: number, body: Buffer, signal: AbortSignal): Promise<void> {
    const { Bucket, Key } = this.params;
    const UploadId = await this.id(signal);
    const crc = crc32(body) >>> 0;
    const out = await this.s3.send(new UploadPartCommand({
      Bucket, Key, UploadId, PartNumber: partNumber, Body: body, ContentLength: body.length, ChecksumCRC32: crc32Base64(crc),
    }), { abortSignal: signal });
    this.parts.set(partNumber, { PartNumber: partNumber, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32 });
    this.crcs.set(partNumber, { crc, length: body.length });
  }

  /** Completes the object; resolves to the CRC-32 of its bytes (parts 1..n in order). */
  async complete(signal: AbortSignal): Promise<number> {
    const { Bucket, Key } = this.params;
    const Parts = [...this.parts.values()].sort((a, b) => a.PartNumber! - b.PartNumber!);
    let whole = 0;
    for (const [k, p] of Parts.entries()) {
      const c = this.crcs.get(p.PartNumber!);
      if (p.PartNumber !== k + 1 || !c) throw new Error(`part ${k + 1} of ${Key} was never sent`);
      whole = k === 0 ? c.crc : crc32Combine(whole, c.crc, c.length);
    }
    await this.s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId: await this.id(signal), MultipartUpload: { Parts } }), { abortSignal: signal });
    this.uploadId = null;
    this.parts.clear();
    this.crcs.clear();
    return whole;
  }

  /** Aborts the upload, if one was started; S3 then drops its parts. */
  async abort(): Promise<void> {
    const uploadId = await this.uploadId?.catch(() => null);
    this.uploadId = null;
    this.parts.clear();
    this.crcs.clear();
    if (!uploadId) return;
    await this.s3.send(new AbortMultipartUploadCommand({ Bucket: this.params.Bucket, Key: this.params.Key, UploadId: uploadId }));
  }
}
