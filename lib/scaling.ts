// The fleet's pure rules: how many seedboxes ingest asks for, when an idle seedbox ends itself, and
// when it is shielded from scale-in. ingest only ever raises the desired capacity; seedboxes lower it
// by terminating themselves with a decrement, so the two never undo each other's work.

/** The Auto Scaling group as the adapter describes it. */
export interface GroupState {
  desired: number;
  max: number;
  /** Instances in service; not used by the rule: one may be ending itself, its decrement already applied. */
  inService: number;
}

/** Torrents one seedbox holds at once when T2S_MAX_TORRENTS is not set. */
export const defaultMaxTorrents = 4;
/** Minutes a seedbox with no work waits before it terminates itself (T2S_IDLE_MINUTES). */
export const defaultIdleMinutes = 10;

/**
 * The desired capacity for `open` jobs (queued or held), at `perBox` each: enough boxes for all of
 * them, never above the group's max, never below the current desired. It depends only on its inputs
 * and never lowers, so asking twice (or after the first answer was applied) gives the same answer.
 */
export function scaleUpTarget(g: GroupState, open: number, perBox: number): number {
  const per = Math.max(1, Math.floor(perBox));
  const need = Math.ceil(Math.max(0, open) / per);
  return Math.max(g.desired, Math.min(g.max, need));
}

export type IdleDecision = "stay" | "terminate";

/** A seedbox that holds no work and last held some `idleMinutes` ago or more ends itself. */
export function idleDecision(o: { lastWorkAt: number; now: number; idleMinutes: number; holdsWork: boolean }): IdleDecision {
  if (o.holdsWork) return "stay";
  return o.now - o.lastWorkAt >= o.idleMinutes * 60_000 ? "terminate" : "stay";
}

/**
 * Scale-in protection follows the work: on while the seedbox holds any, off when it holds none.
 * Returns the setting to apply, or null when `current` (null: unknown, as at start) already matches.
 */
export function protectionChange(current: boolean | null, holdsWork: boolean): boolean | null {
  return current === holdsWork ? null : holdsWork;
}
