import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "content-disposition";
import { partSizeFor } from "../../seedbox/parts.ts";
import { dispositionFor } from "../../seedbox/objects.ts";

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
