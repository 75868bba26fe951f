// A local Discord for tests: the REST API routes the bot uses and the gateway (JSON over ws), on
// 127.0.0.1. It records every call in order; it also serves attachments (the CDN) and can sit in
// front of ingest as a recording proxy, so a test can see the order of Discord and ingest calls.
// It delivers interactions either over the gateway (interact) or as Discord's HTTP interactions do
// (interactHttp): a POST signed with the application's Ed25519 key to an Interactions Endpoint URL.
import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";

export interface Call {
  seq: number;
  /** rest: Discord's API; cdn: an attachment download; ingest: the bot calling ingest's API. */
  kind: "rest" | "cdn" | "ingest";
  method: string;
  /** For rest, the route after /api/v10, with the interaction token replaced by ":token". */
  path: string;
  /** Whether it carried `Authorization: Bot <token>`. */
  botAuth: boolean;
  body: any;
  status: number;
}

export interface StoredMessage {
  id: string;
  channel_id: string;
  content: string;
  edits: number;
  mentions: string[];
}

export interface InteractOptions {
  user: string;
  roles?: string[];
  command: string;
  sub?: string;
  /** String options by name. */
  options?: Record<string, string>;
  /** An attachment option: name → attachment from putAttachment(). */
  attachment?: { option: string; id: string; filename: string; size: number; url: string };
  /** Sends an autocomplete (type 4) for this option instead of a command. */
  focused?: string;
}

export interface Interacted {
  id: string;
  token: string;
  /** Resolves with the interaction's final answer: the callback's content or the last edit of @original. */
  answer(timeoutMs?: number): Promise<{ content: string; ephemeral: boolean; type: number; choices?: { name: string; value: string }[] }>;
}

export interface HttpInteracted extends Interacted {
  /** The endpoint's HTTP answer: its status and JSON body. */
  response: Promise<{ status: number; body: any }>;
}

export interface DiscordStandIn {
  api: string;
  /** The application's Ed25519 public key (hex), as the developer portal shows it. */
  publicKey: string;
  base: string;
  token: string;
  appId: string;
  guildId: string;
  channelId: string;
  roleId: string;
  calls: Call[];
  messages: Map<string, StoredMessage>;
  /** DM channel id per user, once the bot opened one. */
  dms: Map<string, string>;
  /** Channels where posting answers 403 Missing Access. */
  denied: Set<string>;
  /** The Interactions Endpoint URL the application has (set with PATCH /applications/@me), or null. */
  readonly interactionsUrl: string | null;
  /** Number of READY dispatches sent so far (one per bot login). */
  readonly sessions: number;
  waitForSession(n: number, timeoutMs?: number): Promise<void>;
  putAttachment(filename: string, body: Buffer, size?: number): { id: string; filename: string; size: number; url: string };
  interact(o: InteractOptions): Interacted;
  /** Sends the interaction to an Interactions Endpoint URL, signed (or signed wrong, with `badSignature`). */
  interactHttp(endpoint: string, o: InteractOptions & { badSignature?: boolean }): HttpInteracted;
  /** A URL that forwards to `target`, recording each call as kind "ingest". */
  proxy(target: string): string;
  waitFor<T>(probe: () => T | undefined | null | false, timeoutMs?: number, what?: string): Promise<T>;
  close(): Promise<void>;
}

let nextId = 1_300_000_000_000_000_000n;
const snowflake = () => String(nextId++);

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d));
    req.on("end", () => resolve(Buffer.concat(parts)));
    req.on("error", reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startDiscordStandIn(): Promise<DiscordStandIn> {
  const token = `standin.${randomBytes(12).toString("hex")}`;
  const keys = generateKeyPairSync("ed25519");
  const publicKey = Buffer.from(keys.publicKey.export({ format: "jwk" }).x!, "base64url").toString("hex");
  const appId = snowflake();
  const guildId = snowflake();
  const channelId = snowflake();
  const roleId = snowflake();
  const botUser = { id: appId, username: "t2s-test-bot", discriminator: "0", avatar: null, bot: true, global_name: null };
  const calls: Call[] = [];
  const messages = new Map<string, StoredMessage>();
  const attachments = new Map<string, Buffer>();
  const proxies = new Map<string, string>();
  let seq = 0;
  let sessions = 0;
  let socket: WebSocket | null = null;
  let s = 0;
  let base = "";
  const dms = new Map<string, string>();
  const denied = new Set<string>();
  /** The last content each interaction token put in @original (recorded paths hide the token). */
  const edits = new Map<string, string>();
  /** The Interactions Endpoint URL set through PATCH /applications/@me, once verified. */
  let interactionsUrl: string | null = null;

  const record = (c: Omit<Call, "seq">) => calls.push({ seq: ++seq, ...c });
  const send = (res: ServerResponse, status: number, body?: unknown) => {
    if (body === undefined) {
      res.writeHead(status).end();
      return;
    }
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  };
  const messageJson = (m: StoredMessage, author = botUser) => ({
    id: m.id, channel_id: m.channel_id, type: 0, content: m.content, author, timestamp: new Date().toISOString(),
    edited_timestamp: m.edits ? new Date().toISOString() : null, tts: false, mention_everyone: false, mentions: [], mention_roles: [],
    attachments: [], embeds: [], components: [], pinned: false, flags: 0,
  });

  const rest = async (req: IncomingMessage, res: ServerResponse, path: string, raw: Buffer) => {
    const method = req.method ?? "GET";
    let body: any = undefined;
    if (raw.length) {
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch {
        body = raw.toString("utf8");
      }
    }
    const botAuth = req.headers.authorization === `Bot ${token}`;
    let m: RegExpExecArray | null;
    const done = (status: number, out?: unknown, shown = path) => {
      record({ kind: "rest", method, path: shown, botAuth, body, status });
      send(res, status, out);
    };
    if (method === "GET" && path === "/gateway/bot") {
      return done(200, { url: base.replace("http:", "ws:") + "/gateway", shards: 1, session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 1 } });
    }
    if ((m = /^\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(path))) {
      return done(204, undefined, `/interactions/${m[1]}/:token/callback`);
    }
    if ((m = /^\/webhooks\/(\d+)\/([^/]+)\/messages\/(%40original|@original)$/.exec(path))) {
      const msg: StoredMessage = { id: snowflake(), channel_id: channelId, content: body?.content ?? "", edits: 1, mentions: [] };
      if (method === "PATCH") edits.set(m[2]!, String(body?.content ?? ""));
      return done(200, messageJson(msg), `/webhooks/${m[1]}/:token/messages/@original`);
    }
    if ((m = /^\/webhooks\/(\d+)\/([^/]+)$/.exec(path)) && method === "POST") {
      const msg: StoredMessage = { id: snowflake(), channel_id: channelId, content: body?.content ?? "", edits: 0, mentions: [] };
      return done(200, messageJson(msg), `/webhooks/${m[1]}/:token`);
    }
    if (path === "/users/@me/channels" && method === "POST") {
      if (!botAuth) return done(401, { message: "401: Unauthorized", code: 0 });
      const user = String(body?.recipient_id ?? "");
      let dm = dms.get(user);
      if (!dm) dms.set(user, (dm = snowflake()));
      return done(200, { id: dm, type: 1, last_message_id: null, flags: 0, recipients: [{ id: user, username: `user${user.slice(-4)}`, discriminator: "0", global_name: null, avatar: null }] });
    }
    if ((m = /^\/channels\/(\d+)\/messages$/.exec(path)) && method === "POST") {
      if (!botAuth) return done(401, { message: "401: Unauthorized", code: 0 });
      if (denied.has(m[1]!)) return done(403, { message: "Missing Access", code: 50001 });
      const msg: StoredMessage = { id: snowflake(), channel_id: m[1]!, content: String(body?.content ?? ""), edits: 0, mentions: body?.allowed_mentions?.users ?? [] };
      messages.set(msg.id, msg);
      return done(200, messageJson(msg));
    }
    if ((m = /^\/channels\/(\d+)\/messages\/(\d+)$/.exec(path)) && method === "PATCH") {
      if (!botAuth) return done(401, { message: "401: Unauthorized", code: 0 });
      const msg = messages.get(m[2]!);
      if (!msg || msg.channel_id !== m[1]) return done(404, { message: "Unknown Message", code: 10008 });
      msg.content = String(body?.content ?? msg.content);
      msg.edits++;
      return done(200, messageJson(msg));
    }
    if (path === "/applications/@me" && method === "PATCH") {
      if (!botAuth) return done(401, { message: "401: Unauthorized", code: 0 });
      const url = body?.interactions_endpoint_url;
      if (typeof url === "string") {
        // As Discord does: a signed PING must get a PONG, and a wrongly signed one a 401.
        const ping = JSON.stringify({ id: snowflake(), application_id: appId, type: 1, token: `itok-${randomBytes(8).toString("hex")}`, version: 1 });
        const post = async (key: typeof keys.privateKey) => {
          const ts = String(Math.floor(Date.now() / 1000));
          const sig = sign(null, Buffer.from(ts + ping), key).toString("hex");
          const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json", "x-signature-ed25519": sig, "x-signature-timestamp": ts }, body: ping }).catch(() => null);
          return r ? { status: r.status, body: await r.json().catch(() => null) } : null;
        };
        const good = await post(keys.privateKey);
        const bad = await post(generateKeyPairSync("ed25519").privateKey);
        if (good?.status !== 200 || good.body?.type !== 1 || bad?.status !== 401) {
          return done(400, { message: "Invalid Form Body", code: 50035, errors: { interactions_endpoint_url: { _errors: [{ code: "APPLICATION_INTERACTIONS_ENDPOINT_URL_INVALID", message: "The specified interactions endpoint url could not be verified." }] } } });
        }
        interactionsUrl = url;
      }
      return done(200, { id: appId, name: "t2s-test", interactions_endpoint_url: interactionsUrl, bot_public: false, flags: 0 });
    }
    if ((m = /^\/applications\/(\d+)(\/guilds\/\d+)?\/commands$/.exec(path)) && method === "PUT") {
      return done(200, (Array.isArray(body) ? body : []).map((c: object) => ({ id: snowflake(), application_id: appId, version: "1", ...c })));
    }
    return done(404, { message: "404: Not Found", code: 0 });
  };

  const forward = async (req: IncomingMessage, res: ServerResponse, target: string, path: string, raw: Buffer) => {
    const headers: Record<string, string> = {};
    for (const h of ["authorization", "content-type", "accept"]) if (typeof req.headers[h] === "string") headers[h] = req.headers[h] as string;
    let body: any = undefined;
    try {
      body = raw.length ? JSON.parse(raw.toString("utf8")) : undefined;
    } catch {
      body = raw.toString("utf8");
    }
    const seqBefore = ++seq; // ordered by when the request arrived
    const out = await fetch(target + path, { method: req.method, headers, body: raw.length ? new Uint8Array(raw) : undefined, redirect: "manual" }).catch(() => null);
    calls.push({ seq: seqBefore, kind: "ingest", method: req.method ?? "GET", path, botAuth: false, body, status: out?.status ?? 502 });
    calls.sort((a, b) => a.seq - b.seq);
    if (!out) return send(res, 502, { error: { code: "fetch_failed", message: "proxy could not reach ingest" } });
    const text = Buffer.from(await out.arrayBuffer());
    res.writeHead(out.status, { "content-type": out.headers.get("content-type") ?? "application/json" }).end(text);
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const raw = await readBody(req);
      const api = /^\/api\/v\d+(\/.*)$/.exec(url.pathname);
      if (api) return rest(req, res, api[1]!, raw);
      const att = /^\/attachments\/(\d+)\//.exec(url.pathname);
      if (att) {
        const buf = attachments.get(att[1]!);
        record({ kind: "cdn", method: req.method ?? "GET", path: url.pathname, botAuth: false, body: undefined, status: buf ? 200 : 404 });
        if (!buf) return send(res, 404, { message: "not found" });
        res.writeHead(200, { "content-type": "application/x-bittorrent", "content-length": String(buf.length) }).end(buf);
        return;
      }
      const px = /^\/proxy\/([0-9a-f]+)(\/.*)$/.exec(url.pathname);
      if (px && proxies.has(px[1]!)) return forward(req, res, proxies.get(px[1]!)!, px[2]! + url.search, raw);
      send(res, 404, { message: "not found" });
    })().catch(() => {
      if (!res.headersSent) send(res, 500, { message: "stand-in error" });
    });
  });
  const wss = new WebSocketServer({ server, path: "/gateway" });
  wss.on("connection", (ws) => {
    let beat: NodeJS.Timeout | null = null;
    const dispatch = (t: string, d: unknown) => ws.send(JSON.stringify({ op: 0, t, s: ++s, d }));
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 41_250 } }));
    ws.on("message", (data) => {
      let p: { op: number; d: any };
      try {
        p = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (p.op === 1) ws.send(JSON.stringify({ op: 11 }));
      if (p.op === 2) {
        if (p.d?.token !== token && p.d?.token !== `Bot ${token}`) {
          ws.close(4004, "Authentication failed.");
          return;
        }
        s = 0;
        socket = ws;
        dispatch("READY", {
          v: 10, user: botUser, guilds: [{ id: guildId, unavailable: true }], session_id: randomBytes(8).toString("hex"),
          resume_gateway_url: base.replace("http:", "ws:") + "/gateway", shard: [0, 1], application: { id: appId, flags: 0 },
        });
        const role = (id: string, name: string, position: number) => ({
          id, name, color: 0, hoist: false, icon: null, unicode_emoji: null, position, permissions: "0", managed: false, mentionable: false, flags: 0,
        });
        dispatch("GUILD_CREATE", {
          id: guildId, name: "stand-in", icon: null, splash: null, discovery_splash: null, owner_id: snowflake(), afk_channel_id: null, afk_timeout: 300,
          verification_level: 0, default_message_notifications: 0, explicit_content_filter: 0, mfa_level: 0, system_channel_id: null,
          system_channel_flags: 0, rules_channel_id: null, vanity_url_code: null, description: null, banner: null, premium_tier: 0,
          preferred_locale: "en-US", public_updates_channel_id: null, nsfw_level: 0, premium_progress_bar_enabled: false,
          features: [], emojis: [], stickers: [], roles: [role(guildId, "@everyone", 0), role(roleId, "torrenters", 1)],
          channels: [{ id: channelId, type: 0, name: "torrents", guild_id: guildId, position: 0, permission_overwrites: [], parent_id: null, nsfw: false, topic: null, last_message_id: null, rate_limit_per_user: 0 }],
          threads: [], members: [], presences: [], voice_states: [], stage_instances: [], guild_scheduled_events: [], soundboard_sounds: [],
          member_count: 2, large: false, unavailable: false, joined_at: new Date().toISOString(),
        });
        sessions++;
      }
    });
    ws.on("close", () => {
      if (beat) clearInterval(beat);
      if (socket === ws) socket = null;
    });
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const waitFor = async <T>(probe: () => T | undefined | null | false, timeoutMs = 30_000, what = "condition"): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = probe();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`stand-in: timed out waiting for ${what}`);
      await sleep(50);
    }
  };

  const user = (id: string) => ({ id, username: `user${id.slice(-4)}`, discriminator: "0", global_name: null, avatar: null });


  /** The interaction JSON Discord would deliver (gateway dispatch data, or HTTP body). */
  const payload = (o: InteractOptions) => {
    const id = snowflake();
    const itoken = `itok-${randomBytes(16).toString("hex")}`;
    const leaf: any[] = Object.entries(o.options ?? {}).map(([name, value]) => ({ type: 3, name, value, ...(o.focused === name ? { focused: true } : {}) }));
    let resolved: any = undefined;
    if (o.attachment) {
      const a = o.attachment;
      leaf.push({ type: 11, name: a.option, value: a.id });
      resolved = { attachments: { [a.id]: { id: a.id, filename: a.filename, size: a.size, url: a.url, proxy_url: a.url, content_type: "application/x-bittorrent" } } };
    }
    const options = o.sub ? [{ type: 1, name: o.sub, options: leaf }] : leaf;
    const member = { user: user(o.user), roles: o.roles ?? [], permissions: "0", joined_at: new Date().toISOString(), deaf: false, mute: false, flags: 0, nick: null, avatar: null, premium_since: null, pending: false };
    const d = {
      id, application_id: appId, type: o.focused ? 4 : 2, token: itoken, version: 1,
      data: { id: snowflake(), name: o.command, type: 1, options, ...(resolved ? { resolved } : {}), guild_id: guildId },
      guild_id: guildId, channel_id: channelId,
      channel: { id: channelId, type: 0, guild_id: guildId, name: "torrents", position: 0, permission_overwrites: [], parent_id: null, nsfw: false },
      member, app_permissions: "0", locale: "en-US", guild_locale: "en-US",
      entitlements: [], authorizing_integration_owners: { "0": guildId }, context: 0,
    };
    return { id, itoken, d };
  };

  const answerOf = (id: string, itoken: string): Interacted["answer"] =>
    async (timeoutMs = 30_000) => {
      const cb = await waitFor(() => calls.find((c) => c.path === `/interactions/${id}/:token/callback`), timeoutMs, `callback of interaction ${id}`);
      const type = cb.body?.type as number;
      if (type === 4 || type === 8) {
        return { type, content: cb.body?.data?.content ?? "", ephemeral: ((cb.body?.data?.flags ?? 0) & 64) !== 0, choices: cb.body?.data?.choices };
      }
      // Deferred (5): the answer is the next edit of @original through this interaction's token.
      const edit = await waitFor(() => edits.get(itoken), timeoutMs, `answer of interaction ${id}`);
      return { type, content: edit, ephemeral: ((cb.body?.data?.flags ?? 0) & 64) !== 0 };
    };

  const standin: DiscordStandIn = {
    api: `${base}/api`, publicKey, base, token, appId, guildId, channelId, roleId, calls, messages, dms, denied,
    get sessions() { return sessions; },
    get interactionsUrl() { return interactionsUrl; },
    waitForSession: async (n, timeoutMs = 30_000) => {
      await waitFor(() => sessions >= n && socket !== null, timeoutMs, `gateway session ${n}`);
    },
    putAttachment: (filename, body, size) => {
      const id = snowflake();
      attachments.set(id, body);
      return { id, filename, size: size ?? body.length, url: `${base}/attachments/${id}/${encodeURIComponent(filename)}?ex=1&is=1&hm=standin` };
    },
    interact: (o) => {
      if (!socket) throw new Error("stand-in: no bot is connected");
      const p = payload(o);
      socket.send(JSON.stringify({ op: 0, t: "INTERACTION_CREATE", s: ++s, d: p.d }));
      return { id: p.id, token: p.itoken, answer: answerOf(p.id, p.itoken) };
    },
    interactHttp: (endpoint, o) => {
      const p = payload(o);
      const body = JSON.stringify(p.d);
      const timestamp = String(Math.floor(Date.now() / 1000));
      const signature = sign(null, Buffer.from(timestamp + body), o.badSignature ? generateKeyPairSync("ed25519").privateKey : keys.privateKey).toString("hex");
      const response = (async () => {
        const res = await fetch(endpoint, { method: "POST", headers: { "content-type": "application/json", "x-signature-ed25519": signature, "x-signature-timestamp": timestamp, "user-agent": "Discord-Interactions/1.0 (+https://discord.com)" }, body });
        const text = await res.text();
        let out: any;
        try {
          out = JSON.parse(text);
        } catch {
          out = text;
        }
        // The HTTP answer is the interaction's callback: record it as one, so answer() reads it alike.
        if (res.ok) record({ kind: "rest", method: "POST", path: `/interactions/${p.id}/:token/callback`, botAuth: false, body: out, status: 204 });
        return { status: res.status, body: out };
      })();
      return { id: p.id, token: p.itoken, response, answer: answerOf(p.id, p.itoken) };
    },
    proxy: (target) => {
      const key = randomBytes(4).toString("hex");
      proxies.set(key, target.replace(/\/+$/, ""));
      return `${base}/proxy/${key}`;
    },
    waitFor,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };

  return standin;
}
