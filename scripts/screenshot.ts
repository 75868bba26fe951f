// `npm run screenshot`: remakes docs/page.png, the page as the README shows it. It starts the local stack
// the tests use (in a temporary folder, on loopback, offline), has it download two seeded torrents,
// signs in with the system's Chromium and photographs the page, then stops everything it started.
// Needs what `bash scripts/bootstrap.sh --test` installs (Chromium).
import { spawnSync } from "node:child_process";
import { rename, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Job } from "../lib/job.ts";
import { startTestStack, type TestStack } from "../test/support/stack.ts";
import type { MadeTorrent } from "../test/support/torrents.ts";
import { launchBrowser } from "./local/browser.ts";
import { repoRoot } from "./local/paths.ts";

const out = process.argv[2] ?? join(repoRoot, "docs", "page.png");
const say = (s: string) => process.stderr.write(`t2s screenshot: ${s}\n`);

async function complete(s: TestStack, made: MadeTorrent): Promise<Job> {
  const r = await s.call("POST", "/api/jobs", { torrent: made.torrent.toString("base64") });
  if (r.status !== 202) throw new Error(`submit answered ${r.status}: ${JSON.stringify(r.body)}`);
  const job = await s.waitForJob(made.infoHash, (j) => ["completed", "failed", "cancelled"].includes(j.status), 120_000);
  if (job.status !== "completed") throw new Error(`${made.name} ended ${job.status}`);
  return job;
}

say("starting the local stack in a temporary folder");
const s = await startTestStack();
try {
  say("downloading two torrents");
  await complete(s, await s.seed({ name: "Field recordings 2024", files: [{ path: ["01 Harbour at dawn.flac"], size: 2_400_000 }, { path: ["02 Rain on the roof.flac"], size: 1_900_000 }, { path: ["notes.txt"], data: Buffer.from("Recorded on a handheld.\n") }] }));
  await complete(s, await s.seed({ name: "Lecture 01 – Introduction.mp4", single: { path: [], size: 3 * 1024 * 1024 } }));
  say("photographing the page");
  const browser = await launchBrowser();
  try {
    const ctx = await browser.newContext({ viewport: { width: 1000, height: 700 }, colorScheme: "light" });
    const page = await ctx.newPage();
    await page.goto(s.url);
    await page.getByLabel("API token").fill(s.apiToken);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("button", { name: "Add" }).waitFor();
    await page.getByText("Status: Done").nth(1).waitFor();
    await page.screenshot({ path: out + ".tmp.png", fullPage: true });
    await ctx.close();
  } finally {
    await browser.close();
  }
  await rename(out + ".tmp.png", out);
  // Fewer colours keep it small; optional (pngquant is not a dependency).
  if (spawnSync("sh", ["-c", "command -v pngquant"]).status === 0) spawnSync("pngquant", ["--force", "--skip-if-larger", "--output", out, "64", out]);
  say(`wrote ${out} (${Math.round((await stat(out)).size / 1024)} KiB)`);
} finally {
  await s.stop();
}
