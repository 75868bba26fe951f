// The whole local stack for integration tests, started once per test process through the project's
// own scripts, plus what only tests need: a seeding Deluge, explicit peers, and a loopback file server.
//
// Peers are introduced explicitly (x.pe in magnets, connect_peer for .torrent files) rather than by a
// tracker. The seeder has a loopback address of its own (seederAddress), as a stranger's client would:
// libtorrent keeps one peer per IP, and with both Deluges on 127.0.0.1 a finished torrent given more files
// (a job run again) sometimes got no connection to the seeder again.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createLogger } from "../../lib/log.ts";
import type { Job } from "../../lib/job.ts";
import { sleep } from "../../lib/time.ts";
import { startDeluge, type DelugeHandle } from "../../scripts/local/deluge.ts";
import { startLocalStack, type LocalOptions, type LocalStack } from "../../scripts/local/stack.ts";
import { Deluge } from "../../seedbox/deluge.ts";
import { startFileServer, type FileServer } from "./files.ts";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.ts";
import { makeTorrent, type MadeTorrent, type MakeOptions } from "./torrents.ts";

export interface TestStack extends LocalStack {
  tmp: string;
  seeder: DelugeHandle;
  seederClient: Deluge;
  /** The seedbox's own Deluge, to look at what it holds. */
  boxClient: Deluge;
  /** Each seedbox's Deluge (boxClients[0] is boxClient). */
  boxClients: Deluge[];
  files: FileServer;
  /** Between the services and the local endpoints (moto, the S3 store): cut() makes both unreachable for them. */
  awsProxy: Pick<TcpProxy, "cut" | "restore" | "close">;
  /** Between the services and the S3 store alone: hold() keeps their requests to it waiting (moto still answers). */
  storeProxy: Pick<TcpProxy, "hold" | "release">;
  /** Every JSON log line the services wrote. */
  logs: Record<string, unknown>[];
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  /** Makes a torrent and has the seeder seed it. */
  seed(o: Omit<MakeOptions, "dir">): Promise<MadeTorrent>;
  /** A magnet for a seeded torrent, naming the seeder as its peer. */
  magnet(made: MadeTorrent): string;
  waitForJob(id: string, done: (j: Job) => boolean, timeoutMs?: number): Promise<Job>;
  /** Fetches every file of a completed job through its /d/ link and checks its sha256. */
  checkLinks(job: Job, made: MadeTorrent): Promise<void>;
  /**
   * Stops the stack (gracefully, or kill -9 of every process), runs `whileStopped`, and starts it again on
   * the same data folder and port; resolves once it is ready, with the seconds the start took.
   */
  restart(o: { hard: boolean; whileStopped?: () => Promise<void> }): Promise<number>;
}

/** The seeder's own loopback address (seedbox 1 has 127.0.0.1, seedboxes 2..N 127.0.0.3 and on). */
export const seederAddress = "127.0.0.2";

/** Connects the seeder to every torrent the seedbox downloads without peers (also after a Deluge restart). */
function introducePeers(box: Deluge, seederPort: number): AbortController {
  const stop = new AbortController();
  void (async () => {
    while (!stop.signal.aborted) {
      try {
        const all = await box.call<Record<string, { state: string; num_peers: number }>>("core.get_torrents_status", [{}, ["state", "num_peers"]], stop.signal);
        for (const [id, t] of Object.entries(all)) {
          if (t.state === "Downloading" && t.num_peers === 0) await box.connectPeer(id, seederAddress, seederPort, stop.signal);
        }
      } catch {
        /* Deluge restarting or stopping: try again */
      }
      await sleep(300).catch(() => {});
    }
  })();
  return stop;
}

/** Leases short enough for tests: a cancel reaches its holder within a second, a dead seedbox's jobs move on after 10 s. */
export const testLeaseEnv = { T2S_LEASE_TIMEOUT_S: "10", T2S_LEASE_RENEW_S: "1" };

/** Starts the stack with a seeder and a file server, in a temporary folder removed by stop(). */
export async function startTestStack(o: { seedboxes?: number; ingestEnv?: Record<string, string>; seedboxEnv?: Record<string, string> } = {}): Promise<TestStack> {
  const tmp = await mkdtemp(join(tmpdir(), "t2s-test-"));
  const log = createLogger("test", { level: "error" });
  const logs: Record<string, unknown>[] = [];
  const [files, seeder] = await Promise.all([
    startFileServer(),
    // The seeder stands for a stranger's client: libtorrent's defaults (uTP on), not the seedbox's tuning.
    startDeluge({ dir: join(tmp, "seeder"), logDir: tmp, name: "seeder", downloadDir: join(tmp, "payload"), offline: true, maxActive: -1, libtorrent: {}, peerAddress: seederAddress }),
  ]);
  let local: LocalStack;
  let proxies: TcpProxy[] = [];
  /** Each proxy by the endpoint it stands in front of. */
  let proxyOf = new Map<string, TcpProxy>();
  const awsProxy = {
    cut: async () => void (await Promise.all(proxies.map((p) => p.cut()))),
    restore: async () => void (await Promise.all(proxies.map((p) => p.restore()))),
    close: async () => void (await Promise.all(proxies.map((p) => p.close()))),
  };
  const options = (port?: number): LocalOptions => ({
    ...(port ? { port } : {}),
    serviceEndpoint: async (endpoint) => {
      const proxy = await startTcpProxy(Number(new URL(endpoint).port));
      proxies.push(proxy);
      proxyOf.set(endpoint, proxy);
      return proxy.url;
    },
    dataDir: join(tmp, "stack"),
    offline: true,
    seedboxes: o.seedboxes ?? 1,
    // Short long-polls keep each service restart in the tests quick (shutdown waits for the poll).
    // The suites submit faster than a person would; the rate limit has a test of its own.
    ingestEnv: { T2S_RATE_BURST: "10000", T2S_SQS_WAIT_S: "5", T2S_FETCH_ALLOW_HOSTS: files.host, T2S_FETCH_TIMEOUT_MS: "3000", T2S_LOG_LEVEL: "debug", T2S_WEBHOOK_RETRY_BASE_S: "1", ...testLeaseEnv, T2S_SWEEP_S: "1", ...o.ingestEnv },
    seedboxEnv: { T2S_SQS_WAIT_S: "5", T2S_MAGNET_TIMEOUT_S: "20", T2S_PROGRESS_INTERVAL_MS: "500", T2S_POLL_MS: "500", T2S_DISK_RESERVE_MB: "64", T2S_LOG_LEVEL: "debug", ...testLeaseEnv, ...o.seedboxEnv },
    onLog: (line) => {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        /* not a log line */
      }
    },
  });
  try {
    local = await startLocalStack(options());
  } catch (err) {
    await Promise.all([files.close(), seeder.stop(), awsProxy.close()]);
    throw err;
  }
  const seederClient = new Deluge({ url: seeder.webUrl, password: seeder.password, daemonPort: seeder.daemonPort, log });
  const clientsOf = (l: LocalStack) => l.seedboxes.map((b) => new Deluge({ url: b.deluge.webUrl, password: b.deluge.password, daemonPort: b.deluge.daemonPort, log }));
  let boxClients = clientsOf(local);
  let boxClient = boxClients[0]!;
  const payloadDir = join(tmp, "payload");
  let introducers = boxClients.map((c) => introducePeers(c, seeder.listenPort));

  const storeProxyOf = () => {
    const p = proxyOf.get(local.store.endpoint);
    if (!p) throw new Error("the services reach the S3 store through no proxy");
    return p;
  };

  const stack: TestStack = {
    ...local,
    tmp, seeder, seederClient, boxClient, boxClients, files, logs, awsProxy,
    storeProxy: {
      hold: () => storeProxyOf().hold(),
      release: () => storeProxyOf().release(),
    },
    // LocalStack's processes may be replaced by restarts: read them through it.
    get ingest() { return local.ingest; },
    get seedbox() { return local.seedbox; },
    get bot() { return local.bot; },
    call: async (method, path, body, headers = {}) => {
      const res = await fetch(local.url + path, {
        method,
        headers: { authorization: `Bearer ${local.apiToken}`, ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
        redirect: "manual",
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    magnet: (made) => `magnet:?xt=urn:btih:${made.infoHash}&dn=${encodeURIComponent(made.name)}&x.pe=${seederAddress}:${seeder.listenPort}`,
    seed: async (o) => {
      const made = await makeTorrent({ ...o, dir: payloadDir });
      await seederClient.addTorrentFile(`${made.infoHash}.torrent`, made.torrent, {
        download_location: payloadDir, move_completed: false, move_completed_path: payloadDir, add_paused: made.diskPaths !== undefined,
      });
      if (made.diskPaths) {
        // Put each file where the seeder's libtorrent expects it (it sanitises hostile names its own way),
        // then have it check them.
        let files: { path: string }[] = [];
        for (let i = 0; i < 100 && files.length === 0; i++) {
          files = (await seederClient.files(made.infoHash)) ?? [];
          if (files.length === 0) await sleep(100);
        }
        for (const [i, f] of files.entries()) {
          const to = join(payloadDir, f.path);
          await mkdir(dirname(to), { recursive: true });
          await copyFile(join(payloadDir, made.diskPaths[i]!), to);
        }
        // A recheck asked for while libtorrent is still on its first check can be lost: ask again until it seeds.
        for (let attempt = 0; attempt < 5; attempt++) {
          await seederClient.call("core.force_recheck", [[made.infoHash]]);
          await seederClient.call("core.resume_torrent", [[made.infoHash]]);
          for (let i = 0; i < 50; i++) {
            if ((await seederClient.status(made.infoHash))?.state === "Seeding") return made;
            await sleep(100);
          }
        }
      }
      // The seeder hashes the payload before it seeds: allow for that on big ones (the benchmarks' GiBs).
      const bytes = made.files.reduce((n, f) => n + f.size, 0);
      for (const deadline = Date.now() + 30_000 + bytes / 50_000; Date.now() < deadline;) {
        const s = await seederClient.status(made.infoHash);
        if (s?.state === "Seeding") return made;
        await sleep(100);
      }
      throw new Error(`seeder did not start seeding ${made.name}`);
    },
    waitForJob: async (id, done, timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      let last: Job | undefined;
      while (Date.now() < deadline) {
        const r = await stack.call("GET", `/api/jobs/${id}`);
        last = r.body?.job as Job | undefined;
        if (last && done(last)) return last;
        await sleep(200);
      }
      // What Deluge holds says where it got stuck.
      const inDeluge = await boxClient.status(id).catch((err: Error) => `unreadable: ${err.message}`);
      throw new Error(`job ${id} did not reach the expected state; last seen: ${JSON.stringify(last)}; in Deluge: ${JSON.stringify(inDeluge)}`);
    },
    checkLinks: async (job, made) => {
      if (job.files.length !== made.files.length) throw new Error(`job has ${job.files.length} files, torrent has ${made.files.length}`);
      for (const f of job.files) {
        if (!f.url) throw new Error(`file ${f.path} has no link`);
        // No credentials: the signed link alone must open it.
        const res = await fetch(f.url);
        if (!res.ok) throw new Error(`link of ${f.path} answered ${res.status}`);
        const digest = createHash("sha256").update(Buffer.from(await res.arrayBuffer())).digest("hex");
        if (digest !== made.sha256.get(f.path)) throw new Error(`file ${f.path} differs from what was seeded`);
      }
    },
    restart: async ({ hard, whileStopped }) => {
      for (const i of introducers) i.abort();
      await (hard ? local.kill() : local.stop());
      await awsProxy.close();
      proxies = [];
      await whileStopped?.();
      const t0 = performance.now();
      local = await startLocalStack(options(Number(new URL(local.url).port)));
      const seconds = (performance.now() - t0) / 1000;
      if (hard) {
        // The seeder still holds the killed box's connections, and libtorrent takes one per IP: they would
        // block the new box for the 2 min peer timeout. Pausing drops them (a real swarm has other IPs).
        await seederClient.call("core.pause_torrents", []);
        await seederClient.call("core.resume_torrents", []);
      }
      // Everything but the processes (read through getters) and this stack's own stop.
      const { ingest: _i, seedbox: _s, bot: _b, stop: _stop, ...fresh } = local;
      Object.assign(stack, fresh);
      stack.boxClients = boxClients = clientsOf(local);
      stack.boxClient = boxClient = boxClients[0]!;
      introducers = boxClients.map((c) => introducePeers(c, seeder.listenPort));
      return seconds;
    },
    stop: async () => {
      for (const i of introducers) i.abort();
      await local.stop();
      await Promise.all([files.close(), seeder.stop(), awsProxy.close()]);
      if (process.env.T2S_TEST_KEEP !== "1") await rm(tmp, { recursive: true, force: true });
    },
  };
  return stack;
}

/** SDK options for a stack's endpoints: moto for queues, topics and tables, the local store for S3. */
export function clientOptions(s: LocalStack) {
  const region = "us-east-1";
  return {
    aws: { region, endpoint: s.moto.endpoint, credentials: s.keys },
    s3: { region, endpoint: s.store.endpoint, credentials: s.keys, forcePathStyle: true },
  };
}

/** Submits a seeded .torrent and waits for its job to complete (2 min at most). */
export async function completeTorrent(s: TestStack, made: MadeTorrent): Promise<Job> {
  const r = await s.call("POST", "/api/jobs", { torrent: made.torrent.toString("base64") });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  const job = await s.waitForJob(made.infoHash, (j) => ["completed", "failed", "cancelled"].includes(j.status), 120_000);
  assert.equal(job.status, "completed", JSON.stringify(job.error));
  return job;
}
