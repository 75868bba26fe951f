// The bot's configuration, read from the environment (see docs/discord.md).
import { list, num, optional, str, type Env } from "../lib/config.ts";
import { levelFromEnv, type Level } from "../lib/log.ts";

export interface BotConfig {
  token: string;
  /** Commands go to this guild when set (instant), else they are global. */
  guildId: string | undefined;
  /** Discord's REST base, including /api. */
  discordApiUrl: string;
  allowedUsers: string[];
  allowedRoles: string[];
  /** The base URL links and the job page use. */
  publicUrl: string;
  /** ingest's HTTP API and the service token the bot calls it with. */
  apiUrl: string;
  apiToken: string;
  region: string;
  awsEndpoint: string | undefined;
  /** The SQS queue subscribed to the updates topic. */
  updatesQueueUrl: string;
  queueWaitS: number;
  /** The least time between two edits of one status message (completion and failure go out at once). */
  editIntervalMs: number;
  logLevel: Level;
}

const trimSlash = (s: string) => s.replace(/\/+$/, "");

type DiscordConfig = Pick<BotConfig, "token" | "guildId" | "discordApiUrl">;

function discordConfig(env: Env): DiscordConfig {
  return {
    token: str(env, "DISCORD_TOKEN"),
    guildId: optional(env, "DISCORD_GUILD_ID"),
    discordApiUrl: trimSlash(str(env, "DISCORD_API_URL", "https://discord.com/api")),
  };
}

/** What `npm run bot:register` needs: the application id too, but no ingest and no queue. */
export function registerConfig(env: Env): DiscordConfig & { appId: string } {
  return { ...discordConfig(env), appId: str(env, "DISCORD_APP_ID") };
}

export function botConfig(env: Env): BotConfig {
  const apiUrl = trimSlash(str(env, "T2S_API_URL"));
  return {
    // The running bot learns its application id from the gateway; only registering needs DISCORD_APP_ID.
    ...discordConfig(env),
    allowedUsers: list(env, "DISCORD_ALLOWED_USERS"),
    allowedRoles: list(env, "DISCORD_ALLOWED_ROLES"),
    publicUrl: trimSlash(str(env, "T2S_PUBLIC_URL", apiUrl)),
    apiUrl,
    apiToken: str(env, "T2S_API_TOKEN"),
    region: str(env, "AWS_REGION", str(env, "AWS_DEFAULT_REGION", "us-east-1")),
    awsEndpoint: optional(env, "AWS_ENDPOINT_URL"),
    // AWS mode's host sets T2S_UPDATES_BOT_QUEUE_URL; T2S_UPDATES_QUEUE_URL is accepted too.
    updatesQueueUrl: str(env, "T2S_UPDATES_BOT_QUEUE_URL", optional(env, "T2S_UPDATES_QUEUE_URL")),
    queueWaitS: Math.min(20, num(env, "T2S_SQS_WAIT_S", 20)),
    editIntervalMs: num(env, "T2S_BOT_EDIT_INTERVAL_MS", 10_000),
    logLevel: levelFromEnv(env.T2S_LOG_LEVEL),
  };
}
