// The seeding rule (lib/seeding.ts).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { seedingDone } from "../../lib/seeding.ts";

describe("seeding rule", () => {
  it("removes at once when neither a ratio nor a time is set", () => {
    assert.equal(seedingDone({ seedRatio: 0, seedTimeS: 0 }, { ratio: 0, seedingTimeS: 0 }), true);
  });

  it("seeds until the ratio when only a ratio is set", () => {
    const rule = { seedRatio: 1.5, seedTimeS: 0 };
    assert.equal(seedingDone(rule, { ratio: 1.4, seedingTimeS: 1e9 }), false);
    assert.equal(seedingDone(rule, { ratio: 1.5, seedingTimeS: 0 }), true);
  });

  it("seeds until the time when only a time is set", () => {
    const rule = { seedRatio: 0, seedTimeS: 3600 };
    assert.equal(seedingDone(rule, { ratio: 99, seedingTimeS: 3599 }), false);
    assert.equal(seedingDone(rule, { ratio: 0, seedingTimeS: 3600 }), true);
  });

  it("stops at whichever limit comes first when both are set", () => {
    const rule = { seedRatio: 2, seedTimeS: 600 };
    assert.equal(seedingDone(rule, { ratio: 1, seedingTimeS: 100 }), false);
    assert.equal(seedingDone(rule, { ratio: 2, seedingTimeS: 100 }), true);
    assert.equal(seedingDone(rule, { ratio: 1, seedingTimeS: 600 }), true);
  });
});
