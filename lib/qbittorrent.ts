// How a job looks to a qBittorrent WebUI API v2 client (Sonarr, Radarr, Prowlarr): states, fields and
// their exact JSON types, as Debian's qbittorrent-nox 4.5.2 (WebUI API 2.8.19) sends them. Pure.
//
// The media apps import from content_path the moment a torrent looks complete, on their own disk; so a
// job is complete here only once `t2s sync` reports it on disk (job.delivered), and it then shows as
// pausedUP, the one state in which Sonarr and Radarr may remove it after import.
import { resolveSelection } from "./file-selection.ts";
import { selectionOf, type JobRecord } from "./job-record.ts";
import { filesExpired, isTerminal, type Job, type Requester } from "./job.ts";
import { safeRelativePath } from "./safepath.ts";

export const qbtVersion = "v4.5.2";
export const qbtWebApiVersion = "2.8.19";
/** Who a qBittorrent client's jobs are asked for (their file choice is kept under this requester). */
export const qbtRequester: Requester = { via: "api", user: "qbittorrent" };
/** qBittorrent's "infinite" eta. */
export const etaUnknown = 8_640_000;
/** Where the content is, seen from the sync agent's machine, until `t2s sync` sets its folder. */
export const defaultSavePath = "/downloads";

/** What a qBittorrent client set that means nothing to us: kept on the record, shown back, never acted on. */
export interface QbtExtras {
  paused?: boolean;
  forceStart?: boolean;
  topPrio?: boolean;
  ratioLimit?: number;
  seedingTimeLimit?: number;
  inactiveSeedingTimeLimit?: number;
  /** File index -> priority (0 skip, 1 normal, 6 high, 7 max), as set; 0 and the rest choose the files to fetch too. */
  filePrio?: Record<string, number>;
}

export type QbtRecord = JobRecord & { qbt?: QbtExtras };

// ---- The changes a qBittorrent client makes to a job: named, pure, written through the one update path ----

const tagged = (job: Job, tags: string[]): Job => (tags.length ? { ...job, tags: [...new Set([...(job.tags ?? []), ...tags])] } : job);

/** Records what a client set that means nothing to us (share limits, force start, file priorities). */
export function recordExtras(rec: QbtRecord, patch: QbtExtras): QbtRecord {
  return { ...rec, qbt: { ...rec.qbt, ...patch } };
}

/** A torrent added through the API: filed under its category and tags; one removed before is shown again, afresh. */
export function fileAdded(rec: QbtRecord, o: { category: string | null; tags: string[]; extras: QbtExtras }): QbtRecord {
  const { removed, delivered, ...rest } = rec.job;
  const job = tagged({ ...rest, ...(removed ? {} : delivered ? { delivered } : {}), ...(o.category ? { category: o.category } : {}) }, o.tags);
  return recordExtras({ ...rec, job }, o.extras);
}

/** Sets the category ("" clears it). */
export function setCategory(rec: QbtRecord, name: string): QbtRecord {
  const { category: _c, ...job } = rec.job;
  return { ...rec, job: name === "" ? job : { ...job, category: name } };
}

export function addTags(rec: QbtRecord, tags: string[]): QbtRecord {
  return { ...rec, job: tagged(rec.job, tags) };
}

/**
 * A client's delete: the job leaves the client's list; a running one is cancelled, and with `withFiles` a
 * completed one's files expire now.
 */
export function removeForClient(rec: QbtRecord, withFiles: boolean, now: string): QbtRecord {
  const job: Job = { ...rec.job, removed: { at: now, files: withFiles }, updatedAt: now };
  if (!isTerminal(job.status)) Object.assign(job, { status: "cancelled", rate: 0, eta: null });
  else if (withFiles && job.status === "completed" && !filesExpired(job, now)) job.expiresAt = now;
  return { ...rec, job };
}

/** `t2s sync` has the completed job's files on its disk at `path`; null: not completed, or known already. */
export function deliver(rec: QbtRecord, path: string, now: string): QbtRecord | null {
  if (rec.job.status !== "completed" || rec.job.delivered?.path === path) return null;
  return { ...rec, job: { ...rec.job, delivered: { path, at: now }, updatedAt: now } };
}

/** qBittorrent's rule for category names: not empty, no leading or trailing "/", no "//", no "\\". */
export function validCategory(name: string): boolean {
  return name !== "" && name.length <= 200 && !name.startsWith("/") && !name.endsWith("/") && !name.includes("//") &&
    // eslint-disable-next-line no-control-regex
    !/[\\\u0000-\u001f]/.test(name);
}

/** Tags as qBittorrent takes them: comma-separated, trimmed, no empties, no duplicates. */
export function parseTags(raw: string): string[] {
  return [...new Set(raw.split(",").map((t) => t.trim()).filter((t) => t !== "" && t.length <= 100))];
}

/** The folder `t2s sync` puts a job in, relative to its DIR: <category>/<safe torrent name>. */
export function syncRelativeDir(job: Pick<Job, "category" | "name" | "id">): string {
  const cat = job.category ? job.category.split("/") : [];
  return safeRelativePath([...cat, job.name || job.id]);
}

const joinPath = (a: string, b: string) => (b === "" ? a : `${a.replace(/\/+$/, "")}/${b}`);

export function savePathOf(job: Job, savePath: string): string {
  return joinPath(savePath, job.category ? safeRelativePath(job.category.split("/")) : "");
}

export function contentPathOf(job: Job, savePath: string): string {
  return job.delivered?.path ?? joinPath(savePath, syncRelativeDir(job));
}

const secs = (iso: string | null | undefined) => (iso ? Math.floor(Date.parse(iso) / 1000) : 0);

/** The qBittorrent state of a job. Completed in storage but not yet on the agent's disk is still downloading. */
export function qbtState(rec: QbtRecord, now: string): string {
  const job = rec.job;
  if (job.delivered) return "pausedUP";
  const force = rec.qbt?.forceStart === true;
  switch (job.status) {
    case "queued":
      return job.size === null ? "metaDL" : "queuedDL";
    case "downloading":
      return job.size === null ? "metaDL" : force ? "forcedDL" : "downloading";
    case "uploading":
      return force ? "forcedDL" : "downloading";
    case "completed":
      return job.expiresAt !== null && job.expiresAt <= now ? "missingFiles" : force ? "forcedDL" : "downloading";
    case "expired":
      return "missingFiles";
    case "failed":
    case "cancelled":
      return "error";
  }
}

/** Progress as qBittorrent shows it: the last 1 % is the copy onto the agent's disk. */
export function qbtProgress(job: Job): number {
  if (job.delivered) return 1;
  const p = job.status === "completed" ? 1 : Math.min(Math.max(job.progress, 0), 1);
  return Math.floor(p * 0.99 * 10_000) / 10_000;
}

function magnetOf(job: Job): string {
  return `magnet:?xt=urn:btih:${job.id}${job.name && job.name !== job.id ? `&dn=${encodeURIComponent(job.name)}` : ""}`;
}

/** One entry of torrents/info: every field qbittorrent-nox 4.5.2 sends, with its type. */
export function torrentInfo(rec: QbtRecord, o: { savePath: string; now: string }) {
  const job = rec.job;
  const x = rec.qbt ?? {};
  const size = job.size ?? 0;
  const progress = qbtProgress(job);
  const done = Math.floor(size * progress);
  const delivered = job.delivered !== undefined && job.delivered !== null;
  const state = qbtState(rec, o.now);
  const running = state === "downloading" || state === "forcedDL" || state === "metaDL";
  return {
    added_on: secs(job.createdAt),
    amount_left: size - done,
    auto_tmm: false,
    availability: running ? 1 : 0,
    category: job.category ?? "",
    completed: done,
    completion_on: delivered ? secs(job.delivered!.at) : 0,
    content_path: contentPathOf(job, o.savePath),
    dl_limit: 0,
    dlspeed: running ? Math.round(job.rate) : 0,
    download_path: "",
    downloaded: job.downloaded,
    downloaded_session: job.downloaded,
    eta: delivered ? etaUnknown : job.eta !== null && running ? Math.round(job.eta) : etaUnknown,
    f_l_piece_prio: false,
    force_start: x.forceStart === true,
    hash: job.id,
    infohash_v1: job.id,
    infohash_v2: "",
    last_activity: secs(job.updatedAt),
    magnet_uri: magnetOf(job),
    max_ratio: -1,
    max_seeding_time: -1,
    name: job.name,
    num_complete: 0,
    num_incomplete: 0,
    num_leechs: 0,
    num_seeds: 0,
    priority: delivered ? 0 : x.topPrio ? 1 : 2,
    progress,
    ratio: 0,
    ratio_limit: x.ratioLimit ?? -2,
    save_path: savePathOf(job, o.savePath),
    seeding_time: 0,
    seeding_time_limit: x.seedingTimeLimit ?? -2,
    seen_complete: 0,
    seq_dl: false,
    size,
    state,
    super_seeding: false,
    tags: (job.tags ?? []).join(", "),
    time_active: Math.max(0, secs(o.now) - secs(job.createdAt)),
    total_size: job.size ?? -1,
    tracker: "",
    trackers_count: 0,
    up_limit: 0,
    uploaded: 0,
    uploaded_session: 0,
    upspeed: 0,
  };
}
export type TorrentInfo = ReturnType<typeof torrentInfo>;

/** torrents/properties, with qbittorrent-nox's fields and types. */
export function torrentProperties(rec: QbtRecord, o: { savePath: string; now: string }) {
  const i = torrentInfo(rec, o);
  return {
    addition_date: i.added_on,
    comment: "",
    completion_date: i.completion_on || -1,
    created_by: "",
    creation_date: i.added_on,
    dl_limit: -1,
    dl_speed: i.dlspeed,
    dl_speed_avg: i.dlspeed,
    download_path: "",
    eta: i.eta,
    hash: i.hash,
    infohash_v1: i.infohash_v1,
    infohash_v2: "",
    is_private: false,
    last_seen: -1,
    name: i.name,
    nb_connections: 0,
    nb_connections_limit: 100,
    peers: 0,
    peers_total: 0,
    piece_size: -1,
    pieces_have: 0,
    pieces_num: -1,
    reannounce: 0,
    save_path: i.save_path,
    seeding_time: 0,
    seeds: 0,
    seeds_total: 0,
    share_ratio: 0,
    time_elapsed: i.time_active,
    total_downloaded: i.downloaded,
    total_downloaded_session: i.downloaded,
    total_size: i.total_size,
    total_uploaded: 0,
    total_uploaded_session: 0,
    total_wasted: 0,
    up_limit: -1,
    up_speed: 0,
    up_speed_avg: 0,
  };
}

/** The files chosen by the qBittorrent requester (theirs, or every file), as indexes into `paths`. */
export function qbtChosen(rec: QbtRecord, paths: readonly string[]): number[] {
  const mine = rec.job.requesters.find((q) => q.via === qbtRequester.via && q.user === qbtRequester.user);
  return resolveSelection(mine ? (mine.files ?? null) : selectionOf(rec.job), paths).indexes;
}

/**
 * torrents/files. With the job's .torrent (`all`), every file of the torrent at its own index, the ones
 * not chosen at priority 0, as qBittorrent lists them; otherwise the files the manifest lists, once complete.
 */
export function torrentFiles(rec: QbtRecord, all: readonly { path: string; size: number }[] | null = null) {
  const progress = qbtProgress(rec.job);
  const prio = rec.qbt?.filePrio ?? {};
  const chosen = all ? new Set(qbtChosen(rec, all.map((f) => f.path))) : null;
  return (all ?? rec.job.files).map((f, index) => ({
    availability: 0,
    index,
    ...(index === 0 ? { is_seed: progress === 1 } : {}),
    name: f.path,
    piece_range: [0, 0],
    priority: chosen && !chosen.has(index) ? 0 : (prio[String(index)] ?? 1),
    progress: chosen && !chosen.has(index) ? 0 : progress,
    size: f.size,
  }));
}

const downloadingStates = new Set(["downloading", "metaDL", "stalledDL", "queuedDL", "pausedDL", "forcedDL", "checkingDL", "allocating"]);
const seedingStates = new Set(["uploading", "stalledUP", "forcedUP", "queuedUP"]);
const completedStates = new Set([...seedingStates, "pausedUP", "checkingUP"]);

/** torrents/info's `filter`; an unknown filter lists all, as qbittorrent-nox does. */
export function matchesFilter(i: TorrentInfo, filter: string): boolean {
  const s = i.state;
  switch (filter) {
    case "downloading": return downloadingStates.has(s);
    case "seeding": return seedingStates.has(s);
    case "completed": return completedStates.has(s);
    case "paused": case "stopped": return s === "pausedDL" || s === "pausedUP";
    case "resumed": case "running": return s !== "pausedDL" && s !== "pausedUP";
    case "active": return i.dlspeed > 0 || i.upspeed > 0;
    case "inactive": return i.dlspeed === 0 && i.upspeed === 0;
    case "stalled": return s === "stalledDL" || s === "stalledUP";
    case "stalled_uploading": return s === "stalledUP";
    case "stalled_downloading": return s === "stalledDL";
    case "errored": return s === "error" || s === "missingFiles" || s === "unknown";
    default: return true;
  }
}

/** The preferences Sonarr and Radarr read. Share limits: a ratio of 0, paused when reached, so a delivered job may be removed after import. */
export function preferences(savePath: string) {
  return {
    auto_tmm_enabled: false,
    dht: true,
    export_dir: "",
    export_dir_fin: "",
    locale: "en",
    max_active_downloads: 100,
    max_active_torrents: 200,
    max_active_uploads: 100,
    max_ratio: 0,
    max_ratio_act: 0,
    max_ratio_enabled: true,
    max_seeding_time: -1,
    max_seeding_time_enabled: false,
    queueing_enabled: true,
    save_path: savePath,
    scan_dirs: {},
    start_paused_enabled: false,
    temp_path: `${savePath.replace(/\/+$/, "")}/.t2s-partial`,
    temp_path_enabled: false,
    torrent_content_layout: "Original",
    web_ui_username: "t2s",
  };
}
