// A qBittorrent WebUI API v2 subset at /qbittorrent/api/v2/*, for Sonarr, Radarr and Prowlarr (their
// "URL Base" /qbittorrent). Answers as qbittorrent-nox 4.5.2 does: plain-text "Ok."/"Fails.", 403
// "Forbidden" before login, 400/404/409 with its own words. The job mapping is lib/qbittorrent.ts.
import type { JobRecord } from "../lib/job-record.ts";
import { AppError } from "../lib/errors.ts";
import { filesExpired, isJobId, isTerminal } from "../lib/job.ts";
import { parseTorrent } from "../lib/torrent.ts";
import { filesPrefix } from "../lib/layout.ts";
import { expired } from "../lib/lease.ts";
import {
  addTags, defaultSavePath, deliver, fileAdded, matchesFilter, parseTags, preferences, qbtChosen, qbtRequester, qbtVersion, qbtWebApiVersion, recordExtras,
  removeForClient, setCategory, torrentFiles, torrentInfo, torrentProperties, validCategory, type QbtExtras, type QbtRecord, type TorrentInfo,
} from "../lib/qbittorrent.ts";
import { crossSite, maxBodyBytes, type ApiDeps, type ApiRequest, type ApiResponse, type RequestHead, type Route } from "./api.ts";
import { parseCookies } from "./auth.ts";
import { presentJob } from "./present.ts";
import { chooseFiles, submit } from "./submit.ts";

export const qbtPrefix = "/qbittorrent/api/v2/";
const sidCookie = "SID";
/** torrents/info reads at most this many jobs (newest first): pages of 200. */
const maxListed = 2000;
const categoryPrefix = "qbittorrent/categories/";
const settingsKey = "qbittorrent/settings.json";

export type QbtDeps = Pick<ApiDeps, "registry" | "bucket" | "auth" | "guard" | "publishRequest" | "now" | "webhooks" | "scaleUp" | "log" | "publicUrl" | "linkDays" | "pricing" | "costs">;

/** An answer in qBittorrent's words (its status and its plain-text message). */
class QbtError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}
const badRequest = () => new QbtError(400, "Bad Request");
const notFound = () => new QbtError(404, "Not Found");

const baseHeaders = { "x-content-type-options": "nosniff", "cache-control": "no-store" };
const text = (body: string, status = 200, headers: Record<string, string> = {}): ApiResponse =>
  ({ status, headers: { ...baseHeaders, "content-type": "text/plain; charset=UTF-8", ...headers }, body });
const json = (value: unknown): ApiResponse =>
  ({ status: 200, headers: { ...baseHeaders, "content-type": "application/json" }, body: JSON.stringify(value) });

/** The call's parameters: the query, then the form body (urlencoded or multipart) over it. */
class Params {
  private readonly fields: Map<string, string>;
  readonly files: File[];
  constructor(fields: Map<string, string>, files: File[]) {
    this.fields = fields;
    this.files = files;
  }
  get(name: string): string | undefined {
    return this.fields.get(name);
  }
  need(name: string): string {
    const v = this.fields.get(name);
    if (v === undefined) throw badRequest();
    return v;
  }
  bool(name: string): boolean | undefined {
    const v = this.fields.get(name);
    return v === undefined ? undefined : v.toLowerCase() === "true";
  }
}

async function readParams(req: ApiRequest): Promise<Params> {
  const fields = new Map<string, string>();
  for (const [k, v] of req.query) fields.set(k, v);
  const files: File[] = [];
  const type = req.headers["content-type"] ?? "";
  if (req.method === "POST" && req.body.length > 0 && /^(multipart\/form-data|application\/x-www-form-urlencoded)/i.test(type)) {
    let form: FormData;
    try {
      // undici's own parser (Node's fetch Response), which knows both encodings: no extra dependency.
      form = await new Response(new Uint8Array(req.body), { headers: { "content-type": type } }).formData();
    } catch {
      throw badRequest();
    }
    for (const [k, v] of form) {
      // Every file part is a torrent, whatever its name ("torrents" for Sonarr, "file" for @ctrl/qbittorrent), as in qBittorrent.
      if (typeof v === "string") fields.set(k, v);
      else files.push(v);
    }
  }
  return new Params(fields, files);
}

/** `hashes`: "|"-separated info-hashes, or "all". */
function hashList(raw: string): string[] | "all" {
  if (raw === "all") return "all";
  return [...new Set(raw.split("|").map((h) => h.trim().toLowerCase()).filter(isJobId))];
}

/** Categories (one small object each, so two writers never lose one) and the sync agent's folder. */
class QbtSettings {
  private readonly d: QbtDeps;
  constructor(d: QbtDeps) {
    this.d = d;
  }
  async categories(): Promise<string[]> {
    const keys = await this.d.bucket.list(categoryPrefix);
    return keys.map((k) => decodeURIComponent(k.slice(categoryPrefix.length))).sort();
  }
  async hasCategory(name: string): Promise<boolean> {
    return this.d.bucket.exists(categoryPrefix + encodeURIComponent(name));
  }
  addCategory(name: string): Promise<void> {
    return this.d.bucket.put(categoryPrefix + encodeURIComponent(name), "", "text/plain");
  }
  async savePath(): Promise<string> {
    const raw = await this.d.bucket.get(settingsKey);
    const v = raw ? (JSON.parse(raw.toString("utf8")) as { save_path?: unknown }).save_path : undefined;
    return typeof v === "string" && v.startsWith("/") ? v : defaultSavePath;
  }
  setSavePath(path: string): Promise<void> {
    return this.d.bucket.putJson(settingsKey, { save_path: path });
  }
}

export function qbittorrentRoutes(d: QbtDeps): Route[] {
  const settings = new QbtSettings(d);
  const requester = qbtRequester;

  const authorized = (req: RequestHead): boolean => {
    const caller = d.auth.caller(req.headers);
    // A cookie (the page's, or the SID) counts only from a non-browser client or the page itself: a page
    // on another port of this host would otherwise post a form here with it (qBittorrent checks Origin too).
    if (caller?.via === "api") return true;
    const sid = parseCookies(req.headers["cookie"])[sidCookie];
    if ((caller || (sid && d.auth.sessionValid(sid))) && !crossSite(req, d.publicUrl)) return true;
    // Basic credentials, as some clients send them: t2s and the token.
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(req.headers["authorization"]?.trim() ?? "");
    if (basic) {
      const [user, ...rest] = Buffer.from(basic[1]!, "base64").toString("utf8").split(":");
      return user === "t2s" && d.auth.tokenValid(rest.join(":"));
    }
    return false;
  };

  /** Every job the qBittorrent API shows: not removed through it, newest first, up to maxListed. */
  const listed = async (): Promise<QbtRecord[]> => {
    const out: QbtRecord[] = [];
    let cursor: string | null = null;
    do {
      const page = await d.registry.list({ limit: 200, cursor });
      out.push(...page.records.filter((r) => !r.job.removed));
      cursor = page.next;
    } while (cursor && out.length < maxListed);
    return out;
  };

  const shown = async (id: string): Promise<QbtRecord | null> => {
    const rec = await d.registry.record(id);
    return rec && !rec.job.removed ? rec : null;
  };

  /** The records a `hashes` parameter names, shown ones only; unknown hashes are skipped, as qBittorrent does. */
  const named = async (raw: string): Promise<QbtRecord[]> => {
    const h = hashList(raw);
    if (h === "all") return listed();
    return (await Promise.all(h.map(shown))).filter((r): r is QbtRecord => r !== null);
  };

  const change = (id: string, f: (r: QbtRecord) => QbtRecord | null) =>
    d.registry.update(id, (r) => (r && !r.job.removed ? f(r) : null));
  const extras = (ids: string[], patch: QbtExtras) =>
    Promise.all(ids.map((id) => change(id, (r) => recordExtras(r, patch))));

  const info = async (p: Params): Promise<ApiResponse> => {
    const [recs, savePath] = await Promise.all([p.get("hashes") !== undefined ? named(p.get("hashes")!) : listed(), settings.savePath()]);
    const now = d.now();
    const category = p.get("category");
    const tag = p.get("tag");
    const filter = p.get("filter") ?? "all";
    let rows: TorrentInfo[] = recs.map((r) => torrentInfo(r, { savePath, now })).filter((i) =>
      matchesFilter(i, filter) &&
      (category === undefined || i.category === category) &&
      (tag === undefined || (tag === "" ? i.tags === "" : i.tags.split(", ").includes(tag))));
    const sort = p.get("sort");
    if (sort && rows.length > 0 && sort in rows[0]!) {
      const k = sort as keyof TorrentInfo;
      rows = [...rows].sort((a, b) => (a[k] < b[k] ? -1 : a[k] > b[k] ? 1 : 0));
    }
    if (p.bool("reverse")) rows.reverse();
    const offset = Number(p.get("offset") ?? 0);
    const limit = Number(p.get("limit") ?? 0);
    const from = Number.isInteger(offset) ? (offset < 0 ? Math.max(0, rows.length + offset) : offset) : 0;
    rows = rows.slice(from, Number.isInteger(limit) && limit > 0 ? from + limit : undefined);
    return json(rows);
  };

  const one = async (p: Params): Promise<QbtRecord> => {
    const rec = await shown(p.need("hash").toLowerCase());
    if (!rec) throw notFound();
    return rec;
  };

  /** Makes a category exist (torrents/add creates the ones it is given, as qBittorrent does). */
  const ensureCategory = async (name: string) => {
    if (!(await settings.hasCategory(name))) await settings.addCategory(name);
  };

  const add = async (p: Params, signal: AbortSignal): Promise<ApiResponse> => {
    const urls = (p.get("urls") ?? "").split(/\r?\n/).map((u) => u.trim()).filter((u) => u !== "");
    if (urls.length === 0 && p.files.length === 0) return text("Fails.");
    const rawCategory = p.get("category")?.trim();
    const category = rawCategory && validCategory(rawCategory) ? rawCategory : undefined;
    if (category) await ensureCategory(category);
    const tags = parseTags(p.get("tags") ?? "");
    const paused = p.bool("stopped") ?? p.bool("paused");
    const ratio = Number(p.get("ratioLimit"));
    const seeding = Number(p.get("seedingTimeLimit"));
    const qbt: QbtExtras = {
      ...(paused !== undefined ? { paused } : {}),
      ...(Number.isFinite(ratio) && p.get("ratioLimit") !== undefined ? { ratioLimit: ratio } : {}),
      ...(Number.isInteger(seeding) && p.get("seedingTimeLimit") !== undefined ? { seedingTimeLimit: seeding } : {}),
    };
    const sources = urls.map((u): Record<string, string> =>
      /^magnet:/i.test(u) ? { magnet: u } : /^[0-9a-f]{40}$/i.test(u) ? { magnet: `magnet:?xt=urn:btih:${u.toLowerCase()}` } : { url: u });
    let added = 0;
    let badFile: string | null = null;
    const one = async (body: Record<string, string>, fileName?: string) => {
      try {
        const { rec } = await submit(body, requester, d, signal);
        // Added again after a removal: shown again, and filed afresh.
        await d.registry.update(rec.job.id, (r) => (r ? fileAdded(r, { category: category ?? null, tags, extras: qbt }) : null));
        added++;
        d.log.info("qbittorrent add", { job: rec.job.id, category: category ?? null });
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        if (fileName !== undefined && (err.code === "invalid_torrent" || err.code === "unsupported_torrent" || err.code === "too_large")) badFile ??= fileName;
        d.log.info("qbittorrent add refused", { code: err.code, message: err.message });
      }
    };
    for (const s of sources) await one(s);
    for (const f of p.files) await one({ torrent: Buffer.from(await f.arrayBuffer()).toString("base64") }, f.name);
    if (badFile !== null && added === 0) return text(`Error: '${badFile}' is not a valid torrent file.`, 415);
    return text(added > 0 ? "Ok." : "Fails.");
  };

  const remove = async (p: Params): Promise<ApiResponse> => {
    const recs = await named(p.need("hashes"));
    const withFiles = p.bool("deleteFiles") === true;
    for (const cur of recs) {
      const id = cur.job.id;
      const rec = await change(id, (r) => removeForClient(r, withFiles, d.now()));
      if (!rec) continue;
      const held = rec.lease && !expired(rec.lease, Date.parse(d.now())) ? rec.lease.seedbox : null;
      if (held === null && (withFiles || cur.job.status !== "completed")) {
        await d.bucket.abortUploads(filesPrefix(id));
        await d.bucket.deletePrefix(filesPrefix(id));
      }
      d.log.info("qbittorrent delete", { job: id, deleteFiles: withFiles, seedbox: held });
    }
    return text("");
  };

  const calls: Record<string, (p: Params, req: ApiRequest) => Promise<ApiResponse>> = {
    "app/version": async () => text(qbtVersion),
    "app/webapiVersion": async () => text(qbtWebApiVersion),
    "app/buildInfo": async () => json({ bitness: 64, boost: "1.74.0", libtorrent: "2.0.8.0", openssl: "3.0.11", qt: "6.4.2", zlib: "1.2.13" }),
    "app/preferences": async () => json(preferences(await settings.savePath())),
    // Only save_path means something here: `t2s sync` sets it to its folder, so content paths are its own.
    "app/setPreferences": async (p) => {
      let prefs: unknown;
      try {
        prefs = JSON.parse(p.need("json"));
      } catch {
        throw badRequest();
      }
      const sp = (prefs as { save_path?: unknown } | null)?.save_path;
      if (sp !== undefined) {
        if (typeof sp !== "string" || !sp.startsWith("/") || sp.length > 1000) throw badRequest();
        await settings.setSavePath(sp);
      }
      return text("");
    },
    "app/defaultSavePath": async () => text(await settings.savePath()),
    "torrents/info": info,
    "torrents/properties": async (p) => json(torrentProperties(await one(p), { savePath: await settings.savePath(), now: d.now() })),
    "torrents/files": async (p) => {
      const rec = await one(p);
      return json(torrentFiles(rec, await torrentListing(rec)));
    },
    "torrents/add": (p, req) => add(p, req.signal),
    "torrents/delete": remove,
    "torrents/categories": async () => json(Object.fromEntries((await settings.categories()).map((c) => [c, { name: c, savePath: "" }]))),
    "torrents/createCategory": async (p) => {
      const name = p.need("category");
      if (name === "") throw new QbtError(400, "Category cannot be empty");
      if (!validCategory(name)) throw new QbtError(409, "Incorrect category name");
      if (await settings.hasCategory(name)) throw new QbtError(409, "Unable to create category");
      await settings.addCategory(name);
      return text("");
    },
    "torrents/setCategory": async (p) => {
      const hashes = p.need("hashes");
      const name = p.need("category");
      if (name !== "" && (!validCategory(name) || !(await settings.hasCategory(name)))) throw new QbtError(409, "Incorrect category name");
      for (const r of await named(hashes)) {
        await change(r.job.id, (x) => setCategory(x, name));
      }
      return text("");
    },
    "torrents/addTags": async (p) => {
      const tags = parseTags(p.need("tags"));
      for (const r of await named(p.need("hashes"))) {
        await change(r.job.id, (x) => addTags(x, tags));
      }
      return text("");
    },
    "torrents/setShareLimits": async (p) => {
      const hashes = p.need("hashes");
      const ratio = Number(p.need("ratioLimit"));
      const seeding = Number(p.need("seedingTimeLimit"));
      const inactive = Number(p.get("inactiveSeedingTimeLimit") ?? -2);
      const patch: QbtExtras = {
        ...(Number.isFinite(ratio) ? { ratioLimit: ratio } : {}),
        ...(Number.isInteger(seeding) ? { seedingTimeLimit: seeding } : {}),
        ...(Number.isInteger(inactive) ? { inactiveSeedingTimeLimit: inactive } : {}),
      };
      await extras((await named(hashes)).map((r) => r.job.id), patch);
      return text("");
    },
    "torrents/topPrio": async (p) => {
      await extras((await named(p.need("hashes"))).map((r) => r.job.id), { topPrio: true });
      return text("");
    },
    "torrents/setForceStart": async (p) => {
      const value = p.bool("value") === true;
      await extras((await named(p.need("hashes"))).map((r) => r.job.id), { forceStart: value });
      return text("");
    },
    "torrents/filePrio": async (p) => {
      const rec = await one(p);
      const ids = p.need("id").split("|");
      const prio = p.need("priority");
      if (!/^\d+$/.test(prio) || ![0, 1, 6, 7].includes(Number(prio))) throw new QbtError(400, "Priority is not valid");
      if (!ids.every((i) => /^\d+$/.test(i))) throw new QbtError(400, "File IDs must be integers");
      const all = await torrentListing(rec);
      // Without the job's .torrent (a magnet), the files are known once the job is complete (the manifest lists them).
      const count = all?.length ?? rec.job.files.length;
      if (count === 0) throw new QbtError(409, "Torrent's metadata has not yet downloaded");
      if (ids.some((i) => Number(i) >= count)) throw new QbtError(409, "File ID is not valid");
      if (all) {
        // Priority 0 skips a file, any other fetches it: the client's own choice changes, as a submission's would.
        const chosen = new Set(qbtChosen(rec, all.map((f) => f.path)));
        for (const i of ids) Number(prio) > 0 ? chosen.add(Number(i)) : chosen.delete(Number(i));
        // Every file skipped: qBittorrent would fetch nothing; here the choice stays (a job needs a file).
        if (chosen.size > 0) await chooseFiles(rec.job.id, requester, chosen.size === all.length ? null : [...chosen].sort((a, b) => a - b), d);
      }
      const prev = rec.qbt?.filePrio ?? {};
      await extras([rec.job.id], { filePrio: { ...prev, ...Object.fromEntries(ids.map((i) => [String(Number(i)), Number(prio)])) } });
      return text("");
    },
  };

  /** Every file of the job's stored .torrent, in the torrent's order; null for a magnet's job, or once it is gone. */
  async function torrentListing(rec: QbtRecord): Promise<{ path: string; size: number }[] | null> {
    if (rec.source?.kind !== "torrent") return null;
    const bytes = await d.bucket.get(rec.source.key);
    if (!bytes) return null;
    try {
      return parseTorrent(bytes).files.map((f) => ({ path: f.path.join("/"), size: f.length }));
    } catch {
      return null;
    }
  }

  const run = async ({ req }: { req: ApiRequest }): Promise<ApiResponse> => {
    const name = req.path.slice(qbtPrefix.length);
    try {
      if (name === "auth/login") {
        const p = await readParams(req);
        const ok = p.get("username") === "t2s" && d.auth.tokenValid(p.get("password") ?? "");
        if (!ok) {
          d.log.info("qbittorrent login refused");
          return text("Fails.");
        }
        return text("Ok.", 200, { "set-cookie": d.auth.newSessionCookie(Date.now(), sidCookie) });
      }
      if (!authorized(req)) return text("Forbidden", 403);
      if (name === "auth/logout") return text("", 200, { "set-cookie": `${sidCookie}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0` });
      const call = Object.hasOwn(calls, name) ? calls[name]! : null;
      if (!call) throw notFound();
      return await call(await readParams(req), req);
    } catch (err) {
      if (err instanceof QbtError) return text(err.message, err.status);
      d.log.error("qbittorrent call failed", { call: name, err, stack: (err as Error)?.stack });
      return text("Internal Server Error", 500);
    }
  };
  return [
    // Public to the router: qBittorrent's own login and its own "Forbidden". A stranger is refused on the
    // headers, before any body is read; a signed-in client may send a .torrent of up to the API's limit.
    ...["GET", "POST"].map((method): Route => ({
      method, path: `${qbtPrefix}*`, access: "public", run, maxBody: maxBodyBytes,
      admit: (head) => (head.path === `${qbtPrefix}auth/login` || authorized(head) ? null : text("Forbidden", 403)),
    })),
    {
      // `t2s sync` has the completed job on its disk at `path`: from now on the qBittorrent API calls it complete.
      method: "POST", path: "/api/jobs/:id/delivered", access: "caller",
      run: async ({ req, params }) => {
        let path: unknown;
        try {
          path = (JSON.parse(req.body.toString("utf8")) as { path?: unknown } | null)?.path;
        } catch {
          /* answered below */
        }
        if (typeof path !== "string" || !path.startsWith("/") || path.length > 4096 || /[\u0000-\u001f]/.test(path)) {
          throw new AppError("invalid_request", 'Send {"path": "/absolute/path/of/the/copy"}.');
        }
        const id = params[0] ?? "";
        const cur = isJobId(id) ? await d.registry.record(id) : null;
        if (!cur) throw new AppError("not_found", "No job has that id.");
        if (cur.job.status !== "completed") throw new AppError("conflict", `This job is ${cur.job.status}; only a completed job can be delivered.`);
        const rec = await d.registry.update(id, (r) => (r ? deliver(r, path, d.now()) : null));
        d.log.info("job delivered", { job: id });
        return { status: 200, headers: { ...baseHeaders, "content-type": "application/json; charset=utf-8" }, body: JSON.stringify({ job: presentJob(rec ?? cur, d, d.now()) }) };
      },
    },
  ];
}
