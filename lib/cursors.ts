// The opaque cursors of the job store: pure encoding, strict decoding, and the change feed's window.
//
// The change feed is ordered by each write's updatedAt, which writers stamp from their own clocks, and
// an index shows a write a moment after it lands. So a write can become visible with a time just
// before one already handed out. Each read therefore looks back `feedWindowMs` and skips what the
// cursor says it has seen (id and version): nothing is missed, and little comes twice.
import { AppError } from "./errors.ts";
import { isJobId } from "./job.ts";

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

export interface FeedPosition {
  /** The latest updatedAt handed out. */
  at: string;
  /** `${id}.${version}` of each change handed out within feedWindowMs before `at`. */
  seen: string[];
}

const seenKey = (i: FeedItem) => `${i.id}.${i.version}`;
const seenPattern = /^[0-9a-f]{40}\.\d{1,15}$/;

export function encodeFeedCursor(p: FeedPosition): string {
  return encode({ a: p.at, s: p.seen });
}

export function decodeFeedCursor(cursor: string): FeedPosition {
  const v = decode(cursor, "changes");
  const seen = v.s;
  if (!isIso(v.a) || !Array.isArray(seen) || seen.length > 1000 || !seen.every((s) => typeof s === "string" && seenPattern.test(s))) {
    throw new AppError("invalid_request", "That changes cursor is not valid; start again without it.");
  }
  return { at: v.a, seen: seen as string[] };
}

/** The earliest updatedAt a read from `p` must look at. */
export function feedFrom(p: FeedPosition): string {
  return new Date(Date.parse(p.at) - feedWindowMs).toISOString();
}

/**
 * Given what a read from `p` found (oldest first), what to hand out and the position after it.
 * `limit` caps what is handed out; the rest comes next time.
 */
export function advanceFeed<T extends FeedItem>(p: FeedPosition, found: T[], limit: number): { items: T[]; next: FeedPosition } {
  const seen = new Set(p.seen);
  const items = found.filter((i) => !seen.has(seenKey(i))).slice(0, limit);
  const at = items.reduce((m, i) => (i.updatedAt > m ? i.updatedAt : m), p.at);
  const from = new Date(Date.parse(at) - feedWindowMs).toISOString();
  const keep = [...p.seen.map((s) => ({ s, t: null as string | null })), ...items.map((i) => ({ s: seenKey(i), t: i.updatedAt }))];
  // Old entries carry no time: they stay only while the window has not moved past the old position.
  const stillIn = (t: string | null) => (t ?? p.at) >= from;
  const next = [...new Set(keep.filter((k) => stillIn(k.t)).map((k) => k.s))].slice(-1000);
  return { items, next: { at, seen: next } };
}
