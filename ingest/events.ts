// Server-sent events: one event per job change. Changes made by this process come at once; changes
// by other writers come from the store's change feed, read every `pollMs`. A client that connects
// loads the first page itself (GET /api/jobs), so the stream carries changes only.
import type { JobRecord } from "../lib/job-record.ts";
import type { Job } from "../lib/job.ts";
import type { JobRegistry } from "./registry.ts";

export async function* jobEvents(
  registry: JobRegistry,
  present: (rec: JobRecord) => Job,
  signal: AbortSignal,
  o: { keepaliveMs?: number; pollMs?: number } = {},
): AsyncGenerator<string> {
  const keepaliveMs = o.keepaliveMs ?? 15_000;
  const pollMs = o.pollMs ?? 1_000;
  const pending: JobRecord[] = [];
  // The newest updatedAt sent per job: the feed repeats what this process already pushed. (The
  // registry keeps each job's updatedAt rising, whatever the writers' clocks say.)
  const sent = new Map<string, string>();
  let wake: (() => void) | null = null;
  const unsubscribe = registry.subscribe((rec) => {
    pending.push(rec);
    wake?.();
  });
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort);
  try {
    let cursor = (await registry.changes({ since: null, limit: 1 })).cursor; // no records: "from now on"
    let nextPoll = Date.now() + pollMs;
    let lastSent = Date.now();
    yield "retry: 2000\n\n";
    while (!signal.aborted) {
      // The feed is read every pollMs, however busy this process's own changes keep the stream.
      if (Date.now() >= nextPoll) {
        nextPoll = Date.now() + pollMs;
        // A store that cannot be read now is read again next time; the stream stays open.
        const feed = await registry.changes({ since: cursor, limit: 200 }).catch(() => null);
        if (feed) {
          cursor = feed.cursor;
          pending.push(...feed.records);
        }
      }
      if (pending.length === 0) {
        if (Date.now() - lastSent >= keepaliveMs) {
          lastSent = Date.now();
          yield ": keepalive\n\n";
        }
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, Math.max(0, nextPoll - Date.now()));
        });
        clearTimeout(timer);
        wake = null;
        continue;
      }
      const rec = pending.shift()!;
      const last = sent.get(rec.job.id);
      if (last !== undefined && last >= rec.job.updatedAt) continue;
      if (sent.size > 10_000) sent.clear();
      sent.set(rec.job.id, rec.job.updatedAt);
      lastSent = Date.now();
      yield `data: ${JSON.stringify({ job: present(rec) })}\n\n`;
    }
  } finally {
    unsubscribe();
    signal.removeEventListener("abort", onAbort);
  }
}
