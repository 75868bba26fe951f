// The job store's cursors: what they carry survives a round trip, anything else is a coded 400, and the
// change feed's window hands every change out once, late ones too.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { advanceFeed, decodeFeedCursor, decodeListCursor, encodeFeedCursor, encodeListCursor, feedFrom, feedWindowMs, type FeedItem } from "../../lib/cursors.ts";
import { AppError } from "../../lib/errors.ts";

const id = (n: number) => n.toString(16).padStart(40, "0");
const t = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
const isBadRequest = (err: unknown) => err instanceof AppError && err.code === "invalid_request" && err.status === 400;

describe("cursors", () => {
  it("round-trip", () => {
    const p = { createdAt: t(5), id: id(7) };
    assert.deepEqual(decodeListCursor(encodeListCursor(p)), p);
    const f = { at: t(9), seen: [`${id(1)}.3`] };
    assert.deepEqual(decodeFeedCursor(encodeFeedCursor(f)), f);
  });

  it("refuse anything they did not make, with invalid_request", () => {
    const bad = ["", "!!!", "x".repeat(9000), Buffer.from("[1]").toString("base64url"), Buffer.from("{}").toString("base64url"),
      Buffer.from(JSON.stringify({ c: "yesterday", i: id(1) })).toString("base64url"),
      Buffer.from(JSON.stringify({ c: t(0), i: "../../etc" })).toString("base64url"),
      Buffer.from(JSON.stringify({ a: t(0), s: ["x"] })).toString("base64url"),
      encodeFeedCursor({ at: t(0), seen: [] }).slice(0, -3) + "%%%"];
    for (const c of bad) {
      assert.throws(() => decodeListCursor(c), isBadRequest, c.slice(0, 40));
      assert.throws(() => decodeFeedCursor(c), isBadRequest, c.slice(0, 40));
    }
    // A page cursor is not a changes cursor, nor the other way round.
    assert.throws(() => decodeFeedCursor(encodeListCursor({ createdAt: t(0), id: id(1) })), isBadRequest);
    assert.throws(() => decodeListCursor(encodeFeedCursor({ at: t(0), seen: [] })), isBadRequest);
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
  // A feed whose writes land out of order within the window: each read sees what has landed, from the
  // position's window on, oldest first, like the index query does.
  it("hands out every change once, in any landing order within the window", () => {
    fc.assert(fc.property(
      fc.array(fc.record({ job: fc.integer({ min: 1, max: 5 }), at: fc.integer({ min: 0, max: 20_000 }), lag: fc.integer({ min: 0, max: feedWindowMs - 1 }) }), { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 1, max: 10 }),
      (writes, limit) => {
        // Versions go up per job with time, as conditional writes make them.
        const items = writes.sort((a, b) => a.at - b.at).map((w, i) => ({ id: id(w.job), version: i + 1, updatedAt: t(w.at), landsAt: w.at + w.lag }));
        const latest = new Map<string, (typeof items)[number]>();
        let pos = { at: t(0), seen: [] as string[] };
        const handed: FeedItem[] = [];
        for (let clock = 0; clock <= 40_000; clock += 250) {
          for (const i of items) if (i.landsAt <= clock && (latest.get(i.id)?.version ?? 0) < i.version) latest.set(i.id, i);
          const from = feedFrom(pos);
          const found = [...latest.values()].filter((i) => i.updatedAt > from).sort((a, b) => a.updatedAt.localeCompare(b.updatedAt));
          const r = advanceFeed(pos, found, limit);
          handed.push(...r.items);
          pos = r.next;
        }
        // The last version of every job is handed out, and nothing is handed out twice.
        const keys = handed.map((i) => `${i.id}.${i.version}`);
        assert.equal(new Set(keys).size, keys.length, "a change came twice");
        for (const [jid, last] of latest) assert.ok(keys.includes(`${jid}.${last.version}`), `the last change of ${jid} was missed`);
      },
    ), { numRuns: 300 });
  });
});
