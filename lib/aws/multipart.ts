// S3 multipart uploads, part by part, with S3's CRC-32 checksums. lib-storage's Upload takes a stream and
// decides the parts itself, so it can neither send a chosen part early nor skip the stream's extra copies;
// the caller reads each part straight into its buffer instead, and this sends it.
import { crc32 } from "node:zlib";
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, PutObjectCommand, UploadPartCommand,
  type CompletedPart, type S3Client,
} from "@aws-sdk/client-s3";
import { crc32Combine } from "../crc32.ts";
import type { ObjectHeaders, PartUpload } from "../object-store.ts";

interface ObjectParams {
  Bucket: string;
  Key: string;
  ContentType: string;
  ContentDisposition: string;
}

const objectParams = (bucket: string, key: string, h: ObjectHeaders): ObjectParams =>
  ({ Bucket: bucket, Key: key, ContentType: h.contentType, ContentDisposition: h.contentDisposition });

/** S3's CRC32 checksum header value for a CRC from zlib's native CRC32 (the SDK would otherwise compute its own). */
export function crc32Base64(crc: number): string {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(crc >>> 0);
  return out.toString("base64");
}

/** One PUT of a whole object with its headers. */
export async function putObject(s3: S3Client, bucket: string, key: string, headers: ObjectHeaders, body: Buffer, signal: AbortSignal): Promise<void> {
  await s3.send(new PutObjectCommand({ ...objectParams(bucket, key, headers), Body: body, ContentLength: body.length }), { abortSignal: signal });
}

export class MultipartFile implements PartUpload {
  private readonly s3: S3Client;
  private readonly params: ObjectParams;
  /** Created once by the first part to go (parts go several at a time). */
  private uploadId: Promise<string> | null = null;
  private readonly parts = new Map<number, CompletedPart>();
  /** Each sent part's CRC-32 and length: the whole object's CRC-32 is combined from them. */
  private readonly crcs = new Map<number, { crc: number; length: number }>();

  constructor(s3: S3Client, bucket: string, key: string, headers: ObjectHeaders) {
    this.s3 = s3;
    this.params = objectParams(bucket, key, headers);
  }

  get started(): boolean {
    return this.uploadId !== null;
  }

  has(partNumber: number): boolean {
    return this.parts.has(partNumber);
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
    this.clear();
    return whole;
  }

  /** Aborts the upload, if one was started; S3 then drops its parts. */
  async abort(): Promise<void> {
    const uploadId = await this.uploadId?.catch(() => null);
    this.clear();
    if (!uploadId) return;
    await this.s3.send(new AbortMultipartUploadCommand({ Bucket: this.params.Bucket, Key: this.params.Key, UploadId: uploadId }));
  }

  private clear(): void {
    this.uploadId = null;
    this.parts.clear();
    this.crcs.clear();
  }
}
