// The Discord bot (issue "Discord bot") is not built yet; local mode starts this only when DISCORD_TOKEN is set.
process.stderr.write("t2s bot: the Discord bot is not implemented yet; nothing to do\n");
