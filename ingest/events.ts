// Server-sent events: every job once on connect (so a reconnecting page resyncs), then one event per change.
import type { JobRecord } from "../lib/apply-fact.ts";
import type { Job } from "../lib/job.ts";
import type { JobRegistry } from "./registry.ts";

export async function* jobEvents(
  registry: JobRegistry,
  present: (rec: JobRecord) => Job,
  signal: AbortSignal,
  keepaliveMs = 15_000,
): AsyncGenerator<string> {
  const pending: JobRecord[] = [];
  let wake: (() => void) | null = null;
  const unsubscribe = registry.subscribe((rec) => {
    pending.push(rec);
    wake?.();
  });
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort);
  try {
    yield "retry: 2000\n\n";
    for (const rec of (await registry.list()).reverse()) yield `data: ${JSON.stringify({ job: present(rec) })}\n\n`;
    while (!signal.aborted) {
      if (pending.length === 0) {
        let timer: NodeJS.Timeout | undefined;
        const woke = await new Promise<boolean>((resolve) => {
          wake = () => resolve(true);
          timer = setTimeout(() => resolve(false), keepaliveMs);
        });
        clearTimeout(timer);
        wake = null;
        if (!woke) yield ": keepalive\n\n";
        continue;
      }
      const rec = pending.shift()!;
      yield `data: ${JSON.stringify({ job: present(rec) })}\n\n`;
    }
  } finally {
    unsubscribe();
    signal.removeEventListener("abort", onAbort);
  }
}
