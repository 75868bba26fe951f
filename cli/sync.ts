// `t2s sync DIR`: the pull agent beside Sonarr/Radarr. It mirrors each completed job that has a category
// into DIR/<category>/<name>/ (downloaded into DIR/.t2s/partial/<id>/, then one rename, so a job is there
// whole or not at all), reports it delivered, and removes its copy when the job is deleted with its files.
// It follows the change feed (GET /api/events); a marker per job (DIR/.t2s/done/<id>.json) and resumable
// partial files mean a restart fetches nothing twice. With --watch it is also a torrent blackhole.
import { mkdir, readFile, rename, rm, stat, unlink, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import chokidar from "chokidar";
import { request } from "undici";
import { isJobId } from "../lib/job.ts";
import type { Logger } from "../lib/log.ts";
import { syncRelativeDir } from "../lib/qbittorrent.ts";
import { safeRelativePath } from "../lib/safepath.ts";
import type { ApiClient } from "../lib/api-client.ts";
import type { Job as ApiJob } from "../lib/job.ts";
import { download } from "./download.ts";

export interface SyncOptions {
  dir: string;
  /** Only jobs in these categories; empty: every job that has a category. */
  categories: string[];
  /** A blackhole folder: <watch>/<category>/<x>.torrent|.magnet are handed in. */
  watch?: string;
  log: Logger;
  signal: AbortSignal;
  /** How long to wait before trying a job again after a failure. */
  retryMs?: number;
}

interface Marker {
  id: string;
  /** The copy, relative to DIR. */
  rel: string;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
  });

/** A path under `root` for a relative path, refusing anything that would land outside it. */
function inside(root: string, rel: string): string {
  const to = resolve(root, rel);
  if (!to.startsWith(root + sep)) throw new Error(`refusing a path outside ${root}`);
  return to;
}

/** The files' paths inside the job's folder: without the torrent's own top folder, sanitised. */
export function filePaths(job: Pick<ApiJob, "name" | "files">): string[] {
  const parts = job.files.map((f) => f.path.split("/"));
  const strip = parts.length > 0 && parts.every((p) => p.length > 1 && p[0] === parts[0]![0]);
  return parts.map((p) => safeRelativePath(strip ? p.slice(1) : p));
}

export class SyncAgent {
  private readonly root: string;
  private readonly state: string;
  private readonly o: SyncOptions;
  private readonly c: ApiClient;
  /** The newest version of each job waiting to be looked at; one job is worked on at a time. */
  private readonly queue = new Map<string, ApiJob>();
  private wake: (() => void) | null = null;

  constructor(c: ApiClient, o: SyncOptions) {
    this.c = c;
    this.o = o;
    this.root = resolve(o.dir);
    this.state = join(this.root, ".t2s");
  }

  private marker(id: string) {
    return join(this.state, "done", `${id}.json`);
  }
  private partial(id: string) {
    return join(this.state, "partial", id);
  }

  private async readMarker(id: string): Promise<Marker | null> {
    try {
      const m = JSON.parse(await readFile(this.marker(id), "utf8")) as Marker;
      return m.id === id && typeof m.rel === "string" ? m : null;
    } catch {
      return null;
    }
  }

  private wanted(job: ApiJob): boolean {
    if (!job.category) return false;
    return this.o.categories.length === 0 || this.o.categories.includes(job.category);
  }

  enqueue(job: ApiJob): void {
    if (!isJobId(job.id)) return;
    this.queue.set(job.id, job);
    this.wake?.();
  }

  /** Runs until the signal: catch-up listing, the change feed, the worker, the blackhole. */
  async run(): Promise<void> {
    const { signal, log } = this.o;
    await mkdir(join(this.state, "done"), { recursive: true });
    await mkdir(join(this.state, "partial"), { recursive: true });
    // The qBittorrent API shows content paths under this folder from now on.
    await this.c.qbt("app/setPreferences", new URLSearchParams({ json: JSON.stringify({ save_path: this.root }) }), signal);
    log.info("sync started", { dir: this.root, categories: this.o.categories });
    if (this.o.watch) await mkdir(this.o.watch, { recursive: true });
    const watcher = this.o.watch ? this.blackhole(this.o.watch) : null;
    await Promise.all([this.follow(), this.work()]).finally(() => watcher?.close());
  }

  /** Every job once (newest first, all pages), then the change feed; again after each disconnect. */
  private async follow(): Promise<void> {
    const { signal, log } = this.o;
    while (!signal.aborted) {
      try {
        const res = await request(`${this.c.base}/api/events`, { headers: this.c.authHeaders(), signal });
        if (res.statusCode !== 200) {
          res.body.destroy();
          throw new Error(`the change feed answered HTTP ${res.statusCode}`);
        }
        // Listening before listing: nothing that changes in between is missed (a change may come twice).
        let cursor: string | null = null;
        do {
          const page = await this.c.list(200, cursor);
          for (const j of page.jobs) this.enqueue(j);
          cursor = page.next;
        } while (cursor && !signal.aborted);
        let buf = "";
        res.body.setEncoding("utf8");
        for await (const chunk of res.body as AsyncIterable<string>) {
          buf += chunk;
          let end: number;
          while ((end = buf.indexOf("\n\n")) >= 0) {
            const event = buf.slice(0, end);
            buf = buf.slice(end + 2);
            const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
            if (data) this.enqueue((JSON.parse(data) as { job: ApiJob }).job);
          }
        }
      } catch (err) {
        if (signal.aborted) return;
        log.warn("change feed lost; reconnecting", { err });
      }
      await sleep(this.o.retryMs ?? 2000, signal);
    }
  }

  private async work(): Promise<void> {
    const { signal, log } = this.o;
    while (!signal.aborted) {
      const next = this.queue.entries().next();
      if (next.done) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          signal.addEventListener("abort", () => resolve(), { once: true });
        });
        this.wake = null;
        continue;
      }
      const [id, job] = next.value;
      this.queue.delete(id);
      try {
        await this.handle(job);
      } catch (err) {
        if (signal.aborted) return;
        log.warn("sync of a job failed; trying again", { job: id, err });
        setTimeout(() => { if (!this.queue.has(id)) this.enqueue(job); }, this.o.retryMs ?? 10_000).unref();
      }
    }
  }

  private async handle(job: ApiJob): Promise<void> {
    const { log, signal } = this.o;
    const mark = await this.readMarker(job.id);
    if (job.removed) {
      if (!job.removed.files) return;
      await rm(this.partial(job.id), { recursive: true, force: true });
      if (mark) {
        await rm(inside(this.root, mark.rel), { recursive: true, force: true });
        await unlink(this.marker(job.id)).catch(() => {});
        log.info("sync removed a copy", { job: job.id, path: mark.rel });
      }
      return;
    }
    if (mark) {
      // Already here: report it again if the server does not know (a report lost to a crash).
      const path = inside(this.root, mark.rel);
      if (job.status === "completed" && job.delivered?.path !== path && (await stat(path).then(() => true, () => false))) await this.report(job.id, path);
      return;
    }
    if (!this.wanted(job)) return;
    if (["failed", "cancelled", "expired"].includes(job.status)) {
      await rm(this.partial(job.id), { recursive: true, force: true });
      return;
    }
    if (job.status !== "completed") return;
    const tmp = this.partial(job.id);
    const paths = filePaths(job);
    let resumed = 0;
    for (const [i, f] of job.files.entries()) {
      if (!f.url) throw new Error("a completed job's file has no link");
      const r = await download(f.url, inside(tmp, paths[i]!), f.size, signal);
      if (r === "resumed") resumed++;
    }
    // The folder the media app will see, unless another job already has that name.
    let rel = syncRelativeDir(job);
    if (await stat(inside(this.root, rel)).then(() => true, () => false)) rel = `${rel} [${job.id.slice(0, 8)}]`;
    const to = inside(this.root, rel);
    if (relative(this.state, to).split(sep)[0] !== "..") throw new Error("refusing to write into the agent's own folder");
    await mkdir(dirname(to), { recursive: true });
    await rename(tmp, to);
    const m: Marker = { id: job.id, rel };
    await writeFile(this.marker(job.id) + ".tmp", JSON.stringify(m));
    await rename(this.marker(job.id) + ".tmp", this.marker(job.id));
    log.info("sync copied a job", { job: job.id, path: rel, files: job.files.length, resumed });
    await this.report(job.id, to);
  }

  private async report(id: string, path: string): Promise<void> {
    await this.c.request("POST", `/api/jobs/${id}/delivered`, { path }, this.o.signal);
    this.o.log.info("sync reported a job delivered", { job: id });
  }

  /** Sonarr's "Torrent Blackhole": <watch>/<category>/x.torrent or x.magnet are handed in, then removed. */
  private blackhole(folder: string) {
    const { log } = this.o;
    const root = resolve(folder);
    const watcher = chokidar.watch(root, { depth: 1, ignoreInitial: false, awaitWriteFinish: { stabilityThreshold: 300, pollInterval: 100 } });
    watcher.on("add", (file) => {
      const kind = /\.(torrent|magnet)$/i.exec(file)?.[1]?.toLowerCase();
      if (!kind) return;
      const rel = relative(root, file).split(sep);
      const category = rel.length === 2 ? rel[0]! : "";
      void (async () => {
        const body = await readFile(file);
        const form = new FormData();
        if (kind === "magnet") form.set("urls", body.toString("utf8").trim());
        else form.set("torrents", new Blob([new Uint8Array(body)], { type: "application/x-bittorrent" }), basename(file));
        if (category) form.set("category", category);
        const answer = await this.c.qbt("torrents/add", form, this.o.signal);
        if (answer === "Ok.") {
          await unlink(file);
          log.info("blackhole handed in a torrent", { file: rel.join("/"), category });
        } else {
          // Kept, renamed, so it is not handed in again and the person can see why.
          await rename(file, `${file}.failed`);
          log.warn("blackhole: the server refused a torrent", { file: rel.join("/"), answer });
        }
      })().catch((err) => log.warn("blackhole: could not hand in a torrent", { file: rel.join("/"), err }));
    });
    return watcher;
  }
}
