// A STORE (uncompressed) zip laid out up front. Every entry's name, size and CRC-32 are known before a byte is
// read, so the whole archive is a fixed list of segments (header bytes, then a range of a file on disk) and
// any byte range of it can be read by position: parts of its multipart upload go several at a time, each
// read straight from the files, with no data descriptors. Zip64 records are written only when needed:
// an entry or an offset at or past 4 GiB, or more than 65,535 entries.
// Format: PKWARE APPNOTE 6.3.x, sections 4.3 (structure), 4.4 (fields) and 4.5.3 (Zip64 extra field).

export interface ZipEntry {
  /** The entry's path in the archive, "/"-separated, stored as UTF-8 (flag bit 11). */
  name: string;
  size: number;
  crc32: number;
}

/** Bytes [offset, offset + length) of the archive: header bytes, or bytes [0, length) of entry `entry`'s file. */
export type ZipSegment = { offset: number; length: number } & ({ bytes: Buffer } | { entry: number });

export interface ZipLayout {
  size: number;
  segments: ZipSegment[];
  zip64: boolean;
}

const u32max = 0xffff_ffff;
const u16max = 0xffff;
const unixFile = (0o100644 << 16) >>> 0;

function dosDateTime(d: Date): { time: number; date: number } {
  const year = Math.min(2107, Math.max(1980, d.getUTCFullYear()));
  return {
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | Math.floor(d.getUTCSeconds() / 2),
    date: ((year - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
  };
}

function u64(buf: Buffer, n: number, at: number): void {
  buf.writeBigUInt64LE(BigInt(n), at);
}

/** What one entry's headers say, beyond its name and CRC. */
interface EntryHead {
  name: Buffer;
  crc32: number;
  size: number;
  /** Its size or its header's offset needs Zip64. */
  bigSize: boolean;
  bigOffset: boolean;
  headerOffset: number;
  time: number;
  date: number;
}

const versionOf = (h: EntryHead) => (h.bigSize || h.bigOffset ? 45 : 20);

/**
 * The 26 bytes both headers share, in the same order: version needed, flags (UTF-8 names), method (STORE),
 * time, date, CRC-32, both sizes, name length, extra length.
 */
function writeEntryFields(b: Buffer, at: number, h: EntryHead, extra: number): void {
  b.writeUInt16LE(versionOf(h), at);
  b.writeUInt16LE(0x0800, at + 2);
  b.writeUInt16LE(0, at + 4);
  b.writeUInt16LE(h.time, at + 6);
  b.writeUInt16LE(h.date, at + 8);
  b.writeUInt32LE(h.crc32 >>> 0, at + 10);
  b.writeUInt32LE(h.bigSize ? u32max : h.size, at + 14);
  b.writeUInt32LE(h.bigSize ? u32max : h.size, at + 18);
  b.writeUInt16LE(h.name.length, at + 22);
  b.writeUInt16LE(extra, at + 24);
}

/** Local file header (4.3.7), with a Zip64 extra carrying both sizes when they do not fit. */
function localHeader(h: EntryHead): Buffer {
  const extra = h.bigSize ? 20 : 0;
  const local = Buffer.alloc(30 + h.name.length + extra);
  local.writeUInt32LE(0x04034b50, 0);
  writeEntryFields(local, 4, h, extra);
  h.name.copy(local, 30);
  if (h.bigSize) {
    const x = 30 + h.name.length;
    local.writeUInt16LE(0x0001, x);
    local.writeUInt16LE(16, x + 2);
    u64(local, h.size, x + 4);
    u64(local, h.size, x + 12);
  }
  return local;
}

/** Central directory header (4.3.12): the Zip64 extra holds, in order, only the fields set to 0xFFFFFFFF. */
function centralHeader(h: EntryHead): Buffer {
  const fields = [...(h.bigSize ? [h.size, h.size] : []), ...(h.bigOffset ? [h.headerOffset] : [])];
  const extra = fields.length > 0 ? 4 + 8 * fields.length : 0;
  const c = Buffer.alloc(46 + h.name.length + extra);
  c.writeUInt32LE(0x02014b50, 0);
  c.writeUInt16LE((3 << 8) | 45, 4); // made by: Unix, spec 4.5
  writeEntryFields(c, 6, h, extra);
  c.writeUInt16LE(0, 32);
  c.writeUInt16LE(0, 34);
  c.writeUInt16LE(0, 36);
  c.writeUInt32LE(unixFile, 38);
  c.writeUInt32LE(h.bigOffset ? u32max : h.headerOffset, 42);
  h.name.copy(c, 46);
  if (extra > 0) {
    const x = 46 + h.name.length;
    c.writeUInt16LE(0x0001, x);
    c.writeUInt16LE(8 * fields.length, x + 2);
    fields.forEach((v, k) => u64(c, v, x + 4 + 8 * k));
  }
  return c;
}

/** The records after the central directory: Zip64 ones if asked, then the end record. */
function endRecords(count: number, cdSize: number, cdOffset: number, zip64: boolean): Buffer[] {
  const tail: Buffer[] = [];
  if (zip64) {
    // Zip64 end of central directory record (4.3.14) and its locator (4.3.15).
    const r = Buffer.alloc(56);
    r.writeUInt32LE(0x06064b50, 0);
    u64(r, 44, 4);
    r.writeUInt16LE((3 << 8) | 45, 12);
    r.writeUInt16LE(45, 14);
    r.writeUInt32LE(0, 16);
    r.writeUInt32LE(0, 20);
    u64(r, count, 24);
    u64(r, count, 32);
    u64(r, cdSize, 40);
    u64(r, cdOffset, 48);
    const l = Buffer.alloc(20);
    l.writeUInt32LE(0x07064b50, 0);
    l.writeUInt32LE(0, 4);
    u64(l, cdOffset + cdSize, 8);
    l.writeUInt32LE(1, 16);
    tail.push(r, l);
  }
  // End of central directory record (4.3.16); the Zip64 record holds what does not fit.
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Math.min(count, u16max), 8);
  end.writeUInt16LE(Math.min(count, u16max), 10);
  end.writeUInt32LE(Math.min(cdSize, u32max), 12);
  end.writeUInt32LE(Math.min(cdOffset, u32max), 16);
  tail.push(end);
  return tail;
}

/** The archive's layout. `forceZip64` writes the Zip64 records even when not needed (for tests). */
export function zipLayout(entries: readonly ZipEntry[], o: { modified?: Date; forceZip64?: boolean } = {}): ZipLayout {
  const { time, date } = dosDateTime(o.modified ?? new Date());
  const force = o.forceZip64 === true;
  const segments: ZipSegment[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  let anyZip64 = force;
  for (const [i, e] of entries.entries()) {
    if (!Number.isSafeInteger(e.size) || e.size < 0) throw new Error(`bad size for ${JSON.stringify(e.name)}`);
    const name = Buffer.from(e.name, "utf8");
    if (name.length > u16max) throw new Error("entry name too long");
    const h: EntryHead = {
      name, crc32: e.crc32, size: e.size, bigSize: force || e.size >= u32max, bigOffset: force || offset >= u32max, headerOffset: offset, time, date,
    };
    anyZip64 ||= h.bigSize || h.bigOffset;
    const local = localHeader(h);
    segments.push({ offset, length: local.length, bytes: local });
    offset += local.length;
    if (e.size > 0) segments.push({ offset, length: e.size, entry: i });
    offset += e.size;
    central.push(centralHeader(h));
  }
  const cdOffset = offset;
  const cdSize = central.reduce((n, b) => n + b.length, 0);
  const count = entries.length;
  const zip64 = anyZip64 || count >= u16max || cdOffset >= u32max || cdSize >= u32max;
  const bytes = Buffer.concat([...central, ...endRecords(count, cdSize, cdOffset, zip64)]);
  segments.push({ offset, length: bytes.length, bytes });
  return { size: offset + bytes.length, segments, zip64 };
}

/** Reads bytes [start, start + buf.length) of entry `entry`'s file into `buf`. */
export type EntryReader = (entry: number, buf: Buffer, start: number) => Promise<unknown>;

/** Fills `buf` with the archive's bytes from `position`, reading file data through `read`. */
export async function readZipRange(layout: ZipLayout, buf: Buffer, position: number, read: EntryReader): Promise<Buffer> {
  const end = position + buf.length;
  if (end > layout.size) throw new RangeError("read past the end of the zip");
  const segs = layout.segments;
  // The first segment that ends after `position`.
  let lo = 0;
  let hi = segs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (segs[mid]!.offset + segs[mid]!.length <= position) lo = mid + 1;
    else hi = mid;
  }
  for (let k = lo; k < segs.length && segs[k]!.offset < end; k++) {
    const s = segs[k]!;
    const from = Math.max(position, s.offset);
    const to = Math.min(end, s.offset + s.length);
    const dest = buf.subarray(from - position, to - position);
    if ("bytes" in s) s.bytes.copy(dest, 0, from - s.offset, to - s.offset);
    else await read(s.entry, dest, from - s.offset);
  }
  return buf;
}
