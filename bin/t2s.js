#!/usr/bin/env node
// The t2s launcher, plain JavaScript so that any Node can start it. The CLI is TypeScript run unbuilt,
// which needs Node >= 22.18 (type stripping). An older `node` first on PATH (Debian's 20, say) hands
// over to the Node 24 the project brings as an npm package (devDependency "node").
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const main = join(root, "cli", "main.ts");
const [major, minor] = process.versions.node.split(".").map(Number);

if (major > 22 || (major === 22 && minor >= 18)) {
  const { main: run } = await import(main);
  process.exitCode = await run(process.argv.slice(2), process.env);
} else {
  const candidates = [join(root, "node_modules", "node", "bin", "node"), join(root, "node_modules", ".bin", "node"), process.env.T2S_NODE].filter(Boolean);
  const node = candidates.find((p) => existsSync(p));
  if (!node) {
    process.stderr.write(`t2s needs Node 22.18 or newer (this is ${process.version}); install it, or set T2S_NODE to its path.\n`);
    process.exit(2); // a usage problem, not the server's
  }
  const r = spawnSync(node, [main, ...process.argv.slice(2)], { stdio: "inherit" });
  process.exit(r.status ?? 1);
}
