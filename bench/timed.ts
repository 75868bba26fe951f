// Runs a command under GNU time: wall seconds, CPU seconds (user + system) and peak resident memory.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../scripts/local/proc.ts";

export interface Timed {
  wallS: number;
  cpuS: number;
  peakRssMb: number;
}

export async function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Timed> {
  const dir = await mkdtemp(join(tmpdir(), "t2s-timed-"));
  try {
    const out = join(dir, "time");
    await run("/usr/bin/time", ["-f", "%e %U %S %M", "-o", out, cmd, ...args], { env, timeoutMs: 900_000 });
    const [wall, user, sys, rssKb] = (await readFile(out, "utf8")).trim().split("\n").pop()!.split(" ").map(Number);
    return { wallS: wall!, cpuS: user! + sys!, peakRssMb: rssKb! / 1024 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
