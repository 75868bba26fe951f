// The HTTP transport of the bot: Discord POSTs each interaction, signed with Ed25519, to an endpoint
// (the interactions Lambda's function URL in AWS mode). This file verifies the request, answers PING,
// and runs the one core (interactions.ts) through an adapter built from the raw JSON.
//
// Two phases, because a Lambda freezes once it has answered:
// - the answer: verify, then run the core until its first answer. A refusal or an autocomplete is
//   the HTTP response itself (type 4 / 8). A deferral (type 5) first hands the signed request to
//   `handoff` (AWS: an SNS topic that invokes the worker function) and answers; the core stops there.
// - the work (`work`): the worker verifies the same signed request again (it is never trusted as it
//   comes), runs the core from the start with the deferral already made, and edits the reply over
//   REST with the interaction token (`PATCH /webhooks/{app}/{token}/messages/@original`, valid 15 min).
//   Status messages and pings use the bot token (updates.ts), so they outlive the interaction token.
// Where one process lives on (local mode, tests), `handoff: "inline"` answers and goes on in-process.
import { createPublicKey, verify, type KeyObject } from "node:crypto";
import {
  ApplicationCommandOptionType, ApplicationCommandType, InteractionResponseType, InteractionType, MessageFlags, Routes,
  type APIInteractionResponse,
} from "discord-api-types/v10";
import type { Logger } from "../lib/log.ts";
import type { AutocompleteInteraction, ChatInputCommandInteraction, Interaction } from "./interactions.ts";

/** Discord's interactions are small; anything bigger is not one. */
export const maxInteractionBytes = 64 * 1024;
/** How old (or how far ahead) a signature's timestamp may be when it is answered. */
export const maxAgeS = 5 * 60;
/** The worker may run later (a retry); it still needs a live interaction token (15 min). */
export const maxWorkAgeS = 15 * 60;
/** Discord waits 3 s for the answer; the core must have given one well before. */
export const answerWithinMs = 2500;

/** The signed request as Discord sent it, handed to the worker, which verifies it again. */
export interface SignedRequest {
  body: string;
  signature: string;
  timestamp: string;
}

export type Verdict = "ok" | "bad_signature" | "stale";

/** An Ed25519 verifier for the application's public key (64 hex characters, shown in the portal). */
export function discordVerifier(publicKeyHex: string): (r: SignedRequest, nowMs: number, maxAge?: number) => Verdict {
  if (!/^[0-9a-f]{64}$/i.test(publicKeyHex)) throw new Error("DISCORD_PUBLIC_KEY must be the application's public key: 64 hex characters");
  // node:crypto takes no raw 32-byte key: wrap it as a JWK.
  const key: KeyObject = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(publicKeyHex, "hex").toString("base64url") }, format: "jwk" });
  return (r, nowMs, maxAge = maxAgeS) => {
    if (!/^[0-9a-f]{128}$/i.test(r.signature) || !/^\d{1,12}$/.test(r.timestamp)) return "bad_signature";
    const ok = verify(null, Buffer.concat([Buffer.from(r.timestamp), Buffer.from(r.body)]), key, Buffer.from(r.signature, "hex"));
    if (!ok) return "bad_signature";
    // Checked after the signature, so a stale answer tells nothing to someone without the key.
    return Math.abs(nowMs - Number(r.timestamp) * 1000) > maxAge * 1000 ? "stale" : "ok";
  };
}

/** Where the answer's follow-ups go: the webhook of the interaction token (no bot token needed). */
export interface Followups {
  editOriginal(appId: string, token: string, content: string): Promise<void>;
}

/** Follow-ups over @discordjs/rest (it queues rate limits itself). */
export function restFollowups(rest: { patch(route: `/${string}`, o: { body: unknown; auth: false }): Promise<unknown> }): Followups {
  return {
    editOriginal: async (appId, token, content) => {
      await rest.patch(Routes.webhookMessage(appId, token, "@original"), { body: { content, allowed_mentions: { parse: [] } }, auth: false });
    },
  };
}

/** The raw interaction's fields used here (the API's shape; unknown parts are ignored). */
interface RawOption {
  name: string;
  type: number;
  value?: unknown;
  focused?: boolean;
  options?: RawOption[];
}
interface RawInteraction {
  id: string;
  application_id: string;
  type: number;
  token: string;
  channel_id?: string;
  channel?: { id?: string };
  member?: { user?: { id?: string }; roles?: unknown };
  user?: { id?: string };
  data?: { name?: string; type?: number; options?: RawOption[]; resolved?: { attachments?: Record<string, { url?: unknown; size?: unknown }> } };
}

class BadInteraction extends Error {}

function parseInteraction(body: string): RawInteraction {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    throw new BadInteraction("the body is not JSON");
  }
  const r = v as Partial<RawInteraction> | null;
  if (!r || typeof r !== "object" || typeof r.type !== "number") throw new BadInteraction("not an interaction");
  if (r.type === InteractionType.Ping) return r as RawInteraction;
  if (typeof r.id !== "string" || typeof r.token !== "string" || typeof r.application_id !== "string") throw new BadInteraction("an interaction without id, token or application");
  if (!/^\d{1,20}$/.test(r.application_id) || !/^[\w.-]{1,500}$/.test(r.token)) throw new BadInteraction("a malformed application id or token");
  const user = r.member?.user?.id ?? r.user?.id;
  if (typeof user !== "string") throw new BadInteraction("an interaction without a user");
  if (r.data !== undefined && (typeof r.data !== "object" || r.data === null)) throw new BadInteraction("malformed data");
  return r as RawInteraction;
}

/** How the adapter gives its answers: the first one (the HTTP response), then edits of it. */
interface Outlet {
  /** The first answer. Returns false when the core must stop here (the work goes on elsewhere). */
  answer(r: APIInteractionResponse): Promise<boolean>;
  /** A deferral, in the worker: already answered by the first phase. */
  readonly deferredAlready: boolean;
  edit(content: string): Promise<void>;
}

const never = new Promise<never>(() => {});

/** A raw interaction seen through the core's types. */
class RawAdapter implements ChatInputCommandInteraction, AutocompleteInteraction {
  readonly user: { id: string };
  readonly member: { roles: string[] } | null;
  readonly channelId: string;
  readonly commandName: string;
  deferred = false;
  replied = false;
  readonly #raw: RawInteraction;
  readonly #out: Outlet;
  readonly #leaves: RawOption[];
  readonly #sub: string | null;

  constructor(raw: RawInteraction, out: Outlet) {
    this.#raw = raw;
    this.#out = out;
    this.user = { id: String(raw.member?.user?.id ?? raw.user?.id) };
    const roles = raw.member?.roles;
    this.member = raw.member ? { roles: Array.isArray(roles) ? roles.filter((x): x is string => typeof x === "string") : [] } : null;
    this.channelId = String(raw.channel_id ?? raw.channel?.id ?? "");
    this.commandName = String(raw.data?.name ?? "");
    const top = Array.isArray(raw.data?.options) ? raw.data.options : [];
    const sub = top.find((o) => o?.type === ApplicationCommandOptionType.Subcommand);
    this.#sub = sub ? String(sub.name) : null;
    this.#leaves = (sub ? (Array.isArray(sub.options) ? sub.options : []) : top).filter((o) => o && typeof o === "object");
  }

  isChatInputCommand(): this is ChatInputCommandInteraction {
    return this.#raw.type === InteractionType.ApplicationCommand && (this.#raw.data?.type ?? ApplicationCommandType.ChatInput) === ApplicationCommandType.ChatInput;
  }

  isAutocomplete(): this is AutocompleteInteraction {
    return this.#raw.type === InteractionType.ApplicationCommandAutocomplete;
  }

  #leaf(name: string, type: ApplicationCommandOptionType): RawOption {
    const o = this.#leaves.find((x) => x.name === name && x.type === type);
    // As discord.js does for a required option that is missing: the core's catch-all answers.
    if (!o) throw new TypeError(`option "${name}" is missing`);
    return o;
  }

  readonly options = {
    getSubcommand: (_required: true): string => {
      if (this.#sub === null) throw new TypeError("no subcommand");
      return this.#sub;
    },
    getString: ((name: string, required?: boolean): string | null => {
      // An optional option the user left out is absent, as discord.js answers null for it.
      if (!required && !this.#leaves.some((x) => x.name === name && x.type === ApplicationCommandOptionType.String)) return null;
      return String(this.#leaf(name, ApplicationCommandOptionType.String).value ?? "");
    }) as { (name: string, required: true): string; (name: string, required?: false): string | null },
    getAttachment: (name: string, _required: true): { url: string; size: number } => {
      const id = String(this.#leaf(name, ApplicationCommandOptionType.Attachment).value ?? "");
      const a = this.#raw.data?.resolved?.attachments?.[id];
      if (!a || typeof a.url !== "string" || typeof a.size !== "number") throw new TypeError(`attachment "${name}" is missing`);
      return { url: a.url, size: a.size };
    },
    getFocused: (): string => String(this.#leaves.find((o) => o.focused)?.value ?? ""),
  };

  async reply(o: { content: string; flags: MessageFlags.Ephemeral }): Promise<void> {
    if (this.deferred || this.replied) throw new Error("already answered");
    this.replied = true;
    if (this.#out.deferredAlready) {
      // The worker re-runs the core; its answers before the deferral were given by the first phase.
      return never;
    }
    if (!(await this.#out.answer({ type: InteractionResponseType.ChannelMessageWithSource, data: { content: o.content, flags: o.flags, allowed_mentions: { parse: [] } } }))) return never;
  }

  async deferReply(o: { flags: MessageFlags.Ephemeral }): Promise<void> {
    if (this.deferred || this.replied) throw new Error("already answered");
    this.deferred = true;
    if (this.#out.deferredAlready) return;
    if (!(await this.#out.answer({ type: InteractionResponseType.DeferredChannelMessageWithSource, data: { flags: o.flags } }))) return never;
  }

  async editReply(content: string): Promise<void> {
    await this.#out.edit(content);
  }

  async respond(choices: { name: string; value: string }[]): Promise<void> {
    this.replied = true;
    if (this.#out.deferredAlready) return;
    await this.#out.answer({ type: InteractionResponseType.ApplicationCommandAutocompleteResult, data: { choices } });
  }
}

export interface EndpointDeps {
  verify: (r: SignedRequest, nowMs: number, maxAge?: number) => Verdict;
  /** The core (interactionHandler). */
  handler: (i: Interaction) => Promise<void>;
  followups: Followups;
  /** Where deferred work goes ("inline": on in this process). */
  handoff: ((r: SignedRequest) => Promise<void>) | "inline";
  log: Logger;
  now?: () => number;
  answerWithinMs?: number;
}

export interface HttpAnswer {
  status: number;
  body: unknown;
}

const json = (status: number, body: unknown): HttpAnswer => ({ status, body });
const errorAnswer = (status: number, code: string, message: string) => json(status, { error: { code, message } });
const sorry = "Something went wrong on my side; please try again in a minute.";

export interface InteractionsEndpoint {
  /** One HTTP request: method, lower-case headers, the raw body. */
  http(req: { method: string; headers: Record<string, string | undefined>; body: Buffer }): Promise<HttpAnswer>;
  /** The worker's side of a deferred interaction. */
  work(r: SignedRequest): Promise<void>;
}

export function interactionsEndpoint(d: EndpointDeps): InteractionsEndpoint {
  const now = d.now ?? Date.now;
  const within = d.answerWithinMs ?? answerWithinMs;

  const edits = (raw: RawInteraction) => (content: string) => d.followups.editOriginal(raw.application_id, raw.token, content);

  return {
    async http(req) {
      if (req.method.toUpperCase() !== "POST") return errorAnswer(405, "method_not_allowed", "Discord interactions are POSTed.");
      if (req.body.length > maxInteractionBytes) return errorAnswer(413, "too_large", "The body is larger than an interaction can be.");
      const signed: SignedRequest = {
        body: req.body.toString("utf8"),
        signature: req.headers["x-signature-ed25519"] ?? "",
        timestamp: req.headers["x-signature-timestamp"] ?? "",
      };
      const verdict = d.verify(signed, now());
      if (verdict !== "ok") {
        d.log.info("refused an interaction request", { reason: verdict });
        return errorAnswer(401, "unauthorized", verdict === "stale" ? "The signature's timestamp is too old." : "The request signature is missing or wrong.");
      }
      let raw: RawInteraction;
      try {
        raw = parseInteraction(signed.body);
      } catch (err) {
        d.log.warn("a signed request that is not an interaction", { reason: (err as Error).message });
        return errorAnswer(400, "invalid_request", "That is not an interaction I can read.");
      }
      if (raw.type === InteractionType.Ping) return json(200, { type: InteractionResponseType.Pong });
      if (raw.type !== InteractionType.ApplicationCommand && raw.type !== InteractionType.ApplicationCommandAutocomplete) {
        return errorAnswer(400, "invalid_request", "This bot has no buttons or forms.");
      }

      let settle!: (r: APIInteractionResponse | null) => void;
      const first = new Promise<APIInteractionResponse | null>((r) => (settle = r));
      const outlet: Outlet = {
        deferredAlready: false,
        answer: async (r) => {
          if (r.type === InteractionResponseType.DeferredChannelMessageWithSource && d.handoff !== "inline") {
            try {
              await d.handoff(signed);
            } catch (err) {
              d.log.error("could not hand the interaction to the worker", { err });
              settle({ type: InteractionResponseType.ChannelMessageWithSource, data: { content: sorry, flags: MessageFlags.Ephemeral } });
              return false;
            }
            settle(r);
            return false;
          }
          settle(r);
          return true;
        },
        edit: edits(raw),
      };
      const adapter = new RawAdapter(raw, outlet);
      const running = d.handler(adapter).then(() => settle(null), (err) => {
        d.log.error("interaction failed", { err });
        settle(null);
      });
      void running;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), within)));
      const r = await Promise.race([first, late]);
      clearTimeout(timer);
      if (r === "late") {
        d.log.warn("the core gave no answer in time", { command: adapter.commandName });
        return json(200, adapter.isAutocomplete()
          ? { type: InteractionResponseType.ApplicationCommandAutocompleteResult, data: { choices: [] } }
          : { type: InteractionResponseType.ChannelMessageWithSource, data: { content: sorry, flags: MessageFlags.Ephemeral } });
      }
      // The core ended without answering (it answers everything it handles): say so rather than time out.
      return json(200, r ?? { type: InteractionResponseType.ChannelMessageWithSource, data: { content: sorry, flags: MessageFlags.Ephemeral } });
    },

    async work(signed) {
      const verdict = d.verify(signed, now(), maxWorkAgeS);
      if (verdict !== "ok") {
        // Not Discord's request (or long expired): nothing to do, and nothing worth a retry.
        d.log.warn("the worker refused a request", { reason: verdict });
        return;
      }
      let raw: RawInteraction;
      try {
        raw = parseInteraction(signed.body);
      } catch (err) {
        d.log.warn("the worker got a signed request that is not an interaction", { reason: (err as Error).message });
        return;
      }
      await d.handler(new RawAdapter(raw, { deferredAlready: true, answer: async () => false, edit: edits(raw) }));
    },
  };
}
