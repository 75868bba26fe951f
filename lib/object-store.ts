// Where the seedbox puts a job's files: whole objects, and objects sent part by part (parts may go early,
// out of order and several at a time). The Bucket (lib/aws/bucket.ts, lib/aws/multipart.ts) implements it on S3;
// the uploader and overlapped upload see only this.

/** The headers a downloaded object is served with. */
export interface ObjectHeaders {
  contentType: string;
  contentDisposition: string;
}

/** One object uploaded in numbered parts (1..n); nothing is visible until `complete`. */
export interface PartUpload {
  /** Whether the upload has begun (its first part went, or is going). */
  readonly started: boolean;
  /** Whether part `partNumber` has been sent. */
  has(partNumber: number): boolean;
  put(partNumber: number, body: Buffer, signal: AbortSignal): Promise<void>;
  /** Makes the object of parts 1..n; resolves to the CRC-32 of its bytes. Fails if a part is missing. */
  complete(signal: AbortSignal): Promise<number>;
  /** Drops the upload and its parts, if it was started. */
  abort(): Promise<void>;
}

export interface ObjectStore {
  /** An object's bytes, or null when there is none. */
  get(key: string, signal?: AbortSignal): Promise<Buffer | null>;
  putJson(key: string, value: unknown): Promise<void>;
  /** One object in one request (it fits in a part). */
  putObject(key: string, headers: ObjectHeaders, body: Buffer, signal: AbortSignal): Promise<void>;
  /** A multipart upload of `key`, begun by its first part. */
  multipart(key: string, headers: ObjectHeaders): PartUpload;
}
