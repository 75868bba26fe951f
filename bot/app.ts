// The bot's core wired once for both transports: the discord.js gateway client (bot/main.ts) and the
// HTTP interactions on Lambda (bot/lambda.ts). Each hands in its ingest client and status board (the
// Lambda's load at first use).
import type { Logger } from "../lib/log.ts";
import { parseUpdate } from "../lib/messages.ts";
import type { AccessList } from "./access.ts";
import { interactionHandler, type HandlerDeps } from "./interactions.ts";

export interface BotAppDeps {
  ingest: HandlerDeps["ingest"];
  board: HandlerDeps["board"];
  access: AccessList;
  publicUrl: string;
  log: Logger;
}

export function botApp(d: BotAppDeps) {
  return {
    /** Slash commands, buttons and autocomplete. */
    onInteraction: interactionHandler(d),
    /** A message of the updates queue: the job's status messages show it; anything else is skipped. */
    onUpdate: async (msg: { messageId: string; body: string }): Promise<void> => {
      const job = parseUpdate(msg.body);
      if (!job) {
        d.log.warn("skipped a message that is not a job update", { messageId: msg.messageId });
        return;
      }
      await d.board.show(job);
    },
  };
}
