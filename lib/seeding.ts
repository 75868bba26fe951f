// The seeding rule: how long an uploaded torrent stays in Deluge to give back to the swarm.

/** Seed after upload until this ratio or this time, whichever comes first; 0 and 0 remove at once. */
export interface SeedingRule {
  seedRatio: number;
  seedTimeS: number;
}

/** Whether an uploaded torrent has seeded enough and goes. A limit of 0 is no limit, unless both are 0. */
export function seedingDone(rule: SeedingRule, seeded: { ratio: number; seedingTimeS: number }): boolean {
  if (rule.seedRatio === 0 && rule.seedTimeS === 0) return true;
  return (rule.seedRatio > 0 && seeded.ratio >= rule.seedRatio) || (rule.seedTimeS > 0 && seeded.seedingTimeS >= rule.seedTimeS);
}
