import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { checkable, partDownloaded, partPieces, partRange, partVerified, planParts } from "../../seedbox/parts.ts";

const MiB = 1024 * 1024;
const KiB = 1024;

describe("planParts", () => {
  it("makes parts of whole pieces, at least 5 MiB and the configured minimum", () => {
    const p = planParts(0, 100 * MiB, 256 * KiB, 8 * MiB, 100 * MiB)!;
    assert.equal(p.partSize, 8 * MiB);
    assert.equal(p.count, 13);
    assert.deepEqual(partRange(p, 12), [96 * MiB, 100 * MiB]);
    const small = planParts(0, 100 * MiB, 3 * MiB, 1 * MiB, 100 * MiB)!;
    assert.equal(small.partSize, 6 * MiB, "5 MiB rounded up to whole 3 MiB pieces");
  });

  it("stays within 10 000 parts", () => {
    const p = planParts(0, 200 * 1024 * MiB, 1 * MiB, 8 * MiB, 200 * 1024 * MiB)!;
    assert.ok(p.count <= 10_000);
    assert.equal(p.partSize % MiB, 0);
  });

  it("refuses files that do not start on a piece boundary, and empty files", () => {
    assert.equal(planParts(1000, 50 * MiB, 256 * KiB, 8 * MiB, 60 * MiB), null);
    assert.equal(planParts(0, 0, 256 * KiB, 8 * MiB, 0), null);
  });

  it("maps parts to pieces by the file's offset in the torrent", () => {
    const p = planParts(4 * MiB, 20 * MiB, 1 * MiB, 8 * MiB, 30 * MiB)!;
    assert.deepEqual(partPieces(p, 0), [4, 12]);
    assert.deepEqual(partPieces(p, 2), [20, 24]);
  });

  it("a last piece that runs into the next file cannot be checked from this file alone", () => {
    const p = planParts(0, 20 * MiB + 5, 1 * MiB, 8 * MiB, 40 * MiB)!;
    assert.equal(checkable(p, 0), true);
    assert.equal(checkable(p, p.count - 1), false);
    const last = planParts(0, 20 * MiB + 5, 1 * MiB, 8 * MiB, 20 * MiB + 5)!;
    assert.equal(checkable(last, last.count - 1), true, "the torrent's own short last piece is fine");
  });
});

describe("partDownloaded and partVerified", () => {
  const pieceLength = 256 * KiB;
  const data = randomBytes(12 * MiB + 100);
  const pieces = Math.ceil(data.length / pieceLength);
  const hashes = Buffer.concat(Array.from({ length: pieces }, (_, i) =>
    createHash("sha1").update(data.subarray(i * pieceLength, (i + 1) * pieceLength)).digest()));
  const p = planParts(0, data.length, pieceLength, 5 * MiB, data.length)!;

  it("needs every piece of the part in state 3", () => {
    const states = new Array(pieces).fill(3);
    assert.equal(partDownloaded(p, 0, states), true);
    states[5] = 2;
    assert.equal(partDownloaded(p, 0, states), false);
    assert.equal(partDownloaded(p, 1, states), true);
  });

  it("accepts the right bytes and refuses a single flipped byte, the short last part included", () => {
    for (let n = 0; n < p.count; n++) {
      const [a, b] = partRange(p, n);
      const part = Buffer.from(data.subarray(a, b));
      assert.equal(partVerified(p, n, part, hashes), true);
      part[part.length - 1]! ^= 1;
      assert.equal(partVerified(p, n, part, hashes), false);
    }
  });
});
