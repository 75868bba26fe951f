import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { maxRelativeKeyBytes, safeRelativePath, safeRelativePaths } from "../../lib/safepath.ts";

const safe = (rel: string) => {
  assert.ok(!rel.startsWith("/"), `absolute: ${rel}`);
  assert.ok(!rel.split("/").some((p) => p === ".." || p === "." || p === ""), `dot or empty segment: ${rel}`);
  assert.ok(!/[\u0000-\u001f\u007f\\]/.test(rel), `control character or backslash: ${JSON.stringify(rel)}`);
  assert.ok(Buffer.byteLength(rel) <= maxRelativeKeyBytes, `too long: ${Buffer.byteLength(rel)}`);
};

describe("safeRelativePath", () => {
  it("keeps ordinary names, non-ASCII included", () => {
    assert.equal(safeRelativePath(["Album", "01 – Intro.flac"]), "Album/01 – Intro.flac");
    assert.equal(safeRelativePath(["日本語", "ü.txt"]), "日本語/ü.txt");
  });

  const hostile: [string, string[]][] = [
    ["..", ["x", "..", "..", "etc", "passwd"]],
    ["an absolute path", ["/etc/passwd"]],
    ["backslashes", ["..\\..\\windows", "a\\b"]],
    ["control characters", ["a\u0000b", "c\r\nd\u007f"]],
    ["empty and dot segments", ["", ".", "x"]],
    ["a name over 1024 bytes", ["é".repeat(2000)]],
    ["many long segments", Array.from({ length: 20 }, (_, i) => `${i}-${"x".repeat(200)}`)],
  ];
  for (const [what, parts] of hostile) it(`makes ${what} safe`, () => safe(safeRelativePath(parts)));

  it("keeps names unique after sanitising", () => {
    const rels = safeRelativePaths([["a\u0001"], ["a\u0002"], ["a_"]]);
    assert.equal(new Set(rels).size, 3);
    rels.forEach(safe);
  });
});
