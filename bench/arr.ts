// arr_add_to_complete_s: a torrent added through the qBittorrent API (as Sonarr adds it) until the client
// sees it complete, which waits for `t2s sync` to have it on disk; against e2e, a torrent of the same size
// through POST /api/jobs until `completed`. Two torrents of the same size (the same one would be one job).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../scripts/local/paths.ts";
import { sleep } from "../lib/time.ts";
import type { TestStack } from "../test/support/stack.ts";

export interface ArrRun {
  e2eS: number;
  arrS: number;
}

export async function arrRun(s: TestStack, o: { size: number }): Promise<ArrRun> {
  const seed = (tag: string) => s.seed({ name: `bench-${tag}-${randomBytes(3).toString("hex")}`, single: { path: ["x.bin"], size: o.size } });
  const [plain, viaArr] = [await seed("e2e"), await seed("arr")];
  let t0 = performance.now();
  await s.call("POST", "/api/jobs", { magnet: s.magnet(plain) });
  await s.waitForJob(plain.infoHash, (j) => j.status === "completed", 1_800_000);
  const e2eS = (performance.now() - t0) / 1000;

  const dir = await mkdtemp(join(tmpdir(), "t2s-bench-arr-"));
  const agent = spawn(process.execPath, [join(repoRoot, "cli", "main.ts"), "sync", dir, "--category", "bench"], {
    env: { ...process.env, T2S_URL: s.url, T2S_API_TOKEN: s.apiToken }, stdio: "ignore",
  });
  try {
    const api = (call: string, form: Record<string, string>) =>
      fetch(`${s.url}/qbittorrent/api/v2/${call}`, { method: "POST", headers: { authorization: `Bearer ${s.apiToken}` }, body: new URLSearchParams(form) });
    t0 = performance.now();
    await api("torrents/add", { urls: s.magnet(viaArr), category: "bench" });
    for (;;) {
      const [t] = (await (await api("torrents/info", { hashes: viaArr.infoHash })).json()) as { state: string }[];
      if (t?.state === "pausedUP") break;
      if (performance.now() - t0 > 1_800_000) throw new Error("the arr torrent never completed");
      await sleep(250);
    }
    return { e2eS, arrS: (performance.now() - t0) / 1000 };
  } finally {
    agent.kill("SIGTERM");
    await rm(dir, { recursive: true, force: true });
  }
}
