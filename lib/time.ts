// Small timing helpers that honour AbortSignal.
import { setTimeout as delay } from "node:timers/promises";

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return delay(ms, undefined, signal ? { signal } : undefined);
}

export const nowIso = () => new Date().toISOString();
