// Child processes that local mode and the tests start: logged to a file, stopped by PID, never by name.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { once } from "node:events";

export interface Proc {
  name: string;
  pid: number;
  child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  kill(signal: NodeJS.Signals): void;
}

const live = new Set<Proc>();
let hooked = false;

/** Last resort: if this process exits without stopping its children, kill them synchronously. */
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    for (const p of live) {
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
  });
  // A signal's default action ends the process without "exit": a launcher with no handler of its own
  // (a benchmark, a test run) would leave its children running. start.ts handles them itself.
  for (const [sig, n] of [["SIGTERM", 15], ["SIGINT", 2], ["SIGHUP", 1]] as const) {
    process.on(sig, () => {
      if (process.listenerCount(sig) === 1) process.exit(128 + n);
    });
  }
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Where stdout and stderr go; "inherit" prints them. */
  logFile?: string | "inherit";
  /** Called with each line of stdout (for services whose logs the launcher echoes). */
  onLine?: (line: string) => void;
}

export function startProc(name: string, cmd: string, args: string[], o: StartOptions = {}): Proc {
  hookExit();
  const inherit = o.logFile === "inherit";
  const child = spawn(cmd, args, {
    cwd: o.cwd,
    env: o.env ?? process.env,
    stdio: ["ignore", inherit ? "inherit" : "pipe", inherit ? "inherit" : "pipe"],
  });
  if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
  if (!inherit) {
    const file = o.logFile ? createWriteStream(o.logFile, { flags: "a" }) : null;
    let buf = "";
    child.stdout!.on("data", (d: Buffer) => {
      file?.write(d);
      if (!o.onLine) return;
      buf += d.toString("utf8");
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        o.onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    child.stderr!.on("data", (d: Buffer) => file?.write(d));
    child.on("close", () => file?.end());
  }
  const exited = once(child, "exit").then(([code, signal]) => (code ?? signal) as number | string);
  const proc: Proc = {
    name,
    pid: child.pid,
    child,
    exited,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    stop: async (graceMs = 5000) => {
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  live.add(proc);
  void exited.then(() => live.delete(proc));
  return proc;
}

/** Runs a command to completion; rejects with its output tail when it fails. */
export async function run(cmd: string, args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  const child = spawn(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const timer = o.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), o.timeoutMs) : undefined;
  const [code] = await once(child, "close");
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${code}:\n${out.slice(-4000)}`);
  return out;
}
