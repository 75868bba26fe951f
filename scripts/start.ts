// `npm start`: local mode on this machine. Ctrl-C stops everything it started, and only that.
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { repoRoot } from "./local/paths.ts";
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

if (env.DISCORD_TOKEN) {
  say("starting the Discord bot");
  // Its environment is this one (DISCORD_*) plus the stack's: ingest URL and token, AWS, the updates queue.
  await stack.startBot().catch((err: Error) => say(`the Discord bot did not start: ${err.message} (see ${join(stack.logDir, "bot.log")})`));
} else {
  say("the Discord bot is off (set DISCORD_TOKEN to start it)");
}

process.stdout.write(`t2s ready: ${stack.url}\nAPI token: ${stack.apiToken}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  say("stopping");
  await stack.stop();
  process.exit(0);
};
// A closed terminal (SIGHUP) stops as gently as Ctrl-C: the store flushes, Deluge saves its resume data.
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => void stop());
