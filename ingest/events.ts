// Server-sent events: one event per job change. Changes made by this process come at once; changes by
// other writers come from the store's change feed, read once every `pollMs` for all streams together. A
// client that connects loads the first page itself (GET /api/jobs), so a stream carries changes only.
import { AppError } from "../lib/errors.ts";
import type { JobRecord } from "../lib/job-record.ts";
import type { Job } from "../lib/job.ts";
import type { JobRegistry } from "./registry.ts";

export interface LiveLimits {
  /** Streams open at once, in all. */
  total: number;
  /** Streams open at once from one client address. */
  perClient: number;
  pollMs: number;
  keepaliveMs: number;
  /** Changes a stream holds for a client that does not read: past this it ends, and the client reloads. */
  maxPending: number;
}

export const liveDefaults: LiveLimits = { total: 100, perClient: 8, pollMs: 1_000, keepaliveMs: 15_000, maxPending: 1_000 };

interface Stream {
  client: string;
  pending: JobRecord[];
  overflowed: boolean;
  wake: () => void;
}

export class LiveStreams {
  readonly #registry: Pick<JobRegistry, "subscribe" | "changes">;
  readonly #present: (rec: JobRecord) => Job;
  readonly #limits: LiveLimits;
  readonly #streams = new Set<Stream>();
  #stopFeed: (() => void) | null = null;

  constructor(registry: Pick<JobRegistry, "subscribe" | "changes">, present: (rec: JobRecord) => Job, limits: Partial<LiveLimits> = {}) {
    this.#registry = registry;
    this.#present = present;
    this.#limits = { ...liveDefaults, ...limits };
  }

  get open(): number {
    return this.#streams.size;
  }

  /** A stream for `client`, or rate_limited when too many are open (in all, or from that client). */
  stream(client: string, signal: AbortSignal): AsyncGenerator<string> {
    const mine = [...this.#streams].filter((s) => s.client === client).length;
    if (this.#streams.size >= this.#limits.total || mine >= this.#limits.perClient) {
      throw new AppError("rate_limited", "Too many live update streams are open; close a tab, or try again later.");
    }
    return this.#run({ client, pending: [], overflowed: false, wake: () => {} }, signal);
  }

  #deliver(recs: JobRecord[]): void {
    for (const s of this.#streams) {
      s.pending.push(...recs);
      if (s.pending.length > this.#limits.maxPending) {
        s.overflowed = true;
        s.pending.length = 0;
      }
      s.wake();
    }
  }

  /** This process's changes as they happen, and the store's change feed once per pollMs: one reader for every stream. */
  #follow(): () => void {
    const unsubscribe = this.#registry.subscribe((rec) => this.#deliver([rec]));
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    void (async () => {
      let cursor = (await this.#registry.changes({ since: null, limit: 1 }).catch(() => null))?.cursor ?? null; // "from now on"
      while (!stopped) {
        await new Promise<void>((r) => (timer = setTimeout(r, this.#limits.pollMs)));
        if (stopped) break;
        // A store that cannot be read now is read again next time; the streams stay open.
        const feed = await this.#registry.changes({ since: cursor, limit: 200 }).catch(() => null);
        if (feed) {
          cursor = feed.cursor;
          if (feed.records.length > 0) this.#deliver(feed.records);
        }
      }
    })();
    return () => {
      stopped = true;
      clearTimeout(timer);
      unsubscribe();
    };
  }

  #close(s: Stream): void {
    this.#streams.delete(s);
    if (this.#streams.size === 0 && this.#stopFeed) {
      this.#stopFeed();
      this.#stopFeed = null;
    }
  }

  /** The stream counts from its first read: one never read (a HEAD request) holds nothing. */
  async *#run(s: Stream, signal: AbortSignal): AsyncGenerator<string> {
    this.#streams.add(s);
    if (!this.#stopFeed) this.#stopFeed = this.#follow();
    const onAbort = () => s.wake();
    signal.addEventListener("abort", onAbort);
    // The newest updatedAt sent per job: the feed repeats what this process already pushed. (The
    // registry keeps each job's updatedAt rising, whatever the writers' clocks say.)
    const sent = new Map<string, string>();
    try {
      let lastSent = Date.now();
      yield "retry: 2000\n\n";
      while (!signal.aborted && !s.overflowed) {
        const rec = s.pending.shift();
        if (!rec) {
          if (Date.now() - lastSent >= this.#limits.keepaliveMs) {
            lastSent = Date.now();
            yield ": keepalive\n\n";
          }
          let timer: NodeJS.Timeout | undefined;
          await new Promise<void>((resolve) => {
            s.wake = resolve;
            timer = setTimeout(resolve, this.#limits.keepaliveMs);
          });
          clearTimeout(timer);
          continue;
        }
        const last = sent.get(rec.job.id);
        if (last !== undefined && last >= rec.job.updatedAt) continue;
        if (sent.size > 10_000) sent.clear();
        sent.set(rec.job.id, rec.job.updatedAt);
        lastSent = Date.now();
        yield `data: ${JSON.stringify({ job: this.#present(rec) })}\n\n`;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.#close(s);
    }
  }
}
