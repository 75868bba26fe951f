// Server-sent events: one event per job change. Changes made by this process come at once; changes
// by other writers come from the store's change feed, read every `pollMs`. A client that connects
// loads the first page itself (GET /api/jobs), so the stream carries changes only.
import type { JobRecord } from "../lib/apply-fact.ts";
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
  // The newest updatedAt sent per job: the feed repeats what this process already pushed.
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
    let quietMs = 0;
    yield "retry: 2000\n\n";
    while (!signal.aborted) {
      if (pending.length === 0) {
        let timer: NodeJS.Timeout | undefined;
        const woke = await new Promise<boolean>((resolve) => {
          wake = () => resolve(true);
          timer = setTimeout(() => resolve(false), pollMs);
        });
        clearTimeout(timer);
        wake = null;
        if (!woke && !signal.aborted) {
          // A store that cannot be read now is read again next time; the stream stays open.
          const feed = await registry.changes({ since: cursor, limit: 200 }).catch(() => null);
          if (feed) cursor = feed.cursor;
          pending.push(...(feed?.records ?? []));
          quietMs = feed?.records.length ? 0 : quietMs + pollMs;
          if (quietMs >= keepaliveMs) {
            quietMs = 0;
            yield ": keepalive\n\n";
          }
        }
        continue;
      }
      const rec = pending.shift()!;
      const last = sent.get(rec.job.id);
      if (last !== undefined && last >= rec.job.updatedAt) continue;
      if (sent.size > 10_000) sent.clear();
      sent.set(rec.job.id, rec.job.updatedAt);
      yield `data: ${JSON.stringify({ job: present(rec) })}\n\n`;
    }
  } finally {
    unsubscribe();
    signal.removeEventListener("abort", onAbort);
  }
}
