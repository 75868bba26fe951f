// The zip writer, checked by real readers: Python's zipfile and Info-ZIP's unzip. The Zip64 cases are a zip
// of 65,536 entries and a sparse file holding a 4.5 GiB entry (the hole reads as zeros; nothing big is written).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { crc32 } from "node:zlib";
import { crc32Combine } from "../../lib/crc32.ts";
import { readZipRange, zipLayout, type ZipEntry } from "../../seedbox/zip.ts";

let dir: string;
before(async () => void (dir = await mkdtemp(join(tmpdir(), "t2s-zip-"))));
after(async () => rm(dir, { recursive: true, force: true }));

/** Python reads the archive: every entry's name, size, CRC, header offset and (when asked) its bytes as hex. */
function pyRead(path: string, readNames: string[] = []): { zip64: boolean; entries: { name: string; size: number; crc: number; offset: number }[]; data: Record<string, string> } {
  const script = `
import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
want = json.loads(sys.argv[2])
print(json.dumps({
  "zip64": any(i.extract_version >= 45 for i in z.infolist()),
  "entries": [{"name": i.filename, "size": i.file_size, "crc": i.CRC, "offset": i.header_offset} for i in z.infolist()],
  "data": {n: z.read(n).hex() for n in want},
}))`;
  return JSON.parse(execFileSync("python3", ["-c", script, path, JSON.stringify(readNames)], { encoding: "utf8", maxBuffer: 64 << 20 }));
}

/** Writes a whole zip of in-memory files, reading it part by part as the uploader does. */
async function writeZip(path: string, files: { name: string; data: Buffer }[], o: { forceZip64?: boolean } = {}, partSize = 7): Promise<ReturnType<typeof zipLayout>> {
  const layout = zipLayout(files.map((f) => ({ name: f.name, size: f.data.length, crc32: crc32(f.data) })), { modified: new Date("2026-03-04T05:06:08Z"), ...o });
  const fh = await open(path, "w");
  try {
    for (let pos = 0; pos < layout.size; pos += partSize) {
      const buf = Buffer.alloc(Math.min(partSize, layout.size - pos));
      await readZipRange(layout, buf, pos, async (i, dest, start) => files[i]!.data.copy(dest, 0, start, start + dest.length));
      await fh.write(buf, 0, buf.length, pos);
    }
  } finally {
    await fh.close();
  }
  return layout;
}

const sample = () => [
  { name: "Album ü/CD 1/01 – Intro.flac", data: randomBytes(5000) },
  { name: "Album ü/CD 1/deep/deeper/日本語.txt", data: Buffer.from("こんにちは") },
  { name: "Album ü/empty.txt", data: Buffer.alloc(0) },
  { name: "Album ü/cover.jpg", data: randomBytes(123) },
];

describe("crc32Combine", () => {
  it("gives zlib's CRC of the whole from the CRCs of its pieces", () => {
    for (let t = 0; t < 50; t++) {
      const all = randomBytes(1 + Math.floor(Math.random() * 5000));
      const cut = Math.floor(Math.random() * (all.length + 1));
      const a = all.subarray(0, cut);
      const b = all.subarray(cut);
      assert.equal(crc32Combine(crc32(a), crc32(b), b.length), crc32(all));
    }
  });
});

describe("zip writer", () => {
  for (const forceZip64 of [false, true]) {
    it(`writes a STORE zip that Python and unzip read byte for byte${forceZip64 ? " (Zip64 records forced)" : ""}`, async () => {
      const files = sample();
      const path = join(dir, `sample-${forceZip64}.zip`);
      const layout = await writeZip(path, files, { forceZip64 });
      assert.equal(layout.zip64, forceZip64);
      const got = pyRead(path, files.map((f) => f.name));
      assert.equal(got.zip64, forceZip64);
      assert.deepEqual(got.entries.map((e) => e.name), files.map((f) => f.name));
      for (const f of files) assert.equal(got.data[f.name], f.data.toString("hex"), f.name);
      // unzip -t checks every CRC; -Z lists the stored method.
      assert.match(execFileSync("unzip", ["-t", path], { encoding: "utf8" }), /No errors detected/);
      const methods = execFileSync("unzip", ["-Zv", path], { encoding: "utf8" }).match(/compression method:.*/g) ?? [];
      assert.deepEqual(methods.map((m) => m.endsWith("none (stored)")), files.map(() => true));
    });
  }

  it("switches to Zip64 past 65,535 entries", async () => {
    const files = Array.from({ length: 65_536 }, (_, i) => ({ name: `d${i % 7}/f${i}.txt`, data: Buffer.from(String(i)) }));
    const path = join(dir, "many.zip");
    const layout = await writeZip(path, files, {}, 1 << 20);
    assert.equal(layout.zip64, true);
    const got = pyRead(path, ["d0/f0.txt", "d1/f65535.txt"]);
    assert.equal(got.entries.length, 65_536);
    assert.equal(Buffer.from(got.data["d1/f65535.txt"]!, "hex").toString(), "65535");
    assert.match(execFileSync("unzip", ["-tq", path], { encoding: "utf8" }), /No errors detected/);
  });

  it("switches to Zip64 for an entry over 4 GiB and for offsets past it", async () => {
    const bigSize = 4.5 * 1024 ** 3;
    // The CRC of 4.5 GiB of zeros, by doubling: crc(Z_2n) = combine(crc(Z_n), crc(Z_n), n).
    const n = 512 * 1024 ** 2;
    let c = crc32(Buffer.alloc(0));
    let z = crc32(Buffer.alloc(1 << 20));
    for (let len = 1 << 20; len < n; len *= 2) z = crc32Combine(z, z, len);
    for (let k = 0; k < 9; k++) c = crc32Combine(c, z, n); // 9 × 512 MiB
    const head = Buffer.from("first");
    const tail = Buffer.from("after the big one ✓");
    const entries: ZipEntry[] = [
      { name: "a.txt", size: head.length, crc32: crc32(head) },
      { name: "big/zeros.bin", size: bigSize, crc32: c },
      { name: "z/after.txt", size: tail.length, crc32: crc32(tail) },
    ];
    const layout = zipLayout(entries);
    assert.equal(layout.zip64, true);
    const path = join(dir, "big.zip");
    const fh = await open(path, "w");
    try {
      for (const s of layout.segments) {
        if ("bytes" in s) await fh.write(s.bytes, 0, s.length, s.offset);
        else if (s.entry !== 1) await fh.write(s.entry === 0 ? head : tail, 0, s.length, s.offset);
      }
      await fh.truncate(layout.size);
    } finally {
      await fh.close();
    }
    const got = pyRead(path, ["a.txt", "z/after.txt"]);
    assert.deepEqual(got.entries.map((e) => [e.name, e.size, e.crc]), entries.map((e) => [e.name, e.size, e.crc32]));
    assert.ok(got.entries[2]!.offset > 2 ** 32, "the last entry's header lies past 4 GiB");
    assert.equal(Buffer.from(got.data["z/after.txt"]!, "hex").toString(), tail.toString());
    assert.equal(Buffer.from(got.data["a.txt"]!, "hex").toString(), "first");
  });

  it("refuses a read past the end", async () => {
    const layout = zipLayout([{ name: "x", size: 1, crc32: 0 }]);
    await assert.rejects(readZipRange(layout, Buffer.alloc(2), layout.size - 1, async () => {}), RangeError);
  });
});

describe("the zip in the manifest", () => {
  const id = "e".repeat(40);
  const files = [{ path: "x/a", key: `files/${id}/data/x/a`, size: 1 }, { path: "x/b", key: `files/${id}/data/x/b`, size: 2 }];
  it("is kept only at the layout's own key", async () => {
    const { parseManifest } = await import("../../lib/messages.ts");
    assert.deepEqual(parseManifest(JSON.stringify({ id, name: "x", files, zip: { key: `files/${id}/all.zip`, size: 300 } }), id).zip, { key: `files/${id}/all.zip`, size: 300 });
    assert.equal(parseManifest(JSON.stringify({ id, name: "x", files, zip: { key: `files/${id}/data/x/a`, size: 1 } }), id).zip, undefined);
    assert.equal(parseManifest(JSON.stringify({ id, name: "x", files }), id).zip, undefined);
  });
  it("reaches the record, and a manifest without one drops an old one", async () => {
    const { applyManifest } = await import("../../lib/job-record.ts");
    const { newJob } = await import("../../lib/job.ts");
    const rec = { job: newJob({ id, name: "x", size: null, requester: { via: "api", user: "u" }, now: "2026-01-01T00:00:00.000Z" }), lastFactAt: null, files: [], zip: { size: 9 } };
    const m = { id, name: "x", files };
    assert.deepEqual(applyManifest(rec, { ...m, zip: { key: `files/${id}/all.zip`, size: 300 } }, "n", "e")?.zip, { size: 300 });
    assert.equal(applyManifest(rec, m, "n", "e")?.zip, undefined);
  });
});
