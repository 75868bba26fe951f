import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { crc32 } from "node:zlib";
import { parse } from "content-disposition";
import { createLogger } from "../../lib/log.ts";
import type { Manifest } from "../../lib/messages.ts";
import type { ObjectHeaders, ObjectStore, PartUpload } from "../../lib/object-store.ts";
import { dispositionFor } from "../../seedbox/objects.ts";
import { partSizeFor } from "../../seedbox/parts.ts";
import { Uploader } from "../../seedbox/uploader.ts";

describe("uploaded object headers", () => {
  for (const name of ['evil"; filename="x.exe', "naïve café.mkv", "100% real.txt"]) {
    it(`carries ${JSON.stringify(name)} intact in Content-Disposition`, () => {
      const h = dispositionFor(`dir/${name}`);
      assert.ok(/^[\x20-\x7e]+$/.test(h), "printable ASCII only");
      assert.equal(parse(h).type, "attachment");
      assert.equal(parse(h).parameters.filename, name);
    });
  }
  for (const name of ["line\r\nX-Injected: 1.txt", "tab\there.txt"]) {
    it(`cannot break the header with ${JSON.stringify(name)}`, () => {
      const h = dispositionFor(`dir/${name}`);
      assert.ok(/^[\x20-\x7e]+$/.test(h), `not a single printable line: ${JSON.stringify(h)}`);
      assert.equal(parse(h).type, "attachment");
    });
  }
});

describe("partSizeFor", () => {
  it("keeps the minimum for ordinary files and stays within 10 000 parts for huge ones", () => {
    assert.equal(partSizeFor(1024, 8 << 20), 8 << 20);
    const huge = 200 * 1024 ** 3;
    assert.ok(Math.ceil(huge / partSizeFor(huge, 8 << 20)) <= 10_000);
  });
});

/** An object store in memory that records what the uploader asks of it (a pure unit test: no S3). */
class MemoryObjects implements ObjectStore {
  readonly objects = new Map<string, { headers: ObjectHeaders | null; body: Buffer }>();
  readonly events: string[] = [];
  /** Part buffers seen (by their memory), and the most parts sent at once. */
  readonly partMemory = new Set<ArrayBufferLike>();
  inFlight = 0;
  mostInFlight = 0;
  failPart: number | null = null;

  async get(key: string): Promise<Buffer | null> {
    return this.objects.get(key)?.body ?? null;
  }

  async putJson(key: string, value: unknown): Promise<void> {
    this.events.push(`json ${key}`);
    this.objects.set(key, { headers: null, body: Buffer.from(JSON.stringify(value)) });
  }

  async putObject(key: string, headers: ObjectHeaders, body: Buffer): Promise<void> {
    this.events.push(`put ${key}`);
    this.objects.set(key, { headers, body: Buffer.from(body) });
  }

  multipart(key: string, headers: ObjectHeaders): PartUpload {
    const parts = new Map<number, Buffer>();
    const store = this;
    return {
      get started() {
        return parts.size > 0;
      },
      has: (n) => parts.has(n),
      async put(n, body) {
        store.partMemory.add(body.buffer);
        store.mostInFlight = Math.max(store.mostInFlight, ++store.inFlight);
        // Held until another part is on its way too (or half a second passes), so that two in flight shows
        // however slowly a loaded machine reads the next part from disk.
        for (let i = 0; i < 50 && store.inFlight < 2; i++) await new Promise((r) => setTimeout(r, 10));
        await new Promise((r) => setTimeout(r, 2));
        store.inFlight--;
        if (n === store.failPart) throw new Error(`part ${n} failed`);
        parts.set(n, Buffer.from(body));
      },
      async complete() {
        const ordered = [...parts.keys()].sort((a, b) => a - b).map((n, i) => (assert.equal(n, i + 1), parts.get(n)!));
        const body = Buffer.concat(ordered);
        store.events.push(`multipart ${key} ${ordered.length}`);
        store.objects.set(key, { headers, body });
        return crc32(body) >>> 0;
      },
      async abort() {
        store.events.push(`abort ${key}`);
        parts.clear();
      },
    };
  }
}

describe("Uploader (in-memory object store)", () => {
  const MiB = 1024 * 1024;
  const id = "c".repeat(40);
  let root: string;
  const log = createLogger("test", { level: "error" });
  const files = { small: randomBytes(1000), big: randomBytes(12 * MiB + 5), extra: randomBytes(77) };
  const job = (names: (keyof typeof files)[]) => ({
    id, name: "Job", saveRoot: root, files: names.map((n, index) => ({ index, path: `Job/${n}.bin`, size: files[n].length })),
  });
  const uploader = (bucket: ObjectStore, o: { zip?: boolean } = {}) => new Uploader({ bucket, roots: [root], partSizeMin: 5 * MiB, queueSize: 2, log, ...o });

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "t2s-uploader-"));
    await mkdir(join(root, "Job"));
    for (const [n, bytes] of Object.entries(files)) await writeFile(join(root, "Job", `${n}.bin`), bytes);
  });
  after(() => rm(root, { recursive: true, force: true }));

  it("sends a small file in one request and a large one in parts, two in flight in two reused buffers, and the manifest last", async () => {
    const bucket = new MemoryObjects();
    const seen: number[] = [];
    assert.equal(await uploader(bucket, { zip: false }).upload(job(["small", "big"]), (n) => seen.push(n), AbortSignal.timeout(10_000)), "uploaded");
    const small = `files/${id}/data/Job/small.bin`;
    const big = `files/${id}/data/Job/big.bin`;
    assert.deepEqual(bucket.events, [`put ${small}`, `multipart ${big} 3`, `json files/${id}/manifest.json`]);
    assert.ok(bucket.objects.get(small)!.body.equals(files.small));
    assert.ok(bucket.objects.get(big)!.body.equals(files.big));
    assert.equal(bucket.objects.get(big)!.headers!.contentType, "application/octet-stream");
    assert.equal(bucket.mostInFlight, 2);
    assert.ok(bucket.partMemory.size <= 2, `parts used ${bucket.partMemory.size} buffers`);
    assert.equal(seen.at(-1), files.small.length + files.big.length);
    const manifest = JSON.parse(bucket.objects.get(`files/${id}/manifest.json`)!.body.toString()) as Manifest;
    assert.deepEqual(manifest.files.map((f) => f.key), [small, big]);
    assert.equal(manifest.zip, undefined);
  });

  it("zips a multi-file job with the CRCs of its uploads", async () => {
    const bucket = new MemoryObjects();
    await uploader(bucket).upload(job(["small", "extra"]), () => {}, AbortSignal.timeout(10_000));
    const zip = bucket.objects.get(`files/${id}/all.zip`)!;
    assert.equal(zip.headers!.contentType, "application/zip");
    // Each local header holds its entry's CRC-32 at offset 14.
    assert.equal(zip.body.readUInt32LE(14), crc32(files.small) >>> 0);
    const manifest = JSON.parse(bucket.objects.get(`files/${id}/manifest.json`)!.body.toString()) as Manifest;
    assert.deepEqual(manifest.zip, { key: `files/${id}/all.zip`, size: zip.body.length });
  });

  it("does nothing when the manifest of this run and choice is there already", async () => {
    const bucket = new MemoryObjects();
    await bucket.putJson(`files/${id}/manifest.json`, { id, name: "Job", files: [], run: "r1", chosen: [0] });
    bucket.events.length = 0;
    assert.equal(await uploader(bucket).upload({ ...job(["small"]), run: "r1", chosen: [0] }, () => {}, AbortSignal.timeout(10_000)), "exists");
    // Not knowing the choice (a restart), any manifest of the run will do.
    assert.equal(await uploader(bucket).upload({ ...job(["small"]), run: "r1" }, () => {}, AbortSignal.timeout(10_000)), "exists");
    assert.deepEqual(bucket.events, []);
  });

  it("replaces a manifest of a narrower choice, another run's, or a malformed one, and names its run and choice", async () => {
    for (const old of [{ id, name: "Job", files: [], run: "r1", chosen: [0] }, { id, name: "Job", files: [], run: "r0", chosen: [0, 1] }, {}]) {
      const bucket = new MemoryObjects();
      await bucket.putJson(`files/${id}/manifest.json`, old);
      bucket.events.length = 0;
      assert.equal(await uploader(bucket, { zip: false }).upload({ ...job(["small", "extra"]), run: "r1", chosen: [0, 1] }, () => {}, AbortSignal.timeout(10_000)), "uploaded");
      assert.deepEqual(bucket.events.at(-1), `json files/${id}/manifest.json`);
      const m = JSON.parse(bucket.objects.get(`files/${id}/manifest.json`)!.body.toString()) as Manifest;
      assert.deepEqual([m.run, m.chosen, m.files.length], ["r1", [0, 1], 2]);
    }
  });

  it("aborts the multipart upload when a part fails, and writes no manifest", async () => {
    const bucket = new MemoryObjects();
    bucket.failPart = 2;
    await assert.rejects(uploader(bucket).upload(job(["big"]), () => {}, AbortSignal.timeout(10_000)), /part 2 failed/);
    assert.deepEqual(bucket.events, [`abort files/${id}/data/Job/big.bin`]);
  });

  it("refuses a save path outside its folders", async () => {
    const bucket = new MemoryObjects();
    const outside = { ...job(["small"]), saveRoot: tmpdir() };
    await assert.rejects(uploader(bucket).upload(outside, () => {}, AbortSignal.timeout(10_000)), /outside the seedbox folders/);
    assert.deepEqual(bucket.events, []);
  });
});
