// Local mode: the disk-backed S3 store, moto, the stack applied by terraform, Deluge, and the services,
// all on loopback, all state under one data folder. Used by `npm start` and by the tests.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { num } from "../../lib/config.ts";
import { retentionDays } from "../../lib/open-job-store.ts";
import { coreEnv, serviceEnvNames } from "../../lib/service-env.ts";
import { bundleService } from "../bundle-service.ts";
import { buildWeb } from "../build-web.ts";
import { startDeluge, type DelugeHandle } from "./deluge.ts";
import { startMoto, type Moto } from "./moto.ts";
import { freePort, waitFor } from "./net.ts";
import { repoRoot } from "./paths.ts";
import { startProc, type Proc } from "./proc.ts";
import { startS3Store, type S3Store } from "./s3-store.ts";
import { localSecrets, type LocalSecrets } from "./secrets.ts";
import { applyLocalStack, type StackOutputs } from "./terraform.ts";

export interface LocalOptions {
  dataDir: string;
  /** No DHT/LSD/UPnP/NAT-PMP, BitTorrent on loopback only. */
  offline: boolean;
  port?: number;
  apiToken?: string;
  /** Extra environment for each service (tests shorten timeouts, allow loopback fetches). */
  ingestEnv?: Record<string, string>;
  seedboxEnv?: Record<string, string>;
  /** Each JSON log line of a service. */
  onLog?: (line: string) => void;
  /** The endpoint the services use for each local endpoint, moto's and the store's (tests put cuttable proxies between them). */
  serviceEndpoint?: (endpoint: string) => Promise<string>;
  onStep?: (step: string) => void;
  /** Seedboxes to run, each with its own Deluge, on one queue (default: T2S_SEEDBOXES, or 1). */
  seedboxes?: number;
}

/** One local seedbox and its own Deluge; seedbox i is `seedbox-i`. */
export interface LocalSeedbox {
  id: string;
  deluge: DelugeHandle;
  proc: Proc;
  /** Starts it (again); `env` adds to its environment for this run only. */
  start(env?: Record<string, string>): Promise<Proc>;
}

export interface LocalStack {
  url: string;
  apiToken: string;
  moto: Moto;
  /** The disk-backed S3 store the bucket lives in. */
  store: S3Store;
  /** The keys of the local endpoints: the store and moto's front take requests signed with these only. */
  keys: LocalSecrets["s3"];
  outputs: StackOutputs;
  deluge: DelugeHandle;
  dataDir: string;
  logDir: string;
  /** The job store's SQLite file. */
  jobsDb: string;
  ingest: Proc;
  /** Seedbox 1 (also seedboxes[0]). */
  seedbox: Proc;
  seedboxes: LocalSeedbox[];
  /** The Discord bot, once startBot() has run. */
  bot?: Proc;
  startIngest(): Promise<Proc>;
  /** Starts ingest with extra environment for this run only. */
  startIngestWith(env: Record<string, string>): Promise<Proc>;
  /** Starts the seedbox; `env` adds to (or overrides) its environment for this run only. */
  startSeedbox(env?: Record<string, string>): Promise<Proc>;
  /** Starts the Discord bot against this stack; `env` carries DISCORD_* and any overrides. */
  startBot(env?: Record<string, string>): Promise<Proc>;
  stop(): Promise<void>;
  /** kill -9 of every process it started, all at once (a power cut, as far as processes go). */
  kill(): Promise<void>;
}

/** A home server's services are small: V8's young generation may otherwise grow to tens of MB each. */
export const serviceNodeFlags = ["--max-semi-space-size=4"];
/**
 * Parts in flight per upload in local mode: into the store on the same machine two upload 1 GiB as fast
 * as four (26.9 s against 28.7 s) and hold half the buffers, in the seedbox and in the store.
 */
export const localUploadQueueSize = "2";

/** What runs first and stops last, in reverse order of start. */
type Started = { stop(): Promise<void> }[];

/** The local S3 store and moto, each stopped with the rest once up. */
async function startEndpoints(o: LocalOptions, logDir: string, keys: LocalSecrets["s3"], started: Started): Promise<{ store: S3Store; moto: Moto }> {
  const [storeUp, motoUp] = await Promise.allSettled([startS3Store({ dir: join(o.dataDir, "s3"), logDir, keys }), startMoto({ logDir, guard: { keys, dir: join(o.dataDir, "moto") } })]);
  // The store flushes its volumes on SIGTERM; give it longer than the rest.
  if (storeUp.status === "fulfilled") started.push({ stop: () => storeUp.value.proc.stop(15_000) });
  if (motoUp.status === "fulfilled") started.push({ stop: () => motoUp.value.proc.stop() });
  if (storeUp.status === "rejected") throw storeUp.reason;
  if (motoUp.status === "rejected") throw motoUp.reason;
  return { store: storeUp.value, moto: motoUp.value };
}

/** Deluge 1, then 2..N: each its own folders and loopback address (seedbox 1 keeps the data folder's). */
function startDeluges(o: LocalOptions, logDir: string): Promise<DelugeHandle>[] {
  const count = Math.max(1, Math.floor(o.seedboxes ?? num(process.env, "T2S_SEEDBOXES", 1)));
  const first = startDeluge({ dir: join(o.dataDir, "deluge"), logDir, name: "deluge", downloadDir: join(o.dataDir, "downloading"), offline: o.offline });
  const more = Array.from({ length: count - 1 }, (_, k) => startDeluge({
    dir: join(o.dataDir, `seedbox-${k + 2}`, "deluge"),
    logDir,
    name: `deluge-${k + 2}`,
    downloadDir: join(o.dataDir, `seedbox-${k + 2}`, "downloading"),
    offline: o.offline,
    peerAddress: `127.0.0.${k + 3}`,
  }));
  return [first, ...more];
}

/** What every service gets: the local endpoints, their keys and the core's addresses (lib/service-env.ts). */
function commonEnv(o: LocalOptions, outputs: StackOutputs, endpoints: [aws: string, s3: string], keys: LocalSecrets["s3"]): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ENDPOINT_URL: endpoints[0],
    AWS_ENDPOINT_URL_S3: endpoints[1],
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: keys.accessKeyId,
    AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
    AWS_SESSION_TOKEN: "",
    ...coreEnv({
      bucket: outputs.bucket,
      requestsTopicArn: outputs.requests_topic_arn,
      requestsQueueUrl: outputs.requests_queue_url,
      factsTopicArn: outputs.facts_topic_arn,
      factsQueueUrl: outputs.facts_queue_url,
      updatesTopicArn: outputs.updates_topic_arn,
    }),
    [serviceEnvNames.webhooksQueueUrl]: outputs.webhooks_queue_url,
    T2S_DATA_DIR: o.dataDir,
  };
}

/** Starts a service and waits until `ready`; a service that does not get there is stopped. */
async function startService(name: string, proc: Proc, ready: () => Promise<boolean>): Promise<Proc> {
  await waitFor(name, ready, 30_000, proc.exited).catch(async (err) => {
    await proc.stop();
    throw err;
  });
  return proc;
}

/** A service's readiness from its log: the line it writes once running. */
function watchFor(proc: Proc, line: string): () => Promise<boolean> {
  let seen = false;
  proc.child.stdout?.on("data", (b: Buffer) => { if (b.includes(line)) seen = true; });
  return async () => seen;
}

interface Parts {
  o: LocalOptions;
  stack: LocalStack;
  /** Runs a service's main with the common environment and `env`, logging to logs/<as>.log. */
  service(main: string, env: NodeJS.ProcessEnv, as: string): Proc;
}

function localSeedbox(p: Parts, d: DelugeHandle, n: number, main: string): LocalSeedbox {
  const { o, stack } = p;
  const box: LocalSeedbox = {
    id: `seedbox-${n}`, deluge: d, proc: undefined as unknown as Proc,
    start: async (env = {}) => {
      const own = n === 1 ? {} : { T2S_DOWNLOAD_DIR: join(o.dataDir, `seedbox-${n}`, "downloading") };
      const seedbox = p.service(main, {
        T2S_DELUGE_URL: d.webUrl, T2S_DELUGE_PASSWORD: d.password, T2S_DELUGE_DAEMON_PORT: String(d.daemonPort),
        // Leases live in the job store, shared with ingest; the id is stable across restarts.
        [serviceEnvNames.jobsDb]: stack.jobsDb, T2S_SEEDBOX_ID: box.id,
        T2S_UPLOAD_QUEUE_SIZE: process.env.T2S_UPLOAD_QUEUE_SIZE ?? localUploadQueueSize,
        ...own, ...o.seedboxEnv, ...env,
      }, n === 1 ? "seedbox" : box.id);
      const running = watchFor(seedbox, '"seedbox running"');
      box.proc = seedbox;
      if (n === 1) stack.seedbox = seedbox;
      return startService(box.id, seedbox, running);
    },
  };
  return box;
}

/** The stack's handle: its parts, and how to start, stop and kill its services. */
function localStack(p: Omit<Parts, "stack">, s: Omit<LocalStack, "ingest" | "seedbox" | "seedboxes" | "startIngest" | "startIngestWith" | "startSeedbox" | "startBot" | "stop" | "kill">, more: {
  port: number; signingSecret: string; webDir: string; ingestMain: string; seedboxMain: string; deluges: DelugeHandle[]; stopAll: () => Promise<void>;
}): LocalStack {
  const stack: LocalStack = {
    ...s,
    ingest: undefined as unknown as Proc,
    seedbox: undefined as unknown as Proc,
    seedboxes: [],
    startIngest: () => stack.startIngestWith({}),
    startIngestWith: async (env) => {
      stack.ingest = p.service(more.ingestMain, {
        // Job records live in one SQLite file in the data folder: durable, and fast at any number of jobs.
        [serviceEnvNames.jobsDb]: stack.jobsDb,
        T2S_PORT: String(more.port), T2S_API_TOKEN: s.apiToken, T2S_SIGNING_SECRET: more.signingSecret, T2S_WEB_DIR: more.webDir, ...p.o.ingestEnv, ...env,
      }, "ingest");
      return startService("ingest", stack.ingest, async () => (await fetch(`${s.url}/healthz`)).ok);
    },
    startSeedbox: (env = {}) => stack.seedboxes[0]!.start(env),
    startBot: async (env = {}) => {
      const bot = p.service(join(repoRoot, "bot", "main.ts"), {
        T2S_API_URL: s.url, T2S_API_TOKEN: s.apiToken, T2S_UPDATES_BOT_QUEUE_URL: s.outputs.updates_bot_queue_url, ...env,
      }, "bot");
      const running = watchFor(bot, '"bot running"');
      stack.bot = bot;
      return startService("bot", bot, running);
    },
    stop: async () => {
      await Promise.all([stack.ingest?.stop(), ...stack.seedboxes.map((b) => b.proc?.stop()), stack.bot?.stop()]);
      await more.stopAll();
    },
    kill: async () => {
      const procs = [stack.ingest, stack.bot, s.store.proc, s.moto.proc, ...stack.seedboxes.flatMap((b) => [b.proc, b.deluge.daemon, b.deluge.web])];
      for (const x of procs) x?.kill("SIGKILL");
      await stack.stop();
    },
  };
  stack.seedboxes = more.deluges.map((d, i) => localSeedbox({ ...p, stack }, d, i + 1, more.seedboxMain));
  return stack;
}

export async function startLocalStack(o: LocalOptions): Promise<LocalStack> {
  const step = o.onStep ?? (() => {});
  const logDir = join(o.dataDir, "logs");
  await mkdir(logDir, { recursive: true, mode: 0o700 });
  const secrets = await localSecrets(o.dataDir);
  const apiToken = o.apiToken ?? secrets.apiToken;
  const port = o.port ?? (await freePort());
  // A LAN address in T2S_HOST is where the page and its links live; 0.0.0.0 also listens on loopback.
  const host = process.env.T2S_HOST;
  const url = `http://${host && host !== "0.0.0.0" && host !== "::" ? (host.includes(":") ? `[${host}]` : host) : "127.0.0.1"}:${port}`;
  const started: Started = [];
  const stopAll = async () => {
    for (const s of started.reverse()) await s.stop().catch(() => {});
    started.length = 0;
  };

  try {
    step("building the page and the services");
    // Ingest and the seedboxes run from bundles (see bundleService); the bot, started only with Discord, from source.
    const bundled = (name: string) => bundleService(join(repoRoot, name, "main.ts"), join(repoRoot, ".cache", "services", `${name}.mjs`));
    const [webDir, ingestMain, seedboxMain] = await Promise.all([buildWeb(repoRoot, join(o.dataDir, "web")), bundled("ingest"), bundled("seedbox")]);
    step("starting the local S3 store and moto (local AWS endpoints)");
    const keys = secrets.s3;
    const { store, moto } = await startEndpoints(o, logDir, keys, started);
    step("starting deluged and deluge-web");
    const deluging = startDeluges(o, logDir);
    step("applying stacks/ with terraform");
    // Each Deluge is stopped with the rest once up; all settle first, so a failure leaves none starting.
    const up = (p: Promise<DelugeHandle>) => p.then((d) => (started.push(d), d));
    const [applied, delugesUp] = [applyLocalStack({ dataDir: o.dataDir, endpoint: moto.endpoint, s3Endpoint: store.endpoint, keys, retentionDays: retentionDays(process.env), log: step }), deluging.map(up)];
    await Promise.allSettled([applied, ...delugesUp]);
    const [outputs, ...deluges] = await Promise.all([applied, ...delugesUp]);

    const endpoints: [string, string] = o.serviceEndpoint
      ? [await o.serviceEndpoint(moto.endpoint), await o.serviceEndpoint(store.endpoint)]
      : [moto.endpoint, store.endpoint];
    const common = commonEnv(o, outputs, endpoints, keys);
    const service = (main: string, env: NodeJS.ProcessEnv, as: string) =>
      startProc(as, process.execPath, [...serviceNodeFlags, main], { env: { ...common, ...env }, logFile: join(logDir, `${as}.log`), onLine: o.onLog });
    const stack = localStack({ o, service }, {
      url, apiToken, moto, store, keys, outputs, deluge: deluges[0]!, dataDir: o.dataDir, logDir, jobsDb: join(o.dataDir, "jobs.db"),
    }, { port, signingSecret: secrets.signingSecret, webDir, ingestMain, seedboxMain, deluges, stopAll });
    step("starting ingest and seedbox");
    await Promise.all([stack.startIngest(), ...stack.seedboxes.map((b) => b.start())]);
    return stack;
  } catch (err) {
    await stopAll();
    throw err;
  }
}
