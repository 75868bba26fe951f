import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AppError } from "../../lib/errors.ts";
import { formatMagnet, parseMagnet } from "../../lib/magnet.ts";

const hex = "c9e15763f722f23e98a29decdfae341b98d53056";
const code = (uri: string) => {
  try {
    parseMagnet(uri);
  } catch (err) {
    assert.ok(err instanceof AppError);
    return err.code;
  }
  assert.fail(`expected ${uri} to be refused`);
};

describe("parseMagnet", () => {
  it("reads a hex btih with dn, tr and x.pe", () => {
    const m = parseMagnet(`magnet:?xt=urn:btih:${hex.toUpperCase()}&dn=My+Film&tr=http%3A%2F%2Ft%2Fa&x.pe=127.0.0.1:6881`);
    assert.deepEqual(m, { infoHash: hex, name: "My Film", trackers: ["http://t/a"], peers: ["127.0.0.1:6881"] });
  });

  it("reads a base32 btih", () => {
    // Base32 of the 20 bytes c9e1…3056.
    assert.equal(parseMagnet("magnet:?xt=urn:btih:ZHQVOY7XELZD5GFCTXWN7LRUDOMNKMCW").infoHash, hex);
  });

  it("takes the btih of a hybrid magnet that also has btmh", () => {
    assert.equal(parseMagnet(`magnet:?xt=urn:btmh:1220${"ab".repeat(32)}&xt=urn:btih:${hex}`).infoHash, hex);
  });

  it("keeps only plain host:port peers, since libtorrent does not unescape x.pe", () => {
    assert.deepEqual(parseMagnet(`magnet:?xt=urn:btih:${hex}&x.pe=bad%20peer&x.pe=[::1]:5`).peers, ["[::1]:5"]);
  });

  it("formats a normalised magnet that parses back the same", () => {
    const m = parseMagnet(`magnet:?xt=urn:btih:${hex}&dn=a%20b%26c&tr=udp://t:1/x&x.pe=127.0.0.1:5`);
    assert.deepEqual(parseMagnet(formatMagnet(m)), m);
  });

  const bad: [string, string, string][] = [
    ["no xt", "magnet:?dn=x", "invalid_magnet"],
    ["a wrong hash length", `magnet:?xt=urn:btih:${hex.slice(2)}`, "invalid_magnet"],
    ["bad base32", "magnet:?xt=urn:btih:ZHQVOY7XELZD5GFCTXWN7LRUDOMNKMC1", "invalid_magnet"],
    ["a non-magnet scheme", `http://example.com/?xt=urn:btih:${hex}`, "invalid_magnet"],
    ["an xt that is not btih", "magnet:?xt=urn:sha1:abc", "invalid_magnet"],
    ["btmh only", `magnet:?xt=urn:btmh:1220${"ab".repeat(32)}`, "unsupported_torrent"],
    ["more than 64 KiB", `magnet:?xt=urn:btih:${hex}&dn=${"x".repeat(70_000)}`, "invalid_magnet"],
  ];
  for (const [what, uri, expected] of bad) it(`refuses ${what} with ${expected}`, () => assert.equal(code(uri), expected));
});
