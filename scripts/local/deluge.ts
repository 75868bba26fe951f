// Starts deluged and deluge-web on loopback with generated passwords, sharing one config folder
// (deluge-web takes the daemon's localclient password from it).
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { sleep } from "../../lib/time.ts";
import { installTuning, tuningPlugin, type SettingValue } from "../../seedbox/deluge-tuning.ts";
import { freePort, waitFor } from "./net.ts";
import { venvBin } from "./paths.ts";
import { startProc, type Proc } from "./proc.ts";

export interface DelugeOptions {
  /** Config folder; secrets and state persist here. */
  dir: string;
  logDir: string;
  name: string;
  downloadDir: string;
  /** No DHT, LSD, UPnP or NAT-PMP, and BitTorrent on loopback only (tests, offline machines). */
  offline: boolean;
  /** Torrents active at once (-1: no limit). */
  maxActive?: number;
  /**
   * The loopback address BitTorrent listens and connects from when offline (default 127.0.0.1). Give each
   * Deluge on one machine its own: libtorrent keeps one connection per IP, so two on 127.0.0.1 look like one.
   */
  peerAddress?: string;
  /** libtorrent settings instead of the seedbox's table (seedbox/deluge-tuning.ts): benchmarks compare with them. */
  libtorrent?: Record<string, SettingValue>;
}

export interface DelugeHandle {
  name: string;
  webUrl: string;
  password: string;
  daemonPort: number;
  webPort: number;
  listenPort: number;
  daemon: Proc;
  web: Proc;
  startDaemon(): Promise<void>;
  /** Stops deluged on purpose (no restart) until startDaemon(). */
  stopDaemon(): Promise<void>;
  /** How often deluged died and was started again. */
  restarts: number;
  stop(): Promise<void>;
}

interface Secrets {
  localclient: string;
  web: string;
  hostId: string;
}

const header = (file: number) => JSON.stringify({ file, format: 1 }, null, 4);

/** Deluge config files are a version header object followed by the config object. */
async function readDelugeConfig(path: string): Promise<Record<string, unknown>> {
  if (!existsSync(path)) return {};
  const text = await readFile(path, "utf8");
  const i = text.indexOf("}{");
  try {
    return i < 0 ? {} : (JSON.parse(text.slice(i + 1)) as Record<string, unknown>);
  } catch {
    return {};
  }
}

async function writeDelugeConfig(path: string, file: number, cfg: object): Promise<void> {
  await writeFile(path, header(file) + JSON.stringify(cfg, null, 4), { mode: 0o600 });
}

async function loadSecrets(dir: string): Promise<Secrets> {
  const path = join(dir, "t2s-secrets.json");
  if (existsSync(path)) return JSON.parse(await readFile(path, "utf8")) as Secrets;
  const s: Secrets = { localclient: randomBytes(20).toString("hex"), web: randomBytes(24).toString("base64url"), hostId: randomBytes(16).toString("hex") };
  await writeFile(path, JSON.stringify(s), { mode: 0o600 });
  return s;
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });
}

/** Deluge 2.2 from PyPI, in the project venv (scripts/bootstrap.sh installs it; no apt, no root). */
function delugeBin(tool: "deluged" | "deluge-web"): string {
  const bin = venvBin(tool);
  if (!existsSync(bin)) throw new Error(`${tool} is missing at ${bin}: run "bash scripts/bootstrap.sh"`);
  return bin;
}

export async function startDeluge(o: DelugeOptions): Promise<DelugeHandle> {
  const [deluged, delugeWeb] = [delugeBin("deluged"), delugeBin("deluge-web")];
  await mkdir(o.dir, { recursive: true, mode: 0o700 });
  await mkdir(o.downloadDir, { recursive: true });
  const secrets = await loadSecrets(o.dir);
  const [daemonPort, webPort, listenPort] = [await freePort(), await freePort(), await freePort()];
  const max = o.maxActive ?? 8;

  // The daemon rewrites core.conf when it stops, so it is edited only here, before it starts.
  const core = await readDelugeConfig(join(o.dir, "core.conf"));
  await writeDelugeConfig(join(o.dir, "core.conf"), 1, {
    ...core,
    daemon_port: daemonPort,
    allow_remote: false,
    listen_ports: [listenPort, listenPort],
    random_port: false,
    listen_reuse_port: false,
    listen_random_port: null,
    new_release_check: false,
    dht: !o.offline,
    lsd: !o.offline,
    upnp: !o.offline,
    natpmp: !o.offline,
    utpex: !o.offline,
    download_location: o.downloadDir,
    move_completed: false,
    pre_allocate_storage: false,
    max_active_limit: max,
    max_active_downloading: max,
    max_active_seeding: max,
    dont_count_slow_torrents: true,
    // Applies the libtorrent settings Deluge has no preference for (seedbox/deluge-tuning.ts).
    enabled_plugins: [tuningPlugin],
  });
  await installTuning(o.dir, o.libtorrent);
  await writeFile(join(o.dir, "auth"), `localclient:${secrets.localclient}:10\n`, { mode: 0o600 });
  await writeDelugeConfig(join(o.dir, "hostlist.conf"), 3, {
    hosts: [[secrets.hostId, "127.0.0.1", daemonPort, "localclient", secrets.localclient]],
  });
  const salt = randomBytes(20).toString("hex");
  const web = await readDelugeConfig(join(o.dir, "web.conf"));
  await writeDelugeConfig(join(o.dir, "web.conf"), 2, {
    ...web,
    port: webPort,
    interface: "127.0.0.1",
    https: false,
    pwd_salt: salt,
    pwd_sha1: createHash("sha1").update(salt + secrets.web).digest("hex"),
    default_daemon: secrets.hostId,
    first_login: false,
    session_timeout: 3600,
  });

  const bindPeers = o.offline ? (o.peerAddress ?? "127.0.0.1") : "0.0.0.0";
  const outgoing = o.offline && o.peerAddress ? ["-o", o.peerAddress] : [];
  let wanted = true;
  const handle: DelugeHandle = {
    name: o.name,
    webUrl: `http://127.0.0.1:${webPort}/json`,
    password: secrets.web,
    daemonPort,
    webPort,
    listenPort,
    restarts: 0,
    daemon: undefined as unknown as Proc,
    web: undefined as unknown as Proc,
    startDaemon: async () => {
      wanted = true;
      const daemon = startProc(`${o.name}-deluged`, deluged, ["-d", "-c", o.dir, "-p", String(daemonPort), "-u", "127.0.0.1", "-i", bindPeers, ...outgoing, "-L", "warning"], {
        logFile: join(o.logDir, `${o.name}-deluged.log`),
      });
      handle.daemon = daemon;
      // Supervise like systemd does on the EC2 host: if deluged dies, start it again.
      void daemon.exited.then(async () => {
        if (!wanted || handle.daemon !== daemon) return;
        handle.restarts++;
        await sleep(1000);
        if (wanted && handle.daemon === daemon) await handle.startDaemon().catch(() => {});
      });
      await waitFor(`${o.name} deluged`, () => tcpOpen(daemonPort), 30_000, daemon.exited);
    },
    stopDaemon: async () => {
      wanted = false;
      await handle.daemon.stop(15_000);
    },
    stop: async () => {
      wanted = false;
      await Promise.all([handle.web?.stop(), handle.daemon?.stop(10_000)]);
    },
  };
  await handle.startDaemon();
  handle.web = startProc(`${o.name}-deluge-web`, delugeWeb, ["-d", "-c", o.dir, "-p", String(webPort), "-i", "127.0.0.1", "-L", "warning"], {
    logFile: join(o.logDir, `${o.name}-deluge-web.log`),
  });
  await waitFor(`${o.name} deluge-web`, () => tcpOpen(webPort), 30_000, handle.web.exited);
  return handle;
}
