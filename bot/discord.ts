// The Discord side the bot writes through with its own token (not the 15-minute interaction token):
// status messages and pings in a channel. @discordjs/rest queues rate limits (429) itself.
import { DiscordAPIError, type REST } from "@discordjs/rest";
import { MessageFlags, Routes } from "discord-api-types/v10";

export interface Chat {
  /** Posts a message; `ping` is the one user it may mention. Returns the message id. */
  post(channelId: string, content: string, ping?: string): Promise<string>;
  edit(channelId: string, messageId: string, content: string): Promise<void>;
  /** Opens (or finds) the direct-message channel with a user; returns its id. */
  openDm(userId: string): Promise<string>;
}

/**
 * A REST error from Discord. discord.js (CommonJS) loads @discordjs/rest's CommonJS build while this
 * module gets its ES build: two DiscordAPIError classes, so `instanceof` alone misses the gateway
 * client's errors. Their name ("DiscordAPIError[code]") tells them apart as well.
 */
function discordError(err: unknown): { status: number; code: number | string } | null {
  if (err instanceof DiscordAPIError) return err;
  if (err instanceof Error && /^DiscordAPIError\[/.test(err.name)) {
    const e = err as Error & { status?: unknown; code?: unknown };
    if (typeof e.status === "number" && (typeof e.code === "number" || typeof e.code === "string")) return { status: e.status, code: e.code };
  }
  return null;
}

/** Discord refused for good (unknown message or channel, no access): retrying will not help. */
export function isPermanent(err: unknown): boolean {
  const e = discordError(err);
  return e !== null && e.status >= 400 && e.status < 500 && e.status !== 429;
}

/** The message (or its channel) is gone: post a new one. */
export function isUnknownMessage(err: unknown): boolean {
  const e = discordError(err);
  return e !== null && (e.code === 10008 || e.status === 404);
}

export function restChat(rest: REST): Chat {
  return {
    post: async (channelId, content, ping) => {
      const msg = (await rest.post(Routes.channelMessages(channelId), {
        body: { content, flags: MessageFlags.SuppressEmbeds, allowed_mentions: ping ? { parse: [], users: [ping] } : { parse: [] } },
      })) as { id: string };
      return msg.id;
    },
    edit: async (channelId, messageId, content) => {
      await rest.patch(Routes.channelMessage(channelId, messageId), {
        body: { content, flags: MessageFlags.SuppressEmbeds, allowed_mentions: { parse: [] } },
      });
    },
    openDm: async (userId) => ((await rest.post(Routes.userChannels(), { body: { recipient_id: userId } })) as { id: string }).id,
  };
}
