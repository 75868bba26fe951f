import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BufferPool, eachLimited } from "../../seedbox/multipart.ts";

// Far above Node's pooled-allocation size (which a module loaded in the same test process may raise), so that
// each buffer has an ArrayBuffer of its own.
const K = 1024 * 1024;

describe("BufferPool", () => {
  it("hands a buffer back out once its part is done, sized to the part", async () => {
    const pool = new BufferPool(2);
    let first: ArrayBufferLike | undefined;
    await pool.with(K, K, async (b) => void (first = b.buffer));
    await pool.with(K, 100, async (b) => {
      assert.equal(b.length, 100);
      assert.equal(b.buffer, first, "the idle buffer is reused");
    });
  });

  it("never gives one buffer to two parts at once", async () => {
    const pool = new BufferPool(2);
    const held = new Set<ArrayBufferLike>();
    const part = (n: number) => pool.with(2 * K, 2 * K, async (b) => {
      assert.ok(!held.has(b.buffer), `part ${n} got a buffer in use`);
      held.add(b.buffer);
      b.fill(n);
      await new Promise((r) => setTimeout(r, 1 + (n % 3)));
      assert.ok(b.every((x) => x === n), `part ${n}'s bytes were overwritten`);
      held.delete(b.buffer);
    });
    await Promise.all(Array.from({ length: 12 }, (_, n) => part(n)));
  });

  it("keeps at most `keep` idle, and takes a buffer back after a failure", async () => {
    const pool = new BufferPool(1);
    const seen: ArrayBufferLike[] = [];
    await assert.rejects(pool.with(K, K, async (b) => { seen.push(b.buffer); throw new Error("part failed"); }), /part failed/);
    await Promise.all([pool.with(K, K, async (b) => void seen.push(b.buffer)), pool.with(K, K, async (b) => void seen.push(b.buffer))]);
    assert.equal(seen[1], seen[0], "the failed part's buffer was taken back");
    assert.notEqual(seen[2], seen[0]);
    await pool.with(K, K, async (b) => assert.ok(b.buffer === seen[0] || b.buffer === seen[2]));
  });

  it("keeps the larger buffer when full", async () => {
    const pool = new BufferPool(1);
    let big: ArrayBufferLike | undefined;
    await Promise.all([pool.with(4 * K, 4 * K, async (b) => void (big = b.buffer)), pool.with(K, K, async () => {})]);
    await pool.with(4 * K, 4 * K, async (b) => assert.equal(b.buffer, big));
  });

  it("does not hand out a buffer smaller than the part", async () => {
    const pool = new BufferPool(2);
    await pool.with(K, K, async () => {});
    await pool.with(2 * K, 2 * K, async (b) => assert.equal(b.length, 2 * K));
  });
});

describe("eachLimited", () => {
  it("runs at most n at once, and every item", async () => {
    let running = 0;
    let most = 0;
    const done: number[] = [];
    await eachLimited([1, 2, 3, 4, 5, 6, 7], 3, async (x) => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, x % 3));
      running--;
      done.push(x);
    });
    assert.equal(most, 3);
    assert.deepEqual(done.sort(), [1, 2, 3, 4, 5, 6, 7]);
  });

  it("starts nothing after a failure, and rejects only once the running items have settled", async () => {
    const started: number[] = [];
    let settled = 0;
    await assert.rejects(eachLimited([0, 1, 2, 3, 4, 5], 2, async (x) => {
      started.push(x);
      if (x === 0) throw new Error("part 0 failed");
      await new Promise((r) => setTimeout(r, 20));
      settled++;
    }), /part 0 failed/);
    assert.deepEqual(started, [0, 1], "nothing started after the failure");
    assert.equal(settled, 1, "the running item finished before the rejection");
  });
});
