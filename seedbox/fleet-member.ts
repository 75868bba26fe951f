// A seedbox as a member of the Auto Scaling fleet (AWS mode, T2S_FLEET_GROUP set): shielded from
// scale-in while it holds work, and, after idle_minutes with none, it stops taking work and ends
// itself with a decrement of the desired capacity, so the group does not launch a replacement.
import type { Fleet } from "../lib/aws/fleet.ts";
import type { Logger } from "../lib/log.ts";
import { idleDecision, protectionChange } from "../lib/scaling.ts";
import { sleep } from "../lib/time.ts";

export interface FleetMemberOptions {
  fleet: Pick<Fleet, "setInstanceProtection" | "terminateSelf">;
  instanceId: string;
  /** Whether this seedbox holds any job (the job-holding logic decides; Deluge's torrents today). */
  holdsWork: (signal: AbortSignal) => Promise<boolean>;
  /** Stops taking requests and resolves once no more will be taken. */
  stopTaking: () => Promise<void>;
  idleMinutes: number;
  log: Logger;
  signal: AbortSignal;
  pollMs?: number;
  now?: () => number;
}

/** Resolves "terminated" once the group accepted the termination, or "stopped" on shutdown. */
export async function runFleetMember(o: FleetMemberOptions): Promise<"terminated" | "stopped"> {
  const now = o.now ?? Date.now;
  const log = o.log.with({ instance: o.instanceId });
  // Booting counts as work: a fresh box waits idle_minutes for its first request.
  let lastWorkAt = now();
  let protectedNow: boolean | null = null;
  let taking = true;
  let trouble = "";
  const warnOnce = (msg: string, err: unknown) => {
    const what = `${msg}: ${String((err as Error)?.message ?? err)}`;
    if (what !== trouble) log.warn(msg, { err });
    trouble = what;
  };
  const holds = async () => {
    try {
      return await o.holdsWork(o.signal);
    } catch (err) {
      // Unknown counts as holding work: never end a box that may hold a job.
      if (!o.signal.aborted) warnOnce("cannot tell whether this seedbox holds work; staying", err);
      return true;
    }
  };

  while (!o.signal.aborted) {
    const busy = await holds();
    if (o.signal.aborted) break;
    if (busy) lastWorkAt = now();
    const change = protectionChange(protectedNow, busy);
    if (change !== null) {
      try {
        await o.fleet.setInstanceProtection(o.instanceId, change, o.signal);
        protectedNow = change;
        log.info(change ? "scale-in protection on: holding work" : "scale-in protection off: idle");
      } catch (err) {
        if (!o.signal.aborted) warnOnce("could not change scale-in protection; trying again", err);
      }
    }
    if (!busy && protectedNow === false && idleDecision({ lastWorkAt, now: now(), idleMinutes: o.idleMinutes, holdsWork: false }) === "terminate") {
      if (taking) {
        taking = false;
        log.info("idle; taking no more requests", { idleMinutes: o.idleMinutes });
        await o.stopTaking();
      }
      // A request taken just before the consumer stopped is work: finish it first, then end.
      if (!(await holds())) {
        try {
          await o.fleet.terminateSelf(o.instanceId, o.signal);
          log.info("terminating this seedbox (desired capacity decremented)");
          return "terminated";
        } catch (err) {
          if (!o.signal.aborted) warnOnce("could not terminate this seedbox; trying again", err);
        }
      }
    }
    await sleep(o.pollMs ?? 30_000, o.signal).catch(() => {});
  }
  return "stopped";
}
