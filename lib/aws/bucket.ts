// The project's bucket: JSON records, claim checks, listings, presigned links, and the seedbox's uploads.
import {
  DeleteObjectCommand,
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type { ObjectHeaders, ObjectStore, PartUpload } from "../object-store.ts";
import { MultipartFile, putObject } from "./multipart.ts";

const isNotFound = (err: unknown) => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === "NoSuchKey" || e?.name === "NotFound" || e?.$metadata?.httpStatusCode === 404;
};

export interface ObjectDownload {
  status: 200 | 206 | 416;
  headers: Record<string, string>;
  /** null for a 416. */
  body: AsyncIterable<Uint8Array> | null;
}

export class Bucket implements ObjectStore {
  readonly s3: S3Client;
  readonly name: string;
  constructor(s3: S3Client, name: string) {
    this.s3 = s3;
    this.name = name;
  }

  async get(key: string, signal?: AbortSignal): Promise<Buffer | null> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.name, Key: key }), { abortSignal: signal });
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /** The first `maxBytes` of an object (a Range request), or all of it if shorter. */
  async getStart(key: string, maxBytes: number): Promise<Buffer> {
    const out = await this.s3.send(new GetObjectCommand({ Bucket: this.name, Key: key, Range: `bytes=0-${maxBytes - 1}` }));
    return Buffer.from(await out.Body!.transformToByteArray()).subarray(0, maxBytes);
  }

  /**
   * An object as a download: all of it, or the part a Range header asks for (206), with the headers the
   * object was stored with (type, disposition) and those a ranged client needs. 416 for a range past
   * its end; null when it does not exist.
   */
  async download(key: string, range: string | undefined, signal?: AbortSignal): Promise<ObjectDownload | null> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.name, Key: key, ...(range ? { Range: range } : {}) }), { abortSignal: signal });
      const headers: Record<string, string> = { "accept-ranges": "bytes" };
      const put = (name: string, v: string | number | Date | undefined) => {
        if (v !== undefined && v !== "") headers[name] = v instanceof Date ? v.toUTCString() : String(v);
      };
      put("content-type", out.ContentType);
      put("content-disposition", out.ContentDisposition);
      put("content-length", out.ContentLength);
      put("content-range", out.ContentRange);
      put("etag", out.ETag);
      put("last-modified", out.LastModified);
      return { status: out.ContentRange ? 206 : 200, headers, body: out.Body as AsyncIterable<Uint8Array> };
    } catch (err) {
      if (isNotFound(err)) return null;
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 416) return { status: 416, headers: { "accept-ranges": "bytes" }, body: null };
      throw err;
    }
  }

  async put(key: string, body: Uint8Array | string, contentType: string): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.name, Key: key, Body: body, ContentType: contentType }));
  }

  putJson(key: string, value: unknown): Promise<void> {
    return this.put(key, JSON.stringify(value), "application/json");
  }

  putObject(key: string, headers: ObjectHeaders, body: Buffer, signal: AbortSignal): Promise<void> {
    return putObject(this.s3, this.name, key, headers, body, signal);
  }

  multipart(key: string, headers: ObjectHeaders): PartUpload {
    return new MultipartFile(this.s3, this.name, key, headers);
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.s3.send(new HeadObjectCommand({ Bucket: this.name, Key: key }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.s3.send(new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, ContinuationToken: token }));
      for (const o of out.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  /** Deletes one object; one that is not there is fine. */
  async delete(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.name, Key: key }));
  }

  async deletePrefix(prefix: string): Promise<number> {
    const keys = await this.list(prefix);
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000).map((Key) => ({ Key }));
      await this.s3.send(new DeleteObjectsCommand({ Bucket: this.name, Delete: { Objects: batch, Quiet: true } }));
    }
    return keys.length;
  }

  /** Aborts multipart uploads left open under a prefix (a crash mid-upload), so no orphan parts cost money. */
  async abortUploads(prefix: string): Promise<number> {
    const out = await this.s3.send(new ListMultipartUploadsCommand({ Bucket: this.name, Prefix: prefix }));
    let n = 0;
    for (const u of out.Uploads ?? []) {
      if (!u.Key || !u.UploadId) continue;
      await this.s3.send(new AbortMultipartUploadCommand({ Bucket: this.name, Key: u.Key, UploadId: u.UploadId }));
      n++;
    }
    return n;
  }

  presignGet(key: string, ttlSeconds: number): Promise<string> {
    return getSignedUrl(this.s3, new GetObjectCommand({ Bucket: this.name, Key: key }), { expiresIn: ttlSeconds });
  }
}
