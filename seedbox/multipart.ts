// The local side of a multipart upload: parts read by position from the file on disk straight into reused
// buffers, a few at a time. Reading each part straight into its buffer keeps CPU and memory below the CLI
// tools'. The parts go to the bucket through lib/object-store.ts.
import type { FileHandle } from "node:fs/promises";

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
