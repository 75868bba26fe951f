// Spot interruptions: AWS gives two minutes' notice in instance metadata (IMDSv2,
// /latest/meta-data/spot/instance-action: 404 until a notice, then {"action", "time"}). On a notice the
// seedbox stops taking work and hands every held job back, so another host starts on it at once instead
// of after its lease runs out.
import type { Logger } from "../lib/log.ts";
import { sleep } from "../lib/time.ts";

export interface SpotNotice {
  action: string;
  time: string;
}

/** What one answer from the metadata service means: a notice, or none (404, or anything unreadable). */
export function spotNotice(status: number, body: string): SpotNotice | null {
  if (status !== 200) return null;
  try {
    const v = JSON.parse(body) as { action?: unknown; time?: unknown };
    if (typeof v.action === "string" && ["terminate", "stop", "hibernate"].includes(v.action)) {
      return { action: v.action, time: typeof v.time === "string" ? v.time : "" };
    }
  } catch {
    /* not JSON: no notice */
  }
  return null;
}

/** One look: an IMDSv2 session token, then the instance action. */
export async function checkSpot(baseUrl: string, signal: AbortSignal): Promise<SpotNotice | null> {
  const timeout = AbortSignal.any([signal, AbortSignal.timeout(2000)]);
  const token = await fetch(`${baseUrl}/latest/api/token`, { method: "PUT", headers: { "x-aws-ec2-metadata-token-ttl-seconds": "300" }, signal: timeout });
  if (!token.ok) throw new Error(`IMDS token request answered ${token.status}`);
  const res = await fetch(`${baseUrl}/latest/meta-data/spot/instance-action`, { headers: { "x-aws-ec2-metadata-token": await token.text() }, signal: timeout });
  return spotNotice(res.status, await res.text());
}

/** Polls until a notice (then calls `onNotice` once and returns) or until the signal aborts. */
export async function watchSpot(o: { baseUrl: string; pollMs: number; log: Logger; signal: AbortSignal; onNotice: (n: SpotNotice) => Promise<void> }): Promise<void> {
  let failing = false;
  while (!o.signal.aborted) {
    try {
      const n = await checkSpot(o.baseUrl, o.signal);
      failing = false;
      if (n) {
        o.log.warn("spot interruption notice: handing work back", { action: n.action, at: n.time });
        return await o.onNotice(n);
      }
    } catch (err) {
      if (o.signal.aborted) break;
      if (!failing) o.log.warn("cannot read the spot interruption notice; retrying", { err });
      failing = true;
    }
    await sleep(o.pollMs, o.signal).catch(() => {});
  }
}
