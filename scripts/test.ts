// `npm test`: typecheck, then every test (unit and integration) in one node:test run. Integration tests
// share one local stack per run, so test files run in one process (--test-isolation=none).
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "./local/paths.ts";

const step = (what: string, cmd: string, args: string[]) => {
  process.stderr.write(`t2s test: ${what}\n`);
  const r = spawnSync(cmd, args, { cwd: repoRoot, stdio: "inherit", env: { ...process.env, CHECKPOINT_DISABLE: "1" } });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

step("typecheck", process.execPath, [join(repoRoot, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"]);
const only = process.argv.slice(2);
step("tests", process.execPath, [
  "--test",
  "--test-isolation=none",
  "--test-reporter=spec",
  ...(only.length > 0 ? only : ["test/unit/*.test.ts", "test/integration/*.test.ts"]),
]);
