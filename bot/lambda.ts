// The bot on AWS Lambda (HTTP interactions; no gateway, nothing always on). One bundle, three
// entry points, three functions (stacks/discord-lambda.ts):
// - interactionsHandler: the function URL Discord POSTs to. It verifies, answers within Discord's
//   3 s, and hands deferred work to the interactions topic. It reads no secret, except the API token
//   for an autocomplete, and that only when one comes.
// - workHandler: the topic's subscriber. It verifies the signed request again, runs the core and
//   edits the reply; status messages go out with the bot token.
// - updatesHandler: the updates-bot queue (SQS event source mapping): edits status messages over REST.
// Every secret comes from SSM by name (T2S_*_PARAM) at first use; T2S_API_TOKEN / DISCORD_TOKEN in
// the environment stand in for them where no SSM exists (local runs of the bundle, tests).
//
// What a deferral needs (verify, the core, the SNS publish) loads with the module; the rest (the SSM
// client, @discordjs/rest and the status board) is imported at first use, so the bundle's split chunks
// keep them out of the cold start of the function Discord waits on.
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import type { REST } from "@discordjs/rest";
import { list, num, optional, str, type Env } from "../lib/config.ts";
import { createLogger, levelFromEnv, type Logger } from "../lib/log.ts";
import {
  batchFailures, isUrlEvent, urlEventBody, urlEventHeaders, type SnsEvent, type SqsBatchResult, type SqsEvent, type UrlEvent, type UrlResult,
} from "../lib/aws/lambda-events.ts";
import { botApp } from "./app.ts";
import { discordVerifier, interactionsEndpoint, maxInteractionBytes, restFollowups, type Followups, type InteractionsEndpoint, type SignedRequest } from "./http-interaction.ts";
import { ingestClient as newIngestClient, type IngestClient } from "./ingest-client.ts";
import type { StatusBoard } from "./updates.ts";

/** The message the interactions function publishes for the worker. */
export interface WorkMessage {
  v: 1;
  type: "interaction";
  request: SignedRequest;
}

export interface BotLambdaConfig {
  publicKey: string;
  access: { users: string[]; roles: string[] };
  apiUrl: string;
  publicUrl: string;
  discordApiUrl: string;
  interactionsTopicArn: string | undefined;
  editIntervalMs: number;
  region: string;
  awsEndpoint: string | undefined;
}

export function botLambdaConfig(env: Env): BotLambdaConfig {
  const apiUrl = str(env, "T2S_API_URL").replace(/\/+$/, "");
  return {
    publicKey: str(env, "DISCORD_PUBLIC_KEY"),
    access: { users: list(env, "DISCORD_ALLOWED_USERS"), roles: list(env, "DISCORD_ALLOWED_ROLES") },
    apiUrl,
    publicUrl: str(env, "T2S_PUBLIC_URL", apiUrl).replace(/\/+$/, ""),
    discordApiUrl: str(env, "DISCORD_API_URL", "https://discord.com/api").replace(/\/+$/, ""),
    interactionsTopicArn: optional(env, "T2S_INTERACTIONS_TOPIC_ARN"),
    editIntervalMs: num(env, "T2S_BOT_EDIT_INTERVAL_MS", 10_000),
    region: str(env, "AWS_REGION", "us-east-1"),
    awsEndpoint: optional(env, "AWS_ENDPOINT_URL"),
  };
}

/** Reads the secrets once per instance, only when first needed. */
function secretReader(env: Env, cfg: BotLambdaConfig): (which: "apiToken" | "discordToken") => Promise<string> {
  const names = { apiToken: env.T2S_API_TOKEN_PARAM, discordToken: env.T2S_DISCORD_TOKEN_PARAM };
  const direct = { apiToken: env.T2S_API_TOKEN, discordToken: env.DISCORD_TOKEN };
  const cache = new Map<string, Promise<string>>();
  let ssm: Promise<(names: string[]) => Promise<Record<string, string>>> | undefined;
  return (which) => {
    let p = cache.get(which);
    if (!p) {
      const name = names[which];
      const value = direct[which];
      if (!name) {
        p = value ? Promise.resolve(value) : Promise.reject(new Error(`neither ${which === "apiToken" ? "T2S_API_TOKEN_PARAM" : "T2S_DISCORD_TOKEN_PARAM"} nor its value is set`));
      } else {
        ssm ??= import("../lib/aws/ssm.ts").then(({ ssmClient, getParameters }) => {
          const client = ssmClient({ region: cfg.region, endpoint: cfg.awsEndpoint });
          return (names: string[]) => getParameters(client, names);
        });
        p = ssm.then((read) => read([name])).then((v) => v[name]!);
      }
      // A failure is not kept: the next use tries again.
      p.catch(() => cache.delete(which));
      cache.set(which, p);
    }
    return p;
  };
}

export interface BotLambda {
  interactions(event: UrlEvent): Promise<UrlResult>;
  work(event: SnsEvent): Promise<void>;
  updates(event: SqsEvent): Promise<SqsBatchResult>;
}

/** Hands deferred work to the interactions topic (the worker function subscribes to it). */
function snsHandOff(cfg: BotLambdaConfig): (m: WorkMessage) => Promise<void> {
  let sns: SNSClient | undefined;
  return async (m) => {
    if (!cfg.interactionsTopicArn) throw new Error("T2S_INTERACTIONS_TOPIC_ARN is not set");
    sns ??= new SNSClient({ region: cfg.region, ...(cfg.awsEndpoint ? { endpoint: cfg.awsEndpoint } : {}) });
    await sns.send(new PublishCommand({ TopicArn: cfg.interactionsTopicArn, Message: JSON.stringify(m) }));
  };
}

/** The ingest client and the status board, each made at first use (with its secret); a failure is not kept. */
function loadedOnUse(cfg: BotLambdaConfig, secret: ReturnType<typeof secretReader>, log: Logger) {
  let ingest: Promise<IngestClient> | undefined;
  const ingestClient = () => (ingest ??= secret("apiToken").then((apiToken) => newIngestClient({ apiUrl: cfg.apiUrl, apiToken, timeoutMs: 20_000 })).catch((err) => {
    ingest = undefined;
    throw err;
  }));
  let rest: Promise<REST> | undefined;
  const botRest = () => (rest ??= Promise.all([secret("discordToken"), import("@discordjs/rest")]).then(([t, { REST }]) => new REST({ api: cfg.discordApiUrl }).setToken(t)).catch((err) => {
    rest = undefined;
    throw err;
  }));
  let board: StatusBoard | undefined;
  const statusBoard = async () => {
    const [r, i, { StatusBoard }, { restChat }] = await Promise.all([botRest(), ingestClient(), import("./updates.ts"), import("./discord.ts")]);
    board ??= new StatusBoard({ chat: restChat(r), ingest: i, publicUrl: cfg.publicUrl, editIntervalMs: cfg.editIntervalMs, log, deferEdits: false });
    return board;
  };
  return { ingestClient, statusBoard };
}

/** Builds the app; `publish` replaces the SNS hand-off (tests). */
export function createBotLambda(env: Env, log: Logger, o: { publish?: (m: WorkMessage) => Promise<void> } = {}): BotLambda {
  const cfg = botLambdaConfig(env);
  const publish = o.publish ?? snsHandOff(cfg);
  const { ingestClient, statusBoard } = loadedOnUse(cfg, secretReader(env, cfg), log);
  // The core sees the ingest client and the board through these, so that nothing is read before use.
  const app = botApp({
    ingest: {
      submit: async (...a) => (await ingestClient()).submit(...a),
      list: async (...a) => (await ingestClient()).list(...a),
      get: async (...a) => (await ingestClient()).get(...a),
      cancel: async (...a) => (await ingestClient()).cancel(...a),
      deleteFiles: async (...a) => (await ingestClient()).deleteFiles(...a),
    },
    board: { show: async (j) => (await statusBoard()).show(j) },
    access: cfg.access,
    publicUrl: cfg.publicUrl,
    log,
  });
  // Follow-ups use the interaction token, not the bot token.
  let plain: Promise<Followups> | undefined;
  const followups: Followups = {
    editOriginal: async (...a) => (await (plain ??= import("@discordjs/rest").then(({ REST }) => restFollowups(new REST({ api: cfg.discordApiUrl }))))).editOriginal(...a),
  };
  const endpoint: InteractionsEndpoint = interactionsEndpoint({
    verify: discordVerifier(cfg.publicKey),
    handler: app.onInteraction,
    followups,
    handoff: (request) => publish({ v: 1, type: "interaction", request }),
    log,
  });

  return {
    async interactions(event) {
      const raw = urlEventBody(event);
      const r = await endpoint.http({ method: event.requestContext.http.method, headers: urlEventHeaders(event), body: raw.length > maxInteractionBytes ? raw.subarray(0, maxInteractionBytes + 1) : raw });
      return { statusCode: r.status, headers: { "content-type": "application/json" }, body: JSON.stringify(r.body), isBase64Encoded: false };
    },

    async work(event) {
      for (const rec of event.Records ?? []) {
        let m: Partial<WorkMessage> | null = null;
        try {
          m = JSON.parse(rec.Sns?.Message ?? "") as Partial<WorkMessage>;
        } catch {
          /* below */
        }
        const r = m?.request;
        if (m?.v !== 1 || m.type !== "interaction" || typeof r?.body !== "string" || typeof r.signature !== "string" || typeof r.timestamp !== "string") {
          log.warn("skipped a message that is not an interaction hand-off");
          continue;
        }
        await endpoint.work(r);
      }
    },

    async updates(event) {
      await statusBoard(); // a board that cannot start fails the whole batch
      const results = await Promise.allSettled(event.Records.map((rec) => app.onUpdate(rec)));
      return batchFailures(event, results, log, "update");
    },
  };
}

const log = createLogger("bot", { level: levelFromEnv(process.env.T2S_LOG_LEVEL) });
let app: BotLambda | null = null;
function started(): BotLambda {
  try {
    app ??= createBotLambda(process.env, log);
  } catch (err) {
    log.error("bot cannot start", { err });
    throw err;
  }
  return app;
}

/** The function URL (index.interactionsHandler). Anyone may invoke it: it takes HTTP events only. */
export async function interactionsHandler(event: UrlEvent): Promise<UrlResult> {
  if (!isUrlEvent(event)) throw new Error("bot: not a function URL event");
  return started().interactions(event);
}

/** The interactions topic's subscriber (index.workHandler). */
export async function workHandler(event: SnsEvent): Promise<void> {
  if (!Array.isArray(event?.Records)) throw new Error("bot: not an SNS event");
  await started().work(event);
}

/** The updates-bot queue (index.updatesHandler). */
export async function updatesHandler(event: SqsEvent): Promise<SqsBatchResult> {
  if (!Array.isArray(event?.Records)) throw new Error("bot: not an SQS event");
  return started().updates(event);
}
