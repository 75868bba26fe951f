// Slash command handlers: the bot's one core, shared by both transports. Each answers within
// Discord's 3 s: a refusal at once, otherwise a deferral before any slow work. Replies are ephemeral;
// the status message goes to the channel (updates.ts). The handler sees interactions through the small
// structural types below, which discord.js's interactions satisfy as they are (the gateway transport,
// main.ts) and bot/http-interaction.ts builds from the raw JSON Discord POSTs (the HTTP transport).
import { MessageFlags } from "discord-api-types/v10";
import { AppError } from "../lib/errors.ts";
import { isJobId, isTerminal, type Job } from "../lib/job.ts";
import type { Logger } from "../lib/log.ts";
import { maxTorrentBytes, parseTorrent } from "../lib/torrent.ts";
import { isAllowed, refusal, type AccessList } from "./access.ts";
import { findJobsOf, IngestError, jobsOf, type DiscordRequester, type IngestClient, type Submission } from "./ingest-client.ts";
import type { SubmitBody } from "../lib/api-client.ts";
import { selectionFromText } from "../lib/file-selection.ts";
import { displayName, formatBytes, jobsText } from "./status.ts";
import type { StatusBoard } from "./updates.ts";

export interface Attachment {
  url: string;
  size: number;
}

/** What the handler needs of an interaction; discord.js's Interaction is one. */
export interface Interaction {
  user: { id: string };
  /** A guild member: discord.js's GuildMember (roles.cache) or the API's member (roles: ids). */
  member: unknown;
  channelId: string | null;
  isChatInputCommand(): this is ChatInputCommandInteraction;
  isAutocomplete(): this is AutocompleteInteraction;
}

export interface ChatInputCommandInteraction extends Interaction {
  commandName: string;
  channelId: string;
  options: {
    getSubcommand(required: true): string;
    getString(name: string, required: true): string;
    getString(name: string, required?: false): string | null;
    getAttachment(name: string, required: true): Attachment;
  };
  readonly deferred: boolean;
  readonly replied: boolean;
  reply(o: { content: string; flags: MessageFlags.Ephemeral }): Promise<unknown>;
  deferReply(o: { flags: MessageFlags.Ephemeral }): Promise<unknown>;
  editReply(content: string): Promise<unknown>;
}

export interface AutocompleteInteraction extends Interaction {
  commandName: string;
  options: { getFocused(): string | number };
  respond(choices: { name: string; value: string }[]): Promise<unknown>;
}

export interface HandlerDeps {
  /** The bot always submits for the Discord user who asked. */
  ingest: Pick<IngestClient, "list" | "get" | "cancel" | "deleteFiles"> & {
    submit(s: SubmitBody, requester: DiscordRequester): Promise<{ job: Job; created: boolean }>;
  };
  board: Pick<StatusBoard, "show">;
  access: AccessList;
  publicUrl: string;
  log: Logger;
  attachmentTimeoutMs?: number;
}

const ephemeral = MessageFlags.Ephemeral;
const sorry = "Something went wrong on my side; please try again in a minute.";

/** A problem with what the user gave: shown to them as it is. */
class UserError extends Error {}

function roleIdsOf(i: Interaction): string[] {
  const roles = (i.member as { roles?: unknown } | null)?.roles;
  if (Array.isArray(roles)) return roles.filter((r): r is string => typeof r === "string");
  const cache = (roles as { cache?: unknown } | undefined)?.cache;
  return cache instanceof Map ? [...cache.keys()].map(String) : [];
}

/** Fetches an attachment at once (its URL expires), capped at 10 MiB, and checks it is a torrent. */
export async function fetchTorrentAttachment(url: string, timeoutMs: number): Promise<Buffer> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch {
    throw new UserError("I could not download the attachment from Discord; please try again.");
  }
  if (!res.ok || !res.body) throw new UserError("I could not download the attachment from Discord; please try again.");
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (declared > maxTorrentBytes) {
    await res.body.cancel().catch(() => {});
    throw new UserError("That file is larger than 10 MiB, the most a .torrent may be.");
  }
  const parts: Buffer[] = [];
  let n = 0;
  try {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value: chunk } = await reader.read();
      if (done) break;
      n += chunk.byteLength;
      if (n > maxTorrentBytes) {
        await reader.cancel().catch(() => {});
        throw new UserError("That file is larger than 10 MiB, the most a .torrent may be.");
      }
      parts.push(Buffer.from(chunk));
    }
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError("I could not download the attachment from Discord; please try again.");
  }
  const buf = Buffer.concat(parts);
  try {
    parseTorrent(buf);
  } catch (err) {
    if (err instanceof AppError) throw new UserError(err.message);
    throw new UserError("That file is not a valid .torrent file.");
  }
  return buf;
}

/** What the user handed in with /torrent, or null when they were answered already (a file too large). */
async function readSubmission(i: ChatInputCommandInteraction, attachmentTimeoutMs: number): Promise<SubmitBody | null> {
  const source = await readSource(i, attachmentTimeoutMs);
  // Checked by ingest, whose plain message the user sees.
  const files = selectionFromText(i.options.getString("files") ?? "");
  return source && files ? { ...source, files } : source;
}

async function readSource(i: ChatInputCommandInteraction, attachmentTimeoutMs: number): Promise<Submission | null> {
  const sub = i.options.getSubcommand(true);
  let att: Attachment | null = null;
  if (sub === "file") {
    att = i.options.getAttachment("torrent", true);
    // Known at once, so answered at once.
    if (att.size > maxTorrentBytes) {
      await i.reply({ content: `That file is ${formatBytes(att.size)}; a .torrent may be at most 10 MiB.`, flags: ephemeral });
      return null;
    }
  }
  await i.deferReply({ flags: ephemeral });
  try {
    if (sub === "magnet") return { magnet: i.options.getString("uri", true).trim() };
    if (sub === "url") return { url: i.options.getString("url", true).trim() };
    if (att) return { torrent: (await fetchTorrentAttachment(att.url, attachmentTimeoutMs)).toString("base64") };
    throw new UserError("Use /torrent magnet, /torrent file or /torrent url.");
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    await i.editReply(err.message);
    return null;
  }
}

/** The reply to a submission that ingest took. */
function submittedText(job: Job, created: boolean, shown: boolean): string {
  const name = `**${displayName(job.name)}** (${formatBytes(job.size)})`;
  const where = shown ? "I posted its status (in this channel, or by direct message if I may not write here) and will ping you" : "I could not post its status yet; I will try again and ping you";
  return job.status === "completed"
    ? `${name} was already downloaded: the links are in this channel.`
    : created ? `Added ${name}. ${where} when it is done.` : `${name} was already asked for; I added you to it. ${where} when it is done.`;
}

async function torrent(d: HandlerDeps, i: ChatInputCommandInteraction): Promise<void> {
  const submission = await readSubmission(i, d.attachmentTimeoutMs ?? 20_000);
  if (!submission) return;
  let job: Job;
  let created: boolean;
  try {
    ({ job, created } = await d.ingest.submit(submission, { via: "discord", user: i.user.id, channelId: i.channelId }));
  } catch (err) {
    if (!(err instanceof IngestError)) throw err;
    d.log.info("submission refused", { user: i.user.id, code: err.code });
    await i.editReply(err.message);
    return;
  }
  d.log.info(created ? "job submitted" : "known job submitted again", { job: job.id, user: i.user.id });
  let shown = true;
  try {
    await d.board.show(job);
  } catch (err) {
    shown = false;
    d.log.warn("could not post the status message", { job: job.id, err });
  }
  await i.editReply(submittedText(job, created, shown));
}

async function jobs(d: HandlerDeps, i: ChatInputCommandInteraction): Promise<void> {
  await i.deferReply({ flags: ephemeral });
  const { jobs: mine, more } = await findJobsOf(d.ingest, i.user.id);
  await i.editReply(jobsText(mine, d.publicUrl, more));
}

/** The job the "job" option names (an id from autocomplete, an id prefix, or a name), if it is the user's. */
async function pickJob(d: HandlerDeps, i: ChatInputCommandInteraction): Promise<Job | undefined> {
  const want = i.options.getString("job", true).trim();
  const lower = want.toLowerCase();
  let job: Job | undefined;
  if (isJobId(lower)) {
    // A whole id (what autocomplete gives): one call, however old the job is.
    try {
      job = jobsOf([await d.ingest.get(lower)], i.user.id)[0];
    } catch (err) {
      if (!(err instanceof IngestError) || err.code !== "not_found") throw err;
    }
  } else {
    const byPrefix = lower.length >= 6 && /^[0-9a-f]+$/.test(lower);
    const { jobs: found } = await findJobsOf(d.ingest, i.user.id, { match: (j) => (byPrefix && j.id.startsWith(lower)) || j.name === want, enough: 1 });
    job = found[0];
  }
  if (!job) {
    await i.editReply(isJobId(lower) ? "That job is not one of yours, or it does not exist." : "I found no job of yours by that name; pick one from the list.");
  }
  return job;
}

/** /cancel and /delete: pick the user's job, check it may be acted on (else the refusal), act, and say so. */
async function actOnJob(d: HandlerDeps, i: ChatInputCommandInteraction, o: {
  refusal: (job: Job) => string | null; act: (id: string) => Promise<unknown>; done: string; reply: (name: string) => string;
}): Promise<void> {
  await i.deferReply({ flags: ephemeral });
  const job = await pickJob(d, i);
  if (!job) return;
  const refused = o.refusal(job);
  if (refused !== null) {
    await i.editReply(refused);
    return;
  }
  try {
    await o.act(job.id);
  } catch (err) {
    if (!(err instanceof IngestError)) throw err;
    await i.editReply(err.message);
    return;
  }
  d.log.info(o.done, { job: job.id, user: i.user.id });
  await i.editReply(o.reply(`**${displayName(job.name)}**`));
}

const cancel = (d: HandlerDeps, i: ChatInputCommandInteraction) => actOnJob(d, i, {
  refusal: (job) => (isTerminal(job.status) ? `**${displayName(job.name)}** has already ended (${job.status}); there is nothing to cancel.` : null),
  act: (id) => d.ingest.cancel(id),
  done: "job cancelled",
  reply: (name) => `Cancelled ${name}.`,
});

const deleteFiles = (d: HandlerDeps, i: ChatInputCommandInteraction) => actOnJob(d, i, {
  refusal: (job) => (job.status === "completed" ? null
    : `**${displayName(job.name)}** is ${job.status}; only a finished job's files can be deleted${isTerminal(job.status) ? "" : " (use /cancel for a running one)"}.`),
  act: (id) => d.ingest.deleteFiles(id),
  done: "job files deleted",
  reply: (name) => `Deleted the files of ${name}; its links no longer work.`,
});

const allowed = (d: HandlerDeps, i: Interaction) => isAllowed({ userId: i.user.id, roleIds: roleIdsOf(i) }, d.access);

async function autocomplete(d: HandlerDeps, i: AutocompleteInteraction): Promise<void> {
  if ((i.commandName !== "cancel" && i.commandName !== "delete") || !allowed(d, i)) {
    await i.respond([]);
    return;
  }
  const typed = String(i.options.getFocused()).trim().toLowerCase();
  let choices: { name: string; value: string }[] = [];
  try {
    const { jobs: found } = await findJobsOf(d.ingest, i.user.id, {
      match: (j) => (i.commandName === "delete" ? j.status === "completed" : !isTerminal(j.status)) && (!typed || j.name.toLowerCase().includes(typed) || j.id.startsWith(typed)),
      enough: 25,
    });
    choices = found
      .map((j) => {
        const label = `${j.name.replace(/[\u0000-\u001f]/g, " ")} · ${j.status}`;
        return { name: label.length > 100 ? label.slice(0, 99) + "…" : label, value: j.id };
      });
  } catch (err) {
    d.log.warn("autocomplete could not list jobs", { err });
  }
  await i.respond(choices);
}

const commands: Record<string, (d: HandlerDeps, i: ChatInputCommandInteraction) => Promise<void>> = { torrent, jobs, cancel, delete: deleteFiles };

export function interactionHandler(d: HandlerDeps): (i: Interaction) => Promise<void> {
  return async (i: Interaction) => {
    const command = i.isChatInputCommand() || i.isAutocomplete() ? i.commandName : "other";
    try {
      if (i.isAutocomplete()) return await autocomplete(d, i);
      if (!i.isChatInputCommand()) return;
      if (!allowed(d, i)) {
        d.log.info("refused a user who is not allowed", { user: i.user.id, command });
        await i.reply({ content: refusal, flags: ephemeral });
        return;
      }
      const run = Object.hasOwn(commands, i.commandName) ? commands[i.commandName] : undefined;
      if (run) await run(d, i);
      else await i.reply({ content: "I do not know that command.", flags: ephemeral });
    } catch (err) {
      d.log.error("interaction failed", { command, err });
      try {
        if (i.isChatInputCommand()) {
          if (i.deferred || i.replied) await i.editReply(err instanceof IngestError ? err.message : sorry);
          else await i.reply({ content: sorry, flags: ephemeral });
        }
      } catch {
        /* the interaction expired: nothing more to do */
      }
    }
  };
}
