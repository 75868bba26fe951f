// Extracts a Lambda deployment zip (STORE or DEFLATE entries, as cdktf's archiver writes them) without a
// tool from the distribution: the rehearsal reads the central directory the way Lambda's unpacker does.
// Format: PKWARE APPNOTE 6.3.x, sections 4.3.12 (central directory) and 4.3.16 (end record).
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, resolve, sep } from "node:path";
import { inflateRawSync } from "node:zlib";

/** Writes every file of `zip` under `dir`; refuses names that leave it, and encrypted or Zip64 archives. */
export async function unzipTo(zip: Buffer, dir: string): Promise<string[]> {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new Error("not a zip archive (no end of central directory record)");
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  if (at === 0xffff_ffff) throw new Error("Zip64 archives are not supported here");
  const root = resolve(dir);
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`zip entry ${i}: bad central directory header`);
    const flags = zip.readUInt16LE(at + 8);
    const method = zip.readUInt16LE(at + 10);
    const compressed = zip.readUInt32LE(at + 20);
    const nameLen = zip.readUInt16LE(at + 28);
    const extraLen = zip.readUInt16LE(at + 30);
    const commentLen = zip.readUInt16LE(at + 32);
    const local = zip.readUInt32LE(at + 42);
    const name = zip.subarray(at + 46, at + 46 + nameLen).toString("utf8");
    at += 46 + nameLen + extraLen + commentLen;
    if (flags & 1) throw new Error(`zip entry ${name}: encrypted`);
    const target = resolve(root, name);
    if (!target.startsWith(root + sep)) throw new Error(`zip entry ${name}: outside the archive's folder`);
    if (name.endsWith("/")) {
      await mkdir(target, { recursive: true });
      continue;
    }
    // The local header's own name and extra lengths can differ from the central directory's.
    const data = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(data, data + compressed);
    const bytes = method === 0 ? raw : method === 8 ? inflateRawSync(raw) : null;
    if (!bytes) throw new Error(`zip entry ${name}: compression method ${method} is not supported`);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, bytes);
    names.push(name);
  }
  return names;
}
