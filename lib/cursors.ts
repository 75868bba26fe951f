// The opaque cursors of the job store: pure encoding, strict decoding, and the change feed's window.
//
// The change feed is ordered by each write's updatedAt, which writers stamp from their own clocks, and
// an index shows a write a moment after it lands. So a write can become visible with a time just
// before one already handed out. Each read therefore looks back `feedWindowMs` and skips what the
// cursor says it has seen (id and version): nothing is missed, and little comes twice.
import type { JobRecord } from "./job-record.ts";
import { AppError } from "./errors.ts";
import { isJobId } from "./job.ts";
import type { Changes } from "./job-store.ts";

export const feedWindowMs = 5_000;

const isoPattern = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;
const isIso = (s: unknown): s is string => typeof s === "string" && isoPattern.test(s) && !Number.isNaN(Date.parse(s));

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

function decode(cursor: string, what: string): Record<string, unknown> {
  const bad = () => new AppError("invalid_request", `That ${what} cursor is not valid; start again without it.`);
  if (cursor.length > 8192 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad();
  return v as Record<string, unknown>;
}

/** Where a newest-first page ended: the last job's createdAt and id. */
export interface ListPosition {
  createdAt: string;
  id: string;
}

export function encodeListCursor(p: ListPosition): string {
  return encode({ c: p.createdAt, i: p.id });
}

export function decodeListCursor(cursor: string): ListPosition {
  const v = decode(cursor, "page");
  if (!isIso(v.c) || typeof v.i !== "string" || !isJobId(v.i)) throw new AppError("invalid_request", "That page cursor is not valid; start again without it.");
  return { createdAt: v.c, id: v.i };
}

/** A change as the feed sees it. */
export interface FeedItem {
  id: string;
  version: number;
  updatedAt: string;
}

/** Changes remembered as handed out; more may come twice, never be missed. Keeps cursors short. */
export const maxSeen = 100;

export interface FeedPosition {
  /** The last change handed out in feed order (updatedAt, then id); id is "" before any. */
  at: string;
  id: string;
  /** Changes handed out within `back` ms before `at`: their `${id}.${version}`, and how long before `at` (ms). */
  seen: { key: string; ago: number }[];
  /** How far before `at` the seen list covers every change handed out: feedWindowMs, less after a burst. */
  back: number;
}

const seenKey = (i: FeedItem) => `${i.id}.${i.version}`;
const seenPattern = /^([0-9a-f]{40}\.\d{1,15})\.(\d{1,5})$/;

export function encodeFeedCursor(p: FeedPosition): string {
  return encode({ a: p.at, i: p.id, b: p.back, s: p.seen.map((e) => `${e.key}.${e.ago}`) });
}

export function decodeFeedCursor(cursor: string): FeedPosition {
  const v = decode(cursor, "changes");
  const bad = () => new AppError("invalid_request", "That changes cursor is not valid; start again without it.");
  if (!isIso(v.a) || typeof v.i !== "string" || (v.i !== "" && !isJobId(v.i)) || !Array.isArray(v.s) || v.s.length > maxSeen) throw bad();
  if (typeof v.b !== "number" || !Number.isInteger(v.b) || v.b < 0 || v.b > feedWindowMs) throw bad();
  const seen = v.s.map((e) => {
    const m = typeof e === "string" ? seenPattern.exec(e) : null;
    if (!m || Number(m[2]) > feedWindowMs) throw bad();
    return { key: m[1]!, ago: Number(m[2]) };
  });
  return { at: v.a, id: v.i, seen, back: v.b };
}

/** The position a feed starts from: now, with nothing seen (its first read looks back over the window). */
export function feedStart(now: Date): FeedPosition {
  return { at: now.toISOString(), id: "", seen: [], back: feedWindowMs };
}

/**
 * What a read from `p` asks the store for: `fresh`, changes after the position in feed order (oldest
 * first, at most the limit); `late`, changes from `windowFrom` up to the position (newest first, at
 * most `lateLimit`), which landed after the feed had passed their time.
 */
export function feedQuery(p: FeedPosition, limit: number): { windowFrom: string; lateLimit: number } {
  return { windowFrom: new Date(Date.parse(p.at) - p.back).toISOString(), lateLimit: maxSeen + limit };
}

const byFeedOrder = (a: FeedItem, b: FeedItem) => (a.updatedAt < b.updatedAt ? -1 : a.updatedAt > b.updatedAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** What to hand out of a read's `late` and `fresh` changes, and the position after it. */
export function advanceFeed<T extends FeedItem>(p: FeedPosition, late: T[], fresh: T[], limit: number): { items: T[]; next: FeedPosition } {
  const seen = new Set(p.seen.map((e) => e.key));
  const lateNew = late.filter((i) => !seen.has(seenKey(i))).sort(byFeedOrder).slice(0, limit);
  const freshOut = [...fresh].sort(byFeedOrder).slice(0, limit - lateNew.length);
  const last = freshOut.at(-1);
  const at = last?.updatedAt ?? p.at;
  const shift = Date.parse(at) - Date.parse(p.at);
  const entries = [
    ...p.seen.map((e) => ({ key: e.key, ago: e.ago + shift })),
    ...[...lateNew, ...freshOut].map((i) => ({ key: seenKey(i), ago: Date.parse(at) - Date.parse(i.updatedAt) })),
  ].filter((e) => e.ago >= 0 && e.ago <= feedWindowMs);
  // The most recent first, so that the cap drops the oldest; the horizon stays where it was in time.
  const all = [...new Map(entries.sort((x, y) => x.ago - y.ago).map((e) => [e.key, e])).values()];
  let back = Math.min(feedWindowMs, p.back + shift);
  const next = all.slice(0, maxSeen);
  // A burst overflowed the list: it covers only as far back as its oldest entry (later ones there may come twice).
  if (all.length > maxSeen) back = Math.min(back, next.at(-1)!.ago);
  return { items: [...lateNew, ...freshOut], next: { at, id: last?.id ?? p.id, seen: next, back } };
}

/** A change as an adapter reads it: the record, with its version. */
export type FeedRow = FeedItem & { rec: JobRecord };

/** The two reads an adapter makes for the change feed (see feedQuery). */
export interface FeedReader {
  fresh(after: { at: string; id: string }, limit: number): Promise<FeedRow[]>;
  late(from: string, upTo: { at: string; id: string }, limit: number): Promise<FeedRow[]>;
}

/** The change feed over an adapter's two reads: `since` null starts from now with no read at all. */
export async function readChanges(o: { since: string | null; limit: number }, now: Date, reader: FeedReader): Promise<Changes> {
  if (o.since === null) return { records: [], cursor: encodeFeedCursor(feedStart(now)) };
  const pos = decodeFeedCursor(o.since);
  const q = feedQuery(pos, o.limit);
  const [late, fresh] = await Promise.all([reader.late(q.windowFrom, pos, q.lateLimit), reader.fresh(pos, o.limit)]);
  const { items, next } = advanceFeed(pos, late, fresh, o.limit);
  return { records: items.map((i) => i.rec), cursor: encodeFeedCursor(next) };
}
