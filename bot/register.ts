// `npm run bot:register`: registers the slash commands, on DISCORD_GUILD_ID when set (instant), else
// globally. With DISCORD_INTERACTIONS_URL set (AWS mode: the stack's output interactions_url) it also
// sets the application's Interactions Endpoint URL, which moves interactions off the gateway to HTTP;
// Discord checks the URL first with signed PINGs (one of them signed wrong, which must get a 401).
import { REST, Routes } from "discord.js";
import { ConfigError } from "../lib/config.ts";
import { createLogger } from "../lib/log.ts";
import { commands } from "./commands.ts";
import { registerConfig } from "./config.ts";

const log = createLogger("bot-register");
try {
  const cfg = registerConfig(process.env);
  const rest = new REST({ api: cfg.discordApiUrl }).setToken(cfg.token);
  const route = cfg.guildId ? Routes.applicationGuildCommands(cfg.appId, cfg.guildId) : Routes.applicationCommands(cfg.appId);
  const out = (await rest.put(route, { body: commands })) as unknown[];
  log.info("commands registered", { scope: cfg.guildId ? "guild" : "global", ...(cfg.guildId ? { guild: cfg.guildId } : {}), count: out.length });
  if (!cfg.guildId) log.info("global commands can take up to an hour to show in every server; set DISCORD_GUILD_ID for instant ones");
  const endpoint = process.env.DISCORD_INTERACTIONS_URL?.trim();
  if (endpoint) {
    if (!/^https?:\/\//.test(endpoint)) throw new ConfigError("DISCORD_INTERACTIONS_URL must be the https:// URL of the interactions endpoint");
    await rest.patch(Routes.currentApplication(), { body: { interactions_endpoint_url: endpoint } });
    log.info("interactions endpoint set: Discord now POSTs interactions there instead of using the gateway", { url: endpoint });
  }
} catch (err) {
  log.error(err instanceof ConfigError ? `configuration: ${err.message}` : "could not register the commands", { err });
  process.exitCode = 1;
}
