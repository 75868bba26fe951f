// The slash commands, as registered with Discord (`npm run bot:register`).
import { SlashCommandBuilder, type RESTPostAPIChatInputApplicationCommandsJSONBody, type SlashCommandStringOption } from "discord.js";

/** Every /torrent subcommand's optional last option: which files to fetch. */
const filesOption = (o: SlashCommandStringOption) =>
  o.setName("files").setDescription("Only these files: indexes and globs, comma-separated (0, 2, *.mkv)").setRequired(false).setMaxLength(1000);

export const commands: RESTPostAPIChatInputApplicationCommandsJSONBody[] = [
  new SlashCommandBuilder()
    .setName("torrent")
    .setDescription("Download a torrent to storage and get links")
    .addSubcommand((s) =>
      s.setName("magnet").setDescription("Add a magnet link")
        .addStringOption((o) => o.setName("uri").setDescription("The magnet link (magnet:?xt=urn:btih:…)").setRequired(true).setMaxLength(6000))
        .addStringOption(filesOption))
    .addSubcommand((s) =>
      s.setName("file").setDescription("Add an attached .torrent file")
        .addAttachmentOption((o) => o.setName("torrent").setDescription("The .torrent file (at most 10 MiB)").setRequired(true))
        .addStringOption(filesOption))
    .addSubcommand((s) =>
      s.setName("url").setDescription("Add the web address of a .torrent file")
        .addStringOption((o) => o.setName("url").setDescription("https://… address of the .torrent").setRequired(true).setMaxLength(2000))
        .addStringOption(filesOption))
    .toJSON(),
  new SlashCommandBuilder().setName("jobs").setDescription("List your torrents and their status").toJSON(),
  new SlashCommandBuilder()
    .setName("cancel")
    .setDescription("Cancel one of your torrents")
    .addStringOption((o) => o.setName("job").setDescription("The job to cancel").setRequired(true).setAutocomplete(true))
    .toJSON(),
  new SlashCommandBuilder()
    .setName("delete")
    .setDescription("Delete the files of one of your finished torrents from storage now")
    .addStringOption((o) => o.setName("job").setDescription("The finished job whose files to delete").setRequired(true).setAutocomplete(true))
    .toJSON(),
];
