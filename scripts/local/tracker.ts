// opentracker on loopback, for tests: Debian's build serves only whitelisted info-hashes, so
// allow() adds hashes and reloads the list (SIGHUP) before they are announced.
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sleep } from "../../lib/time.ts";
import { freePort, waitFor } from "./net.ts";
import { startProc, type Proc } from "./proc.ts";

export interface Tracker {
  announceUrl: string;
  proc: Proc;
  allow(infoHash: string): Promise<void>;
  stop(): Promise<void>;
}

/** Asks the tracker about a hash: true once it answers without a failure (the hash is served). */
async function serves(announceUrl: string, infoHash: string): Promise<boolean> {
  const hash = infoHash.replace(/../g, (h) => `%${h}`);
  const peer = "-T2S000-" + "0".repeat(12);
  const query = `info_hash=${hash}&peer_id=${peer}&port=1&uploaded=0&downloaded=0&left=1&compact=1`;
  const text = await (await fetch(`${announceUrl}?${query}`)).text();
  // Leave no made-up peer behind for real clients to try.
  await (await fetch(`${announceUrl}?${query}&event=stopped`)).text();
  return !text.includes("failure reason");
}

export async function startTracker(o: { logDir: string }): Promise<Tracker> {
  const port = await freePort();
  // opentracker drops privileges, so its files sit in a folder of their own that anyone may read.
  const dir = await mkdtemp(join(tmpdir(), "t2s-tracker-"));
  await chmod(dir, 0o755);
  const list = join(dir, "whitelist.txt");
  const conf = join(dir, "tracker.conf");
  const hashes = new Set<string>();
  await writeFile(list, "");
  await writeFile(conf, `listen.tcp 127.0.0.1:${port}\naccess.whitelist ${list}\n`);
  const proc = startProc("opentracker", "opentracker", ["-f", conf], { logFile: join(o.logDir, "opentracker.log") });
  const announceUrl = `http://127.0.0.1:${port}/announce`;
  await waitFor("opentracker", async () => (await fetch(`http://127.0.0.1:${port}/stats`)).status > 0, 15_000, proc.exited);
  return {
    announceUrl,
    proc,
    allow: async (infoHash) => {
      hashes.add(infoHash);
      await writeFile(list, [...hashes].join("\n") + "\n");
      proc.kill("SIGHUP");
      await waitFor(`opentracker serving ${infoHash}`, async () => (await serves(announceUrl, infoHash)) || (proc.kill("SIGHUP"), await sleep(200), false), 15_000);
    },
    stop: async () => {
      await proc.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
