// The fleet's pure rules (lib/scaling.ts): scale-up, idle shutdown, scale-in protection.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { idleDecision, protectionChange, scaleUpTarget, type GroupState } from "../../lib/scaling.ts";

const group = (desired: number, max: number, inService = desired): GroupState => ({ desired, max, inService });

describe("scale-up target", () => {
  it("asks for one box from zero when one job is open", () => {
    assert.equal(scaleUpTarget(group(0, 3), 1, 4), 1);
  });

  it("asks for enough boxes for every open job, rounding up", () => {
    assert.equal(scaleUpTarget(group(1, 10), 9, 4), 3);
    assert.equal(scaleUpTarget(group(1, 10), 8, 4), 2);
  });

  it("never goes above max", () => {
    assert.equal(scaleUpTarget(group(0, 2), 100, 1), 2);
  });

  it("never lowers the desired capacity: seedboxes lower it themselves", () => {
    assert.equal(scaleUpTarget(group(3, 5), 0, 4), 3);
    assert.equal(scaleUpTarget(group(3, 5), 1, 4), 3);
  });

  it("keeps a desired capacity above max as it is (max lowered since): ingest only raises", () => {
    assert.equal(scaleUpTarget(group(4, 2), 10, 1), 4);
  });

  it("treats a per-box limit below 1 as 1, and a negative count as none", () => {
    assert.equal(scaleUpTarget(group(0, 5), 3, 0), 3);
    assert.equal(scaleUpTarget(group(0, 5), -2, 4), 0);
  });

  it("ignores in-service instances (one may be ending itself, its decrement already applied)", () => {
    assert.equal(scaleUpTarget(group(0, 3, 1), 1, 4), 1);
  });

  it("holds for any state: within [desired, max(desired, max)], idempotent, monotonic in open jobs", () => {
    fc.assert(fc.property(fc.nat(20), fc.nat(20), fc.nat(20), fc.nat(200), fc.integer({ min: 1, max: 16 }), (desired, max, inService, open, per) => {
      const g = group(desired, max, inService);
      const t = scaleUpTarget(g, open, per);
      assert.ok(t >= desired && t <= Math.max(desired, max));
      assert.equal(scaleUpTarget(g, open, per), t, "asking twice");
      assert.equal(scaleUpTarget({ ...g, desired: t }, open, per), t, "asking again once applied");
      assert.ok(scaleUpTarget(g, open + 1, per) >= t);
      if (t < max) assert.ok(t * per >= open, "room for every open job below max");
    }));
  });
});

describe("idle shutdown", () => {
  const min = 60_000;
  it("stays while it holds work, however long ago work started", () => {
    assert.equal(idleDecision({ lastWorkAt: 0, now: 1000 * min, idleMinutes: 10, holdsWork: true }), "stay");
  });
  it("stays idle for less than idle_minutes", () => {
    assert.equal(idleDecision({ lastWorkAt: 0, now: 10 * min - 1, idleMinutes: 10, holdsWork: false }), "stay");
  });
  it("terminates once idle for idle_minutes", () => {
    assert.equal(idleDecision({ lastWorkAt: 0, now: 10 * min, idleMinutes: 10, holdsWork: false }), "terminate");
  });
  it("terminates at once with idle_minutes 0 and no work", () => {
    assert.equal(idleDecision({ lastWorkAt: 5, now: 5, idleMinutes: 0, holdsWork: false }), "terminate");
  });
});

describe("scale-in protection", () => {
  it("turns on when work arrives and off when it is gone", () => {
    assert.equal(protectionChange(false, true), true);
    assert.equal(protectionChange(true, false), false);
  });
  it("asks for nothing when it already matches", () => {
    assert.equal(protectionChange(true, true), null);
    assert.equal(protectionChange(false, false), null);
  });
  it("sets it either way at start (unknown)", () => {
    assert.equal(protectionChange(null, false), false);
    assert.equal(protectionChange(null, true), true);
  });
});
