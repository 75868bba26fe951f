import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BufferPool } from "../../seedbox/multipart.ts";

// Above Node's pooled-allocation size, so that each buffer has an ArrayBuffer of its own.
const K = 16 * 1024;

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

  it("does not hand out a buffer smaller than the part", async () => {
    const pool = new BufferPool(2);
    await pool.with(K, K, async () => {});
    await pool.with(2 * K, 2 * K, async (b) => assert.equal(b.length, 2 * K));
  });
});
