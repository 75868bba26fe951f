// Makes real v1 .torrent files and their payloads on disk, for seeding in tests and benchmarks.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import bencode from "bencode";

export interface PayloadFile {
  /** Path inside the torrent (not including the torrent name). */
  path: string[];
  data?: Buffer;
  /** Random bytes of this size, when no data is given. */
  size?: number;
}

export interface MadeTorrent {
  name: string;
  infoHash: string;
  torrent: Buffer;
  /** Where the payload lies: seed with download_location = this folder. */
  seedDir: string;
  /** sha256 of each file, by its path as Deluge shows it (name/...). */
  sha256: Map<string, string>;
  files: { path: string; size: number }[];
  /** Set with `placeholders`: the disk path of each file, relative to seedDir. */
  diskPaths?: string[];
}

export interface MakeOptions {
  name: string;
  /** Omit for a single-file torrent of `single`. */
  files?: PayloadFile[];
  single?: PayloadFile;
  dir: string;
  pieceLength?: number;
  /** Extra keys merged into the info dict (e.g. to make hostile torrents). */
  infoExtra?: Record<string, unknown>;
  /**
   * Write each file at <name>/f<index> instead of its own path: for names that cannot be written as
   * they are (".." and the like). The test stack copies them to where the seeder expects them.
   */
  placeholders?: boolean;
}

async function hashPieces(paths: string[], pieceLength: number): Promise<Buffer> {
  const hashes: Buffer[] = [];
  let piece = createHash("sha1");
  let filled = 0;
  for (const p of paths) {
    for await (const chunk of createReadStream(p, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(pieceLength - filled, chunk.length - off);
        piece.update(chunk.subarray(off, off + n));
        filled += n;
        off += n;
        if (filled === pieceLength) {
          hashes.push(piece.digest());
          piece = createHash("sha1");
          filled = 0;
        }
      }
    }
  }
  if (filled > 0) hashes.push(piece.digest());
  return Buffer.concat(hashes);
}

async function writePayload(path: string, f: PayloadFile): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  if (f.data) {
    await writeFile(path, f.data);
  } else {
    // Written in chunks so large payloads never sit in memory whole.
    const { open } = await import("node:fs/promises");
    const fh = await open(path, "w");
    let left = f.size ?? 0;
    while (left > 0) {
      const n = Math.min(left, 8 << 20);
      await fh.write(randomBytes(n));
      left -= n;
    }
    await fh.close();
  }
  const h = createHash("sha256");
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest("hex");
}

export async function makeTorrent(o: MakeOptions): Promise<MadeTorrent> {
  const pieceLength = o.pieceLength ?? 256 * 1024;
  const seedDir = o.dir;
  const sha256 = new Map<string, string>();
  const files: { path: string; size: number }[] = [];
  const diskPaths: string[] = [];
  const info: Record<string, unknown> = { name: o.name, "piece length": pieceLength };
  if (o.files) {
    const list: { length: number; path: string[] }[] = [];
    for (const f of o.files) {
      const disk = o.placeholders ? join(seedDir, o.name, `f${list.length}`) : join(seedDir, o.name, ...f.path);
      const digest = await writePayload(disk, f);
      const size = f.data?.length ?? f.size ?? 0;
      const shown = [o.name, ...f.path].join("/");
      sha256.set(shown, digest);
      files.push({ path: shown, size });
      diskPaths.push(disk);
      list.push({ length: size, path: f.path });
    }
    info.files = list;
  } else {
    const f = o.single!;
    const disk = join(seedDir, o.name);
    const digest = await writePayload(disk, f);
    const size = f.data?.length ?? f.size ?? 0;
    sha256.set(o.name, digest);
    files.push({ path: o.name, size });
    diskPaths.push(disk);
    info.length = size;
  }
  info.pieces = await hashPieces(diskPaths, pieceLength);
  Object.assign(info, o.infoExtra);
  const meta: Record<string, unknown> = { info, "created by": "torrent2s3 tests" };
  const torrent = Buffer.from(bencode.encode(meta));
  const infoHash = createHash("sha1").update(bencode.encode(info)).digest("hex");
  const placeholderPaths = o.placeholders ? diskPaths.map((p) => p.slice(seedDir.length + 1)) : undefined;
  return { name: o.name, infoHash, torrent, seedDir, sha256, files, ...(placeholderPaths ? { diskPaths: placeholderPaths } : {}) };
}
