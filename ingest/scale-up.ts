// Raises the seedbox fleet's desired capacity when ingest queues work (AWS mode). SQS metrics sleep
// after 6 idle hours, so an alarm alone would scale from zero slowly; this asks at once. It never
// throws: a submission does not fail because the fleet could not be asked.
import type { Fleet } from "../lib/aws/fleet.ts";
import type { Logger } from "../lib/log.ts";
import { scaleUpTarget } from "../lib/scaling.ts";

export type ScaleUp = () => Promise<void>;

export function fleetScaler(d: {
  fleet: Pick<Fleet, "group" | "describe" | "setDesiredCapacity">;
  /** Jobs queued or held, as far as this side can count them cheaply. */
  openJobs: () => Promise<number>;
  perBox: number;
  /** T2S_MAX_SEEDBOXES: a cap below the group's own max, if lower. */
  maxSeedboxes: number;
  log: Logger;
}): ScaleUp {
  return async () => {
    try {
      const [g, open] = await Promise.all([d.fleet.describe(), d.openJobs()]);
      const target = scaleUpTarget({ ...g, max: Math.min(g.max, d.maxSeedboxes) }, open, d.perBox);
      if (target === g.desired) return;
      await d.fleet.setDesiredCapacity(target);
      d.log.info("fleet scaled up", { group: d.fleet.group, from: g.desired, to: target, open, inService: g.inService });
    } catch (err) {
      d.log.warn("could not raise the fleet's desired capacity; the queue alarm is the backstop", { group: d.fleet.group, err });
    }
  };
}
