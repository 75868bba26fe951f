// `npm start`'s setup (scripts/bootstrap.sh with no flag) needs no root and no apt: run on this machine's
// installed state, once with apt-get, apt, dpkg and sudo replaced by traps that record any call, once with
// a PATH that has none of them at all. A `--test` run through the same traps shows that they catch apt.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { repoRoot } from "../../scripts/local/paths.ts";

const rootTools = ["apt-get", "apt", "apt-cache", "dpkg", "sudo", "su", "doas"];

/** The npm step of bootstrap would reinstall node_modules (minutes): these tests run on an installed tree. */
function npmInstalled(): boolean {
  const stamp = join(repoRoot, ".cache", "npm.stamp");
  return existsSync(join(repoRoot, "node_modules", ".bin", "node")) && existsSync(stamp) &&
    statSync(join(repoRoot, "package-lock.json")).mtimeMs <= statSync(stamp).mtimeMs;
}

function bootstrap(path: string, ...args: string[]) {
  const r = spawnSync("bash", [join(repoRoot, "scripts", "bootstrap.sh"), ...args], {
    cwd: repoRoot, env: { ...process.env, PATH: path }, encoding: "utf8", timeout: 300_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe("npm start's setup calls no apt and needs no root", { skip: npmInstalled() ? false : "node_modules is not installed: run bash scripts/bootstrap.sh first" }, () => {
  let tmp: string;
  let traps: string;
  const calls = () => readFile(join(tmp, "calls.log"), "utf8").catch(() => "");
  /** PATH with node_modules/.bin first, as npm scripts have it. */
  const basePath = () => [join(repoRoot, "node_modules", ".bin"), ...(process.env.PATH ?? "").split(delimiter)].join(delimiter);

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), "t2s-no-apt-"));
    traps = join(tmp, "traps");
    await mkdir(traps);
    for (const tool of rootTools) {
      const trap = join(traps, tool);
      await writeFile(trap, `#!/bin/sh\necho "${tool} $*" >> '${join(tmp, "calls.log")}'\nexit 1\n`);
      await chmod(trap, 0o755);
    }
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("runs through with apt-get, apt, dpkg and sudo trapped, and calls none of them", async () => {
    const r = bootstrap([traps, basePath()].join(delimiter));
    assert.equal(r.status, 0, r.out);
    assert.equal(await calls(), "", "no root or apt tool was called");
    assert.ok(existsSync(join(repoRoot, ".cache", "venv", "bin", "deluged")), "Deluge is in the project venv");
  });

  it("runs through with a PATH that has no apt-get, apt, dpkg or sudo at all", async () => {
    // Every command on PATH, linked into one folder, minus the root and apt tools.
    const bin = join(tmp, "bin");
    await mkdir(bin);
    const seen = new Set<string>();
    for (const dir of basePath().split(delimiter)) {
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        if (seen.has(name) || rootTools.includes(name) || /^(apt|dpkg)/.test(name)) continue;
        seen.add(name);
        await symlink(join(dir, name), join(bin, name));
      }
    }
    const probe = spawnSync("bash", ["-c", "command -v apt-get || command -v sudo || command -v dpkg || echo none"], { env: { PATH: bin }, encoding: "utf8" });
    assert.equal(probe.stdout.trim(), "none");
    const r = bootstrap(bin);
    assert.equal(r.status, 0, r.out);
    assert.doesNotMatch(r.out, /apt-get|need root/);
  });

  it("the traps do catch apt: the --test setup asks dpkg about Chromium", async () => {
    await rm(join(tmp, "calls.log"), { force: true });
    bootstrap([traps, basePath()].join(delimiter), "--test");
    assert.match(await calls(), /^dpkg -s chromium/m);
  });
});

