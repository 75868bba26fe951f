// `npm test`: typecheck, then every test (unit and integration). Test files share one local stack per
// process, so each process runs its files in one node:test run (--test-isolation=none). The whole suite
// runs as two such processes at once: the AWS-mode files (terraform, moto, containers, the rehearsal)
// and the local-mode files. Both mostly wait on daemons and disks, so together they take about the
// time of the longer one.
import { spawn, spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { repoRoot } from "./local/paths.ts";

const env = { ...process.env, CHECKPOINT_DISABLE: "1" };
const nodeTest = ["--test", "--test-isolation=none", "--test-reporter=spec"];

process.stderr.write("t2s test: typecheck\n");
const tsc = spawnSync(process.execPath, [join(repoRoot, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], { cwd: repoRoot, stdio: "inherit", env });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

const only = process.argv.slice(2);
if (only.length > 0) {
  process.stderr.write("t2s test: tests\n");
  process.exit(spawnSync(process.execPath, [...nodeTest, ...only], { cwd: repoRoot, stdio: "inherit", env }).status ?? 1);
}

const files = (dir: string) => readdirSync(join(repoRoot, "test", dir)).filter((f) => f.endsWith(".test.ts")).sort().map((f) => `test/${dir}/${f}`);
/** The files that stand up AWS mode (terraform, moto, containers); the rest run local mode's stack. */
const awsMode = /^test\/integration\/(aws-|cdktf-|seedbox-boot|rehears|rotate-secrets|log-shipper|setup-no-apt)/;
const integration = files("integration");
const shards = [
  { name: "aws", files: [...files("unit"), ...integration.filter((f) => awsMode.test(f))] },
  { name: "local", files: integration.filter((f) => !awsMode.test(f)) },
];

/** Runs one shard, each output line prefixed with its name; resolves its exit status. */
function runShard(s: { name: string; files: string[] }): Promise<number> {
  process.stderr.write(`t2s test: ${s.name} (${s.files.length} files)\n`);
  const child = spawn(process.execPath, [...nodeTest, ...s.files], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], env });
  for (const [from, to] of [[child.stdout, process.stdout], [child.stderr, process.stderr]] as const) {
    createInterface({ input: from }).on("line", (line) => to.write(`[${s.name}] ${line}\n`));
  }
  return new Promise((resolve) => child.on("close", (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

const started = Date.now();
const codes = await Promise.all(shards.map(runShard));
shards.forEach((s, i) => process.stderr.write(`t2s test: ${s.name} ${codes[i] === 0 ? "passed" : `failed (exit ${codes[i]})`}\n`));
process.stderr.write(`t2s test: ${((Date.now() - started) / 60_000).toFixed(1)} min\n`);
process.exit(codes.some((c) => c !== 0) ? 1 : 0);
