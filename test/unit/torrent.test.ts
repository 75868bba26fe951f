import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import bencode from "bencode";
import { AppError } from "../../lib/errors.ts";
import { parseTorrent } from "../../lib/torrent.ts";

const info = { name: "film.mkv", "piece length": 16384, length: 20000, pieces: Buffer.alloc(40, 1) };
const enc = (v: unknown) => Buffer.from(bencode.encode(v));
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AppError, `expected an AppError, got ${err}`);
    return err.code;
  }
  assert.fail("expected an error");
};

describe("parseTorrent", () => {
  it("reads a single-file torrent and takes the v1 info-hash as id", () => {
    const t = parseTorrent(enc({ announce: "http://t/a", info }));
    assert.equal(t.infoHash, createHash("sha1").update(enc(info)).digest("hex"));
    assert.equal(t.name, "film.mkv");
    assert.equal(t.size, 20000);
    assert.deepEqual(t.files, [{ path: ["film.mkv"], length: 20000 }]);
  });

  it("hashes the info bytes as given, even when keys are not in canonical order", () => {
    // Hand-written bencode with "pieces" before "name": re-encoding would sort them and change the hash.
    const infoBytes = Buffer.concat([Buffer.from("d6:lengthi5e6:pieces20:"), Buffer.alloc(20, 2), Buffer.from("4:name1:x12:piece lengthi16384ee")]);
    const whole = Buffer.concat([Buffer.from("d4:info"), infoBytes, Buffer.from("e")]);
    assert.equal(parseTorrent(whole).infoHash, createHash("sha1").update(infoBytes).digest("hex"));
  });

  it("reads multi-file torrents with the torrent name first in each path", () => {
    const t = parseTorrent(enc({ info: { name: "album", "piece length": 16384, pieces: Buffer.alloc(20), files: [{ length: 3, path: ["cd1", "01.flac"] }, { length: 4, path: ["ü.txt"] }] } }));
    assert.deepEqual(t.files.map((f) => f.path.join("/")), ["album/cd1/01.flac", "album/ü.txt"]);
    assert.equal(t.size, 7);
  });

  it("accepts a hybrid v1+v2 torrent by its v1 hash", () => {
    const t = parseTorrent(enc({ info: { ...info, "meta version": 2, "file tree": { "film.mkv": { "": { length: 20000 } } } } }));
    assert.equal(t.hybrid, true);
  });

  const bad: [string, Buffer, string][] = [
    ["not bencode", Buffer.from("hello, I am not a torrent"), "invalid_torrent"],
    ["truncated", enc({ info }).subarray(0, 30), "invalid_torrent"],
    ["a length prefix beyond the buffer", Buffer.from("d4:info999999:abce"), "invalid_torrent"],
    ["nested 100 000 deep", Buffer.from("l".repeat(100_000) + "e".repeat(100_000)), "invalid_torrent"],
    ["no info dict", enc({ announce: "http://t/a" }), "invalid_torrent"],
    ["an info that is not a dict", enc({ info: "x" }), "invalid_torrent"],
    ["no name", enc({ info: { ...info, name: undefined } }), "invalid_torrent"],
    ["a piece count that does not match", enc({ info: { ...info, length: 10 ** 9 } }), "invalid_torrent"],
    ["a malformed file list", enc({ info: { name: "x", "piece length": 16384, pieces: Buffer.alloc(20), files: [{ path: ["a"] }] } }), "invalid_torrent"],
    // libtorrent refuses these, so a job for one could never end.
    ["a zero-size file with a piece hash", enc({ info: { ...info, length: 0, pieces: Buffer.alloc(20, 1) } }), "invalid_torrent"],
    ["files that hold no data", enc({ info: { name: "x", "piece length": 16384, pieces: Buffer.alloc(20), files: [{ length: 0, path: ["a"] }, { length: 0, path: ["b"] }] } }), "invalid_torrent"],
    ["a piece length of 2^40", enc({ info: { ...info, "piece length": 2 ** 40, pieces: Buffer.alloc(20, 1) } }), "invalid_torrent"],
    ["a piece length of 2^29", enc({ info: { ...info, "piece length": 2 ** 29, pieces: Buffer.alloc(20, 1) } }), "invalid_torrent"],
    ["a total size of 16 TiB", enc({ info: { ...info, "piece length": 2 ** 28, length: 2 ** 44, pieces: Buffer.alloc(20 * 2 ** 16, 1) } }), "invalid_torrent"],
    ["trailing garbage", Buffer.concat([enc({ info }), Buffer.from("xx")]), "invalid_torrent"],
    ["empty", Buffer.alloc(0), "invalid_torrent"],
    ["v2-only", enc({ info: { name: "x", "piece length": 16384, "meta version": 2, "file tree": { x: { "": { length: 1 } } } } }), "unsupported_torrent"],
    ["over 10 MiB", Buffer.alloc(10 * 1024 * 1024 + 1, 0x64), "too_large"],
  ];
  it("takes the largest piece length libtorrent takes", () => {
    const t = parseTorrent(enc({ info: { ...info, "piece length": 2 ** 29 - 16384, pieces: Buffer.alloc(20, 1) } }));
    assert.equal(t.pieceLength, 2 ** 29 - 16384);
  });
  for (const [what, buf, expected] of bad) {
    it(`refuses ${what} with ${expected}`, () => assert.equal(code(() => parseTorrent(buf)), expected));
  }
});
