// Builds the seedbox host's release, one tarball per CPU architecture: the services as bundles
// (bundleService) and the Node binary that runs them, from the npm package that ships it for that
// architecture (the Node version package-lock.json pins). The host needs no npm and no nodejs.org:
// user data fetches this tarball from the bucket and unpacks it in /opt/t2s/release. tools/ holds the log shipper.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, readdir, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./local/proc.ts";
import { installTuning } from "../seedbox/deluge-tuning.ts";
import { bundleService } from "./bundle-service.ts";

/** The stack's names for the CPU architectures (stacks/aws-settings.ts) and npm's for Node's packages. */
export const releaseArchs = { arm64: "arm64", x86_64: "x64" } as const;
export type ReleaseArch = keyof typeof releaseArchs;

/** The tarball's file name in the release folder. */
export const releaseFile = (arch: ReleaseArch) => `t2s-release-${arch}.tar.gz`;

/** The services the release carries, as app/<name>.mjs: the seedbox, and the bot for a host of your own. */
const services = ["seedbox", "bot"];

async function lockedNodeVersion(root: string): Promise<string> {
  const lock = JSON.parse(await readFile(join(root, "package-lock.json"), "utf8")) as { packages: Record<string, { version?: string }> };
  const v = lock.packages["node_modules/node"]?.version;
  if (!v) throw new Error("package-lock.json pins no node package (devDependency \"node\")");
  return v;
}

/** Node's binary for one architecture, fetched once with `npm pack` into .cache/node-dist/. */
async function nodeBinary(root: string, version: string, arch: ReleaseArch): Promise<string> {
  const dir = join(root, ".cache", "node-dist", `v${version}-${releaseArchs[arch]}`);
  const bin = join(dir, "node");
  if (existsSync(bin)) return bin;
  const tmp = await mkdtemp(join(tmpdir(), "t2s-node-"));
  try {
    await run("npm", ["pack", `node-linux-${releaseArchs[arch]}@${version}`, "--silent"], { cwd: tmp, timeoutMs: 300_000 });
    const tgz = (await readdir(tmp)).find((f) => f.endsWith(".tgz"));
    if (!tgz) throw new Error(`npm pack node-linux-${releaseArchs[arch]}@${version} wrote no tarball`);
    await run("tar", ["-xzf", join(tmp, tgz), "-C", tmp, "package/bin/node", "package/LICENSE"]);
    await mkdir(dir, { recursive: true });
    await copyFile(join(tmp, "package", "LICENSE"), join(dir, "LICENSE"));
    await rename(join(tmp, "package", "bin", "node"), bin);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return bin;
}

/**
 * Writes releaseFile(arch) for each architecture into outDir. The tarballs are byte-for-byte the same
 * for the same sources (sorted, zero times and owners), so an unchanged release keeps its S3 key and
 * makes no new launch template version; they are cached in .cache/releases/ by content.
 */
export async function buildRelease(root: string, outDir: string, archs: ReleaseArch[] = ["arm64", "x86_64"]): Promise<string> {
  const version = await lockedNodeVersion(root);
  await rm(outDir, { recursive: true, force: true });
  const stage = join(outDir, ".stage");
  await mkdir(join(stage, "app"), { recursive: true });
  const hash = createHash("sha256").update(`node ${version}\n`);
  for (const s of services) {
    const file = await bundleService(join(root, s, "main.ts"), join(stage, "app", `${s}.mjs`));
    hash.update(`${s}\n`).update(await readFile(file));
  }
  // libtorrent's tuning: our Deluge plugin and its settings, which deploy/deluge-init.sh copies into
  // Deluge's config folder (the host runs no TypeScript).
  await installTuning(join(stage, "deluge"));
  for (const f of (await readdir(join(stage, "deluge"), { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)).sort()) {
    hash.update(`${f.slice(stage.length)}\n`).update(await readFile(f));
  }
  // The log shipper (deploy/log-shipper.py, run by t2s-logs.service under the AWS CLI's Python): here
  // rather than in the user data, which EC2 caps at 16 KiB.
  await mkdir(join(stage, "tools"), { recursive: true });
  await copyFile(join(root, "deploy", "log-shipper.py"), join(stage, "tools", "log-shipper.py"));
  hash.update("tools/log-shipper.py\n").update(await readFile(join(stage, "tools", "log-shipper.py")));
  const key = hash.digest("hex").slice(0, 16);
  const cache = join(root, ".cache", "releases");
  await mkdir(cache, { recursive: true });
  for (const arch of archs) {
    const cached = join(cache, `${key}-${releaseFile(arch)}`);
    if (!existsSync(cached)) {
      const bin = await nodeBinary(root, version, arch);
      await mkdir(join(stage, "node", "bin"), { recursive: true });
      await copyFile(bin, join(stage, "node", "bin", "node"));
      await copyFile(join(bin, "..", "LICENSE"), join(stage, "node", "LICENSE"));
      const tmp = `${cached}.${process.pid}`;
      await run("tar", [
        "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "--format=gnu",
        "--use-compress-program=gzip -n", "-cf", tmp, "-C", stage, "app", "deluge", "node", "tools",
      ], { timeoutMs: 300_000 });
      await rename(tmp, cached);
    }
    await copyFile(cached, join(outDir, releaseFile(arch)));
  }
  await rm(stage, { recursive: true, force: true });
  // Older releases' tarballs: only the newest is kept.
  for (const f of await readdir(cache)) if (!f.startsWith(`${key}-`)) await rm(join(cache, f), { force: true });
  return outDir;
}

if (import.meta.main) console.log(await buildRelease(join(import.meta.dirname, ".."), join(import.meta.dirname, "..", "dist", "aws", "release")));
