// `npm start`: local mode on this machine. Ctrl-C stops everything it started, and only that.
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { repoRoot } from "./local/paths.ts";
import { startProc } from "./local/proc.ts";
import { startLocalStack } from "./local/stack.ts";

const env = process.env;
const dataDir = resolve(env.T2S_DATA_DIR ?? join(repoRoot, ".t2s"));
await mkdir(dataDir, { recursive: true, mode: 0o700 });
const say = (s: string) => process.stderr.write(`t2s: ${s}\n`);

const stack = await startLocalStack({
  dataDir,
  offline: env.T2S_OFFLINE === "1",
  port: env.T2S_PORT ? Number(env.T2S_PORT) : 8080,
  ...(env.T2S_API_TOKEN ? { apiToken: env.T2S_API_TOKEN } : {}),
  onStep: say,
  onLog: (line) => process.stdout.write(line + "\n"),
});

let bot: ReturnType<typeof startProc> | null = null;
if (env.DISCORD_TOKEN) {
  bot = startProc("bot", process.execPath, [join(repoRoot, "bot", "main.ts")], { logFile: "inherit", env: { ...env, T2S_API_URL: stack.url, T2S_API_TOKEN: stack.apiToken } });
} else {
  say("the Discord bot is off (set DISCORD_TOKEN to start it)");
}

process.stdout.write(`t2s ready: ${stack.url}\nAPI token: ${stack.apiToken}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  say("stopping");
  await bot?.stop();
  await stack.stop();
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
