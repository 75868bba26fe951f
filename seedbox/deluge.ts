// The Deluge adapter: deluge-web's JSON-RPC API with a session, reconnects, and a timeout on every call.
import { request } from "undici";
import type { Logger } from "../lib/log.ts";
import { sleep } from "../lib/time.ts";

export class DelugeError extends Error {
  readonly code: number;
  constructor(message: string, code: number) {
    super(message);
    this.name = "DelugeError";
    this.code = code;
  }
}

/** Deluge will never take this torrent (libtorrent refused it): the job cannot run on any seedbox. */
export class TorrentRefused extends Error {
  override name = "TorrentRefused";
}

/** The last line of Deluge's Python failure text, short: what libtorrent said. */
const reasonOf = (message: string) => (message.trim().split("\n").at(-1) ?? "").slice(0, 200);

/** What the seedbox reads of a torrent (core.get_torrent_status keys). */
export interface TorrentStatus {
  name: string;
  state: string;
  progress: number;
  total_wanted: number;
  total_done: number;
  download_payload_rate: number;
  eta: number;
  is_finished: boolean;
  save_path: string;
  time_added: number;
  message: string;
  /** 0 until a magnet's metadata is in. */
  num_files: number;
  ratio: number;
  seeding_time: number;
}

/** One file of a torrent, as Deluge lists it. */
export interface TorrentFile {
  index: number;
  path: string;
  size: number;
  /** Deluge downloads it (its priority is not 0, "skip"). */
  wanted: boolean;
}

/** Deluge's file priorities for a choice of files: 1 (normal) for each chosen file, 0 (skip) for the rest. */
export function filePriorities(count: number, chosen: readonly number[]): number[] {
  const on = new Set(chosen);
  return Array.from({ length: count }, (_, i) => (on.has(i) ? 1 : 0));
}

// No file list: at 100,000 files it would be the whole list for every torrent on every pass. A job's
// list is asked for once (files()), when its metadata is in.
export const statusKeys = [
  "name", "state", "progress", "total_wanted", "total_done", "download_payload_rate", "eta",
  "is_finished", "save_path", "time_added", "message", "num_files", "ratio", "seeding_time",
] as const;

export interface AddOptions {
  download_location: string;
  move_completed: boolean;
  move_completed_path: string;
  add_paused?: boolean;
  sequential_download?: boolean;
  max_download_speed?: number;
  /** One per file (filePriorities); applied at once for a .torrent, ignored for a magnet (no metadata yet). */
  file_priorities?: number[];
}

export interface DelugeOptions {
  url: string;
  password: string;
  /** The daemon to connect deluge-web to, when it knows several. */
  daemonPort?: number;
  timeoutMs?: number;
  log: Logger;
}

const duplicatePattern = /already (in session|being added)/i;

export class Deluge {
  private readonly o: DelugeOptions;
  private cookie: string | null = null;
  private seq = 0;
  private ready: Promise<void> | null = null;

  constructor(o: DelugeOptions) {
    this.o = o;
  }

  private async rpc<T>(method: string, params: unknown[], signal?: AbortSignal): Promise<T> {
    const timeout = AbortSignal.timeout(this.o.timeoutMs ?? 15_000);
    const res = await request(this.o.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(this.cookie ? { cookie: this.cookie } : {}) },
      body: JSON.stringify({ method, params, id: ++this.seq }),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    const setCookie = res.headers["set-cookie"];
    for (const c of Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []) {
      const m = /(_session_id=[^;]+)/.exec(c);
      if (m?.[1]) this.cookie = m[1];
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new DelugeError(`deluge-web answered HTTP ${res.statusCode} to ${method}`, 0);
    }
    const body = (await res.body.json()) as { result: T; error: { message: string; code: number } | null };
    if (body.error) throw new DelugeError(body.error.message, body.error.code);
    return body.result;
  }

  /** Logs in and connects deluge-web to the daemon; shared by concurrent callers. */
  connect(signal?: AbortSignal): Promise<void> {
    this.ready ??= this.doConnect(signal).catch((err) => {
      this.ready = null;
      throw err;
    });
    return this.ready;
  }

  private async doConnect(signal?: AbortSignal): Promise<void> {
    this.cookie = null;
    const ok = await this.rpc<boolean>("auth.login", [this.o.password], signal);
    if (!ok) throw new DelugeError("deluge-web refused the password", 1);
    if (await this.rpc<boolean>("web.connected", [], signal)) return;
    const hosts = await this.rpc<[string, string, number, string][]>("web.get_hosts", [], signal);
    const host = hosts.find((h) => this.o.daemonPort === undefined || h[2] === this.o.daemonPort) ?? hosts[0];
    if (!host) throw new DelugeError("deluge-web knows no daemon", 0);
    await this.rpc("web.connect", [host[0]], signal);
    for (let i = 0; i < 50; i++) {
      if (await this.rpc<boolean>("web.connected", [], signal)) return;
      await sleep(100, signal);
    }
    throw new DelugeError("deluge-web could not connect to deluged", 0);
  }

  /** A call with one reconnect: code 1 is a lost session, code 2 on core.* a lost daemon connection. */
  async call<T>(method: string, params: unknown[], signal?: AbortSignal): Promise<T> {
    await this.connect(signal);
    try {
      return await this.rpc<T>(method, params, signal);
    } catch (err) {
      const lost = err instanceof DelugeError && (err.code === 1 || (err.code === 2 && method.startsWith("core.")));
      const down = !(err instanceof DelugeError) && !signal?.aborted;
      if (!lost && !down) throw err;
      this.o.log.warn("deluge connection lost; reconnecting", { method, err });
      this.ready = null;
      await this.connect(signal);
      return await this.rpc<T>(method, params, signal);
    }
  }

  /**
   * Calls `on` with the id of each torrent Deluge finishes, until `signal` aborts. Our plugin's
   * wait_finished answers as a torrent finishes, else within 5 s (deluge-web's own event queue looks
   * only every 100 ms). Its seq says which finishes were seen; a restarted daemon starts again at 0.
   */
  async onFinished(on: (id: string) => void, signal: AbortSignal): Promise<void> {
    let seen = -1;
    while (!signal.aborted) {
      try {
        const r = await this.call<{ seq: number; ids: string[] }>("t2stuning.wait_finished", [seen, 5], signal);
        seen = r.seq;
        for (const id of r.ids) on(id);
      } catch {
        // Deluge is down or restarting: the monitor's own passes go on meanwhile.
        await sleep(1000, signal).catch(() => {});
      }
    }
  }

  /** True when deluge-web answers and is connected to the daemon. */
  async healthy(signal?: AbortSignal): Promise<boolean> {
    try {
      await this.connect(signal);
      const ok = await this.rpc<boolean>("web.connected", [], signal);
      if (!ok) this.ready = null;
      return ok;
    } catch {
      this.ready = null;
      return false;
    }
  }

  private async add(method: string, params: unknown[], signal?: AbortSignal): Promise<string | null> {
    try {
      return await this.call<string | null>(method, params, signal);
    } catch (err) {
      // A torrent that is already there is what we wanted.
      if (err instanceof DelugeError && err.code === 4 && duplicatePattern.test(err.message)) return null;
      // Code 4 is the daemon's own failure to add it: the same torrent fails the same way everywhere.
      if (err instanceof DelugeError && err.code === 4) throw new TorrentRefused(reasonOf(err.message));
      throw err;
    }
  }

  /** Adds a .torrent; resolves to its info-hash, or null when Deluge already had it. */
  addTorrentFile(filename: string, torrent: Uint8Array, options: AddOptions, signal?: AbortSignal): Promise<string | null> {
    return this.add("core.add_torrent_file", [filename, Buffer.from(torrent).toString("base64"), options], signal);
  }

  addMagnet(uri: string, options: AddOptions, signal?: AbortSignal): Promise<string | null> {
    return this.add("core.add_torrent_magnet", [uri, options], signal);
  }

  remove(id: string, removeData: boolean, signal?: AbortSignal): Promise<boolean> {
    return this.call<boolean>("core.remove_torrent", [id, removeData], signal);
  }

  /** Status of one torrent, or null when Deluge does not have it. */
  async status(id: string, signal?: AbortSignal): Promise<TorrentStatus | null> {
    const s = await this.call<Partial<TorrentStatus>>("core.get_torrent_status", [id, statusKeys], signal);
    return s && Object.keys(s).length > 0 ? (s as TorrentStatus) : null;
  }

  /** A torrent's files, chosen or not (none before a magnet's metadata is in), or null when Deluge does not have it. */
  async files(id: string, signal?: AbortSignal): Promise<TorrentFile[] | null> {
    type Listed = { files?: Omit<TorrentFile, "wanted">[]; file_priorities?: number[] };
    const s = await this.call<Listed>("core.get_torrent_status", [id, ["files", "file_priorities"]], signal);
    const prio = s?.file_priorities ?? [];
    return s?.files ? s.files.map((f) => ({ index: f.index, path: f.path, size: f.size, wanted: (prio[f.index] ?? 1) > 0 })) : null;
  }

  /**
   * Downloads only the chosen files (by index) of a torrent whose metadata is in. Deluge turns a finished
   * torrent back to downloading when a skipped file is chosen again.
   */
  chooseFiles(id: string, count: number, chosen: readonly number[], signal?: AbortSignal): Promise<void> {
    return this.setTorrentOptions(id, { file_priorities: filePriorities(count, chosen) }, signal);
  }

  /** The ids of every torrent in the session, and nothing else about them: cheap to ask often. */
  async torrentIds(signal?: AbortSignal): Promise<Set<string>> {
    return new Set(await this.call<string[]>("core.get_session_state", [], signal));
  }

  /** Every torrent Deluge holds, by info-hash. */
  statuses(signal?: AbortSignal): Promise<Record<string, TorrentStatus>> {
    return this.call<Record<string, TorrentStatus>>("core.get_torrents_status", [{}, statusKeys], signal);
  }

  setConfig(config: Record<string, unknown>, signal?: AbortSignal): Promise<void> {
    return this.call("core.set_config", [config], signal);
  }

  setTorrentOptions(id: string, options: Record<string, unknown>, signal?: AbortSignal): Promise<void> {
    return this.call("core.set_torrent_options", [[id], options], signal);
  }

  resume(id: string, signal?: AbortSignal): Promise<void> {
    return this.call("core.resume_torrent", [[id]], signal);
  }

  connectPeer(id: string, host: string, port: number, signal?: AbortSignal): Promise<void> {
    return this.call("core.connect_peer", [id, host, port], signal);
  }

  /** libtorrent's session settings as the running daemon holds them (read through our plugin, seedbox/deluge-tuning.ts). */
  libtorrentSettings(keys: string[], signal?: AbortSignal): Promise<Record<string, boolean | number | string | null>> {
    return this.call("t2stuning.get_settings", [keys], signal);
  }
}
