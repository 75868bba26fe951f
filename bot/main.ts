// The Discord bot: reads config and wires the pieces (gateway client, ingest API, updates queue).
import { once } from "node:events";
import { Client, Events, GatewayIntentBits } from "discord.js";
import { awsClients, destroyClients } from "../lib/aws/clients.ts";
import { consumeQueue } from "../lib/aws/queue.ts";
import { ConfigError } from "../lib/config.ts";
import { createLogger } from "../lib/log.ts";
import { refusesEveryone } from "./access.ts";
import { botConfig, type BotConfig } from "./config.ts";
import { restChat } from "./discord.ts";
import { ingestClient } from "./ingest-client.ts";
import { botApp } from "./app.ts";
import { StatusBoard } from "./updates.ts";

let cfg: BotConfig;
try {
  cfg = botConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  createLogger("bot").error(`configuration: ${err.message}`);
  process.exit(1);
}
const log = createLogger("bot", { level: cfg.logLevel });
const shutdown = new AbortController();
for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => shutdown.abort());
// Bad input must never take the bot down: log what slipped through and carry on.
process.on("unhandledRejection", (err) => log.error("unhandled rejection", { err }));
process.on("uncaughtException", (err) => log.error("uncaught exception", { err, stack: err.stack }));

const access = { users: cfg.allowedUsers, roles: cfg.allowedRoles };
if (refusesEveryone(access)) log.warn("DISCORD_ALLOWED_USERS and DISCORD_ALLOWED_ROLES are both empty: the bot refuses everyone");

const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: cfg.discordApiUrl } });
const ingest = ingestClient({ apiUrl: cfg.apiUrl, apiToken: cfg.apiToken });
const board = new StatusBoard({ chat: restChat(client.rest), ingest, publicUrl: cfg.publicUrl, editIntervalMs: cfg.editIntervalMs, log });
const app = botApp({ ingest, board, access, publicUrl: cfg.publicUrl, log });

client.on(Events.InteractionCreate, (i) => void app.onInteraction(i));
client.on(Events.Error, (err) => log.error("discord client error", { err }));
client.on(Events.Warn, (msg) => log.warn("discord client warning", { detail: msg }));
client.once(Events.ClientReady, (c) => log.info("bot ready", { user: c.user.id, guilds: c.guilds.cache.size }));

try {
  await client.login(cfg.token);
} catch (err) {
  log.error("could not log in to Discord; check DISCORD_TOKEN", { err });
  await client.destroy();
  process.exit(1);
}

const clients = awsClients({ region: cfg.region, endpoint: cfg.awsEndpoint });
const consumer = consumeQueue({
  sqs: clients.sqs,
  queueUrl: cfg.updatesQueueUrl,
  handler: app.onUpdate,
  log: log.with({ queue: "updates" }),
  signal: shutdown.signal,
  waitTimeS: cfg.queueWaitS,
  concurrency: 4,
});
log.info("bot running");

await once(shutdown.signal, "abort");
log.info("bot stopping");
board.close();
await client.destroy();
await consumer;
destroyClients(clients);
process.exit(0);
