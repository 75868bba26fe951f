// The job store's cursors: what they carry survives a round trip, anything else is a coded 400, and the
// change feed's window hands every change out once, late ones too.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  advanceFeed, decodeFeedCursor, decodeListCursor, encodeFeedCursor, encodeListCursor, feedQuery, feedStart, feedWindowMs, maxSeen,
  type FeedItem, type FeedPosition,
} from "../../lib/cursors.ts";
import { AppError } from "../../lib/errors.ts";

const id = (n: number) => n.toString(16).padStart(40, "0");
const t = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
const isBadRequest = (err: unknown) => err instanceof AppError && err.code === "invalid_request" && err.status === 400;

describe("cursors", () => {
  it("round-trip", () => {
    const p = { createdAt: t(5), id: id(7) };
    assert.deepEqual(decodeListCursor(encodeListCursor(p)), p);
    const f = { at: t(9), id: id(2), seen: [{ key: `${id(1)}.3`, ago: 120 }], back: 5000 };
    assert.deepEqual(decodeFeedCursor(encodeFeedCursor(f)), f);
  });

  it("refuse anything they did not make, with invalid_request", () => {
    const bad = ["", "!!!", "x".repeat(9000), Buffer.from("[1]").toString("base64url"), Buffer.from("{}").toString("base64url"),
      Buffer.from(JSON.stringify({ c: "yesterday", i: id(1) })).toString("base64url"),
      Buffer.from(JSON.stringify({ c: t(0), i: "../../etc" })).toString("base64url"),
      Buffer.from(JSON.stringify({ a: t(0), i: "", b: 5000, s: ["x"] })).toString("base64url"),
      Buffer.from(JSON.stringify({ a: t(0), i: "", b: 5000, s: [`${id(1)}.3.999999`] })).toString("base64url"),
      Buffer.from(JSON.stringify({ a: t(0), i: "", b: -1, s: [] })).toString("base64url"),
      Buffer.from(JSON.stringify({ a: t(0), i: "", b: 5000, s: Array.from({ length: maxSeen + 1 }, (_, k) => `${id(k + 1)}.1.0`) })).toString("base64url"),
      encodeFeedCursor(feedStart(new Date())).slice(0, -3) + "%%%"];
    for (const c of bad) {
      assert.throws(() => decodeListCursor(c), isBadRequest, c.slice(0, 40));
      assert.throws(() => decodeFeedCursor(c), isBadRequest, c.slice(0, 40));
    }
    // A page cursor is not a changes cursor, nor the other way round.
    assert.throws(() => decodeFeedCursor(encodeListCursor({ createdAt: t(0), id: id(1) })), isBadRequest);
    assert.throws(() => decodeListCursor(encodeFeedCursor(feedStart(new Date()))), isBadRequest);
  });

  it("never crash on random input", () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => {
      for (const decode of [decodeListCursor, decodeFeedCursor]) {
        try {
          decode(s);
        } catch (err) {
          if (!isBadRequest(err)) throw err;
        }
      }
    }), { numRuns: 2000 });
  });
});

describe("the change feed's window", () => {
  const order = (a: FeedItem, b: FeedItem) => (a.updatedAt + a.id < b.updatedAt + b.id ? -1 : 1);
  /** A store's two reads over what has landed (see feedQuery). */
  const read = (landed: FeedItem[], pos: FeedPosition, limit: number) => {
    const q = feedQuery(pos, limit);
    const key = pos.at + pos.id;
    const all = [...landed].sort(order);
    return {
      fresh: all.filter((i) => i.updatedAt + i.id > key).slice(0, limit),
      late: all.filter((i) => i.updatedAt >= q.windowFrom && i.updatedAt + i.id <= key).reverse().slice(0, q.lateLimit),
    };
  };

  // Writes land out of order within the window: every read sees what has landed so far, as the index does.
  it("hands out the last change of every job, in any landing order within the window, and keeps its cursors valid", () => {
    fc.assert(fc.property(
      fc.array(fc.record({ job: fc.integer({ min: 1, max: 8 }), at: fc.integer({ min: 0, max: 20_000 }), lag: fc.integer({ min: 0, max: feedWindowMs - 1 }) }), { minLength: 1, maxLength: 60 }),
      fc.integer({ min: 1, max: 10 }),
      (writes, limit) => {
        // Versions go up per job with time, as conditional writes make them.
        const items = writes.sort((a, b) => a.at - b.at).map((w, i) => ({ id: id(w.job), version: i + 1, updatedAt: t(w.at), landsAt: w.at + w.lag }));
        const latest = new Map<string, (typeof items)[number]>();
        let pos = feedStart(new Date(Date.UTC(2026, 0, 1)));
        const handed: string[] = [];
        for (let clock = 0; clock <= 40_000; clock += 250) {
          for (const i of items) if (i.landsAt <= clock && (latest.get(i.id)?.version ?? 0) < i.version) latest.set(i.id, i);
          const { fresh, late } = read([...latest.values()], pos, limit);
          const r = advanceFeed(pos, late, fresh, limit);
          handed.push(...r.items.map((i) => `${i.id}.${i.version}`));
          // Every cursor the feed makes decodes again.
          pos = decodeFeedCursor(encodeFeedCursor(r.next));
        }
        for (const [jid, last] of latest) assert.ok(handed.includes(`${jid}.${last.version}`), `the last change of ${jid} was missed`);
        // At least once, but not much more: a change comes twice only after the seen list overflowed.
        assert.ok(handed.length <= items.length + maxSeen, `${handed.length} handed out for ${items.length} changes`);
      },
    ), { numRuns: 300 });
  });

  it("moves on through a burst larger than the window holds, and its cursor stays short", () => {
    // 1,500 changes within 1.5 s, then one more a minute later: all come out, the last one too.
    const burst = Array.from({ length: 1500 }, (_, i) => ({ id: id(i + 1), version: 1, updatedAt: t(i) }));
    const later = { id: id(5000), version: 1, updatedAt: t(60_000) };
    const landed = [...burst, later];
    let pos = feedStart(new Date(Date.UTC(2026, 0, 1)));
    const handed = new Set<string>();
    let longest = 0;
    for (let n = 0; n < 40; n++) {
      const { fresh, late } = read(landed, pos, 200);
      const r = advanceFeed(pos, late, fresh, 200);
      for (const i of r.items) handed.add(i.id);
      const c = encodeFeedCursor(r.next);
      longest = Math.max(longest, c.length);
      pos = decodeFeedCursor(c);
    }
    assert.equal(handed.size, 1501);
    assert.ok(longest < 8000, `cursor of ${longest} characters`);
  });
});
