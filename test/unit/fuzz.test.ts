// Property-based fuzzing of the parsers and the path sanitiser: 10 000 cases each. They may refuse
// input only with the project's coded errors, never hang, and never let a key out of files/<id>/data/.
import assert from "node:assert/strict";
import { posix } from "node:path";
import { describe, it } from "node:test";
import bencode from "bencode";
import fc from "fast-check";
import { AppError } from "../../lib/errors.ts";
import { dataPrefix } from "../../lib/layout.ts";
import { parseMagnet } from "../../lib/magnet.ts";
import { safeRelativePaths } from "../../lib/safepath.ts";
import { parseTorrent } from "../../lib/torrent.ts";

const numRuns = 10_000;
const timeout = 120_000;
const codedOnly = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
  }
};

// Bencode-shaped values, with torrent-like keys often enough to get past the first checks.
const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.integer(),
    fc.uint8Array({ maxLength: 40 }),
    fc.constantFrom("name", "x/../y", "length", ""),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom("info", "name", "length", "piece length", "pieces", "files", "path", "meta version", "file tree", "x"), tie("value"), { maxKeys: 6 }),
  ),
}));

describe("fuzzing", () => {
  it("parseTorrent refuses arbitrary bytes with coded errors only", { timeout }, () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => codedOnly(() => parseTorrent(bytes))), { numRuns });
  });

  it("parseTorrent handles any bencoded structure with coded errors only", { timeout }, () => {
    fc.assert(fc.property(value, fc.boolean(), (v, wrap) => {
      const data = Buffer.from(bencode.encode(wrap ? { info: v } : v));
      codedOnly(() => parseTorrent(data));
    }), { numRuns });
  });

  it("parseMagnet refuses any string with coded errors only, and what it accepts has a 40-hex id", { timeout }, () => {
    const magnetish = fc.tuple(fc.constantFrom("magnet:?", "MAGNET:?", "magnet:", ""), fc.string({ unit: "binary", maxLength: 120 }))
      .map(([a, b]) => a + b);
    const withXt = fc.tuple(fc.string({ unit: "binary", maxLength: 60 }), fc.string({ unit: "binary", maxLength: 60 }))
      .map(([h, rest]) => `magnet:?xt=urn:btih:${h}&${rest}`);
    fc.assert(fc.property(fc.oneof(magnetish, withXt), (uri) => {
      try {
        assert.match(parseMagnet(uri).infoHash, /^[0-9a-f]{40}$/);
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
      }
    }), { numRuns });
  });

  it("safe paths always stay under files/<id>/data/ within 1024 bytes", { timeout }, () => {
    const id = "ab".repeat(20);
    const part = fc.oneof(fc.string({ unit: "binary", maxLength: 40 }), fc.constantFrom("..", ".", "", "/", "\\..\\", "a/../../b"), fc.string({ unit: "binary", minLength: 200, maxLength: 400 }));
    fc.assert(fc.property(fc.array(fc.array(part, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 5 }), (files) => {
      const keys = safeRelativePaths(files).map((rel) => dataPrefix(id) + rel);
      assert.equal(new Set(keys).size, keys.length, "keys are unique");
      for (const key of keys) {
        assert.ok(posix.normalize(key).startsWith(dataPrefix(id)), `escapes: ${JSON.stringify(key)}`);
        assert.ok(!key.split("/").some((s) => s === ".." || s === "."), `dot segment: ${JSON.stringify(key)}`);
        assert.ok(!/[\u0000-\u001f\u007f\\]/.test(key), `control character or backslash: ${JSON.stringify(key)}`);
        assert.ok(Buffer.byteLength(key) <= 1024, `${Buffer.byteLength(key)} bytes`);
      }
    }), { numRuns });
  });
});
