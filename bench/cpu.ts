// CPU seconds a process has used so far (user + system, from /proc/PID/stat).
import { readFile } from "node:fs/promises";

const ticksPerS = 100; // USER_HZ: 100 on every Linux the project runs on

export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  // Fields after the command name (which may hold spaces) start at field 3; utime and stime are 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[11] ?? 0) + Number(rest[12] ?? 0)) / ticksPerS;
}
