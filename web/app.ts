// The page: sign in, add a torrent three ways, list jobs page by page, and follow them live: over SSE
// (local mode) or by polling the change feed (AWS mode, where a Lambda cannot hold a stream open).
// Every name from a torrent is set as text (textContent), never as HTML.
import bencode from "bencode";
import type { Job, JobFile } from "../lib/job.ts";

interface Body {
  job?: Job; jobs?: Job[]; next?: string | null; cursor?: string;
  signedIn?: boolean; live?: "events" | "changes"; error?: { code: string; message: string };
}
interface ApiResult { status: number; body: Body }

const maxTorrentBytes = 10 * 1024 * 1024;
const live = new Set(["queued", "downloading", "uploading"]);
const statusWords: Record<string, string> = {
  queued: "Queued", downloading: "Downloading", uploading: "Uploading to S3", completed: "Done", failed: "Failed", cancelled: "Cancelled", expired: "Expired",
};
/** Change-feed polling (AWS mode): every second while the tab is seen, every 10 s in the background. */
const pollMs = { visible: 1000, hidden: 10_000, maxBackoff: 30_000 };

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const rows = new Map<string, { job: Job; li: HTMLLIElement }>();
/** The cursor of the next page of the list; null when every page is shown. */
let next: string | null = null;
let pagesShown = 0;
/** Bumped on every sign-in and sign-out: work started under an older one stops. */
let epoch = 0;
let events: EventSource | null = null;
let wake: (() => void) | null = null;

function bytes(n: number | null): string {
  if (n === null) return "size unknown";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function duration(s: number): string {
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function button(text: string, label: string, onClick: () => void): HTMLButtonElement {
  const b = el("button", text, "secondary");
  b.type = "button";
  b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

/** What the browser can show in place, by extension: its own players for media, text as text. */
const kinds: [RegExp, "video" | "audio" | "image" | "text"][] = [
  [/\.(mp4|m4v|webm|ogv|mov)$/i, "video"],
  [/\.(mp3|m4a|aac|oga|ogg|opus|flac|wav)$/i, "audio"],
  [/\.(jpe?g|png|gif|webp|avif|bmp)$/i, "image"],
  [/\.(txt|md|nfo|log|srt|vtt|csv|json|xml|ya?ml|ini|cue|sfv|m3u8?)$/i, "text"],
];
const kindOf = (path: string) => kinds.find(([re]) => re.test(path))?.[1] ?? null;
const actionWord = { video: "Play", audio: "Play", image: "Show", text: "Show" } as const;

/** The in-place view of a file, from its signed link (which redirects to the presigned URL). */
function viewer(f: JobFile & { url: string }, kind: NonNullable<ReturnType<typeof kindOf>>): HTMLElement {
  if (kind === "video" || kind === "audio") {
    // The browser's own controls, no autoplay; metadata first, then Range requests as one plays or seeks.
    const m = document.createElement(kind);
    m.controls = true;
    m.preload = "metadata";
    m.src = f.url;
    m.setAttribute("aria-label", f.path);
    m.className = "player";
    return m;
  }
  if (kind === "image") {
    const img = el("img", undefined, "player");
    img.alt = f.path;
    img.src = f.url;
    return img;
  }
  const pre = el("pre", "Loading…", "player text");
  void fetch(`${f.url}&view=text`, { credentials: "same-origin" }).then(async (r) => {
    if (!r.ok) return void (pre.textContent = `Could not load the text (${r.status}).`);
    pre.textContent = await r.text() + (r.headers.get("x-t2s-truncated") === "1" ? "\n… (only the start is shown; download it for the rest)" : "");
  }, () => { pre.textContent = "Could not load the text."; });
  return pre;
}

function fileList(j: Job): HTMLUListElement {
  const ul = el("ul", undefined, "files");
  for (const f of j.files) {
    const li = el("li");
    const a = el("a", f.path);
    if (f.url) a.href = f.url;
    li.append(a, el("span", ` (${bytes(f.size)})`, "meta"));
    if (f.url) {
      const file = { ...f, url: f.url };
      const copy = button("Copy link", `Copy link to ${f.path}`, () => {
        navigator.clipboard.writeText(file.url).then(() => { copy.textContent = "Copied"; }, () => { copy.textContent = "Copy failed"; });
      });
      li.append(copy);
      const kind = kindOf(f.path);
      if (kind) {
        let shown: HTMLElement | null = null;
        const toggle = button(actionWord[kind], `${actionWord[kind]} ${f.path}`, () => {
          if (shown) {
            shown.remove();
            shown = null;
            toggle.textContent = actionWord[kind];
            return;
          }
          shown = viewer(file, kind);
          li.append(shown);
          toggle.textContent = "Hide";
        });
        li.append(toggle);
      }
    }
    ul.append(li);
  }
  return ul;
}

/** Builds a job's row anew; rows are replaced only when their job changed, so focus elsewhere stays put. */
function jobRow(j: Job): HTMLLIElement {
  const li = el("li", undefined, "job");
  li.dataset.id = j.id;
  li.dataset.status = j.status;
  const bar = el("progress");
  bar.max = 1;
  bar.value = j.progress;
  bar.setAttribute("aria-label", `Progress of ${j.name}`);
  const parts = [bytes(j.size), `${Math.round(j.progress * 100)} %`];
  if (live.has(j.status) && j.rate > 0) parts.push(`${bytes(j.rate)}/s`);
  if (live.has(j.status) && j.eta !== null) parts.push(`${duration(j.eta)} left`);
  li.append(el("div", j.name, "name"), el("div", `Status: ${statusWords[j.status] ?? j.status}`, "status"), bar, el("div", parts.join(" · "), "meta"));
  // Which seedbox works on it: a small aside, for whoever runs several.
  if (j.seedbox) li.append(el("div", `on ${j.seedbox}`, "meta seedbox"));
  if (j.error) li.append(el("div", `Why: ${j.error.message}`, "error"));
  if (j.status === "queued" && j.reason === "budget") li.append(el("div", "Waiting: this month's budget is reached. It starts when the budget is raised or next month.", "meta budget"));
  // The estimate, kept quiet: hundredths of a cent are noise.
  if (j.cost && j.cost.usd >= 0.005) li.append(el("div", `≈ $${j.cost.usd.toFixed(2)}`, "meta cost"));
  if (j.status === "completed" && j.zip) {
    const z = el("div", undefined, "meta zip");
    const a = el("a", `Download all as one zip (${bytes(j.zip.size)})`);
    a.href = j.zip.url;
    z.append(a);
    li.append(z);
  }
  if (j.status === "completed" || j.status === "expired") li.append(fileList(j));
  if (j.status === "completed" && j.expiresAt) li.append(el("div", `Files kept until ${new Date(j.expiresAt).toLocaleDateString()}`, "meta"));
  if (j.status === "expired") li.append(el("div", "These files have expired. Add the torrent again to download it anew.", "meta"));
  if (live.has(j.status)) li.append(button("Cancel", `Cancel ${j.name}`, () => void cancel(j)));
  if (j.status === "completed") li.append(button("Delete files", `Delete the files of ${j.name}`, () => void deleteFiles(j)));
  return li;
}

/** Newest first, as the server pages them: by createdAt, then id. */
const newer = (a: Job, b: Job) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id);

/** Shows jobs, keeping the newest copy of each: an older copy (a late page, a repeat) never wins. */
function show(...jobs: Job[]): void {
  let added = false;
  let focus: HTMLLIElement | null = null;
  for (const j of jobs) {
    const old = rows.get(j.id);
    // Expiry is shown, not stored (the same updatedAt): once seen expired, a job stays so.
    if (old && (j.updatedAt < old.job.updatedAt || (j.updatedAt === old.job.updatedAt && old.job.status === "expired") || JSON.stringify(old.job) === JSON.stringify(j))) continue;
    const li = jobRow(j);
    if (old?.li.contains(document.activeElement)) focus = li;
    if (old) old.li.replaceWith(li);
    else added = true;
    rows.set(j.id, { job: j, li });
  }
  (focus?.querySelector("button, a") as HTMLElement | null)?.focus();
  if (!added) return;
  const list = $("jobs");
  const sorted = [...rows.values()].sort((a, b) => newer(a.job, b.job));
  sorted.forEach((r, i) => { if (list.children[i] !== r.li) list.insertBefore(r.li, list.children[i] ?? null); });
  $("empty").hidden = rows.size > 0;
}

/**
 * The body's SHA-256 in hex: CloudFront's origin access control for the API (AWS mode) needs it on
 * every body. WebCrypto exists only in secure contexts (HTTPS, localhost); plain HTTP on another host
 * can only be local mode, which does not need it.
 */
async function bodyHash(text: string): Promise<Record<string, string>> {
  if (!globalThis.crypto?.subtle) return {};
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return { "x-amz-content-sha256": Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("") };
}

async function api(method: string, path: string, body?: unknown): Promise<ApiResult> {
  const text = body ? JSON.stringify(body) : undefined;
  const res = await fetch(path, {
    method,
    headers: text !== undefined ? { "content-type": "application/json", ...(await bodyHash(text)) } : {},
    body: text,
    credentials: "same-origin",
  });
  return { status: res.status, body: await res.json().catch(() => ({})) };
}

async function cancel(j: Job): Promise<void> {
  if (!confirm(`Cancel “${j.name}”? Its download stops and its files are removed.`)) return;
  const r = await api("DELETE", `/api/jobs/${j.id}`);
  if (r.body.job) show(r.body.job);
}

async function deleteFiles(j: Job): Promise<void> {
  if (!confirm(`Delete the files of “${j.name}” from storage now? Its links stop working.`)) return;
  const r = await api("DELETE", `/api/jobs/${j.id}/files`);
  if (r.body.job) show(r.body.job);
}

function setConn(state: "live" | "down" | "", text: string): void {
  const c = $("conn");
  c.dataset.state = state;
  c.textContent = text;
}

/** Loads a page of the list (the first when `cursor` is null). False when it failed. */
async function loadPage(cursor: string | null, my: number): Promise<boolean> {
  const r = await api("GET", cursor ? `/api/jobs?cursor=${encodeURIComponent(cursor)}` : "/api/jobs").catch(() => null);
  if (my !== epoch) return true;
  if (r?.status === 401) return signedIn(false), true;
  if (!r || !r.body.jobs) return false;
  show(...r.body.jobs);
  // A reload of the first page keeps the place of pages loaded after it.
  if (cursor !== null || pagesShown <= 1) next = r.body.next ?? null;
  pagesShown = cursor === null ? Math.max(pagesShown, 1) : pagesShown + 1;
  $("more").hidden = next === null;
  return true;
}

/** Live updates over SSE: after each (re)connection, the first page is loaded again to catch up. */
function connect(my: number): void {
  events?.close();
  const es = new EventSource("/api/events");
  events = es;
  es.onopen = () => {
    setConn("live", "Live");
    void loadPage(null, my);
  };
  es.onerror = () => {
    setConn("down", "Reconnecting…");
    // The browser retries by itself, unless the server refused the stream (signed out, say).
    if (es.readyState === EventSource.CLOSED) {
      void api("GET", "/api/session").then((r) => (r.body.signedIn ? setTimeout(() => events === es && connect(my), 3000) : signedIn(false)), () => setTimeout(() => events === es && connect(my), 3000));
    }
  };
  es.onmessage = (e) => show((JSON.parse(e.data) as { job: Job }).job);
}

/** Waits `ms`, or less when the tab comes back into view. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() { clearTimeout(t); wake = null; resolve(); }
    wake = done;
  });
}

/**
 * Live updates by polling the change feed. The cursor is taken before the first page is loaded, so a
 * change in between comes through the feed; a cursor the server refuses starts over the same way.
 */
async function poll(my: number): Promise<void> {
  let cursor: string | null = null;
  let failures = 0;
  while (my === epoch) {
    let ok = false;
    let again = false;
    try {
      const r = await api("GET", cursor === null ? "/api/changes" : `/api/changes?since=${encodeURIComponent(cursor)}&limit=200`);
      if (my !== epoch) return;
      if (r.status === 401) return signedIn(false);
      if (r.status === 400) cursor = null;
      else if (r.body.cursor) {
        if (cursor === null) ok = await loadPage(null, my);
        else ok = true;
        if (ok) {
          show(...(r.body.jobs ?? []));
          again = cursor !== null && (r.body.jobs?.length ?? 0) >= 200; // more are waiting: ask again at once
          cursor = r.body.cursor;
        }
      }
    } catch {
      /* not reachable: try again after a while */
    }
    if (my !== epoch) return;
    setConn(ok ? "live" : "down", ok ? "Live" : "Reconnecting…");
    failures = ok ? 0 : failures + 1;
    if (!again) await pause(ok ? (document.hidden ? pollMs.hidden : pollMs.visible) : Math.min(pollMs.maxBackoff, pollMs.visible * 2 ** failures));
  }
}

document.addEventListener("visibilitychange", () => { if (!document.hidden) wake?.(); });

async function startLive(mode: Body["live"], my: number): Promise<void> {
  if (mode === "changes") return poll(my);
  connect(my);
}

function signedIn(yes: boolean, mode?: Body["live"]): void {
  epoch++;
  events?.close();
  events = null;
  wake?.();
  $("signin").hidden = yes;
  $("app").hidden = !yes;
  $("signout").hidden = !yes;
  setConn("", "");
  rows.clear();
  next = null;
  pagesShown = 0;
  $("jobs").replaceChildren();
  $("more").hidden = true;
  $("more").textContent = "Load more";
  $("empty").hidden = false;
  if (yes) void startLive(mode, epoch);
}

function fileToBase64(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ""));
    r.onerror = () => reject(r.error ?? new Error("could not read the file"));
    r.readAsDataURL(file);
  });
}

/** Files listed with a checkbox each at most: a bigger torrent is fetched whole from here (t2s add --only chooses). */
const maxListed = 1000;

/** A .torrent's files (path, torrent folder first, and size) in the torrent's order; null if it cannot be read (ingest says why). */
function torrentFiles(buf: Uint8Array): { path: string; size: number }[] | null {
  try {
    const info = (bencode.decode(buf) as { info?: Record<string, unknown> }).info;
    const text = (v: unknown) => (v instanceof Uint8Array ? new TextDecoder().decode(v) : null);
    const name = text(info?.["name.utf-8"]) ?? text(info?.name);
    if (!info || name === null) return null;
    if (!Array.isArray(info.files)) return typeof info.length === "number" ? [{ path: name, size: info.length }] : null;
    return info.files.map((f: { length: number; path: Uint8Array[]; "path.utf-8"?: Uint8Array[] }) => ({
      path: [name, ...(f["path.utf-8"] ?? f.path).map((p) => text(p) ?? "")].join("/"), size: f.length,
    }));
  } catch {
    return null;
  }
}

/** Lists a chosen .torrent's files, each with a checkbox (all checked), and the total of those checked. */
async function showChoice(file: File | undefined): Promise<void> {
  const box = $("choose");
  const list = $("choose-list");
  list.replaceChildren();
  box.hidden = true;
  if (!file || file.size > maxTorrentBytes) return;
  const files = torrentFiles(new Uint8Array(await file.arrayBuffer()));
  if (!files || files.length < 2 || files.length > maxListed || $<HTMLInputElement>("file").files?.[0] !== file) return;
  files.forEach((f, i) => {
    const check = el("input");
    check.type = "checkbox";
    check.checked = true;
    check.value = String(i);
    check.dataset.size = String(f.size);
    const label = el("label");
    label.append(check, el("span", f.path), el("span", bytes(f.size), "size"));
    const li = el("li");
    li.append(label);
    list.append(li);
  });
  box.hidden = false;
  total();
}

function checkedBoxes(): HTMLInputElement[] {
  return [...$("choose-list").querySelectorAll<HTMLInputElement>("input[type=checkbox]")];
}

function total(): void {
  const all = checkedBoxes();
  const on = all.filter((c) => c.checked);
  $("choose-total").textContent = `${on.length} of ${all.length} files, ${bytes(on.reduce((n, c) => n + Number(c.dataset.size), 0))}`;
}

/** The files chosen on the form: null when every one is (or none was listed), else their indexes. */
function chosenFiles(): number[] | null {
  if ($("choose").hidden) return null;
  const all = checkedBoxes();
  const on = all.filter((c) => c.checked).map((c) => Number(c.value));
  return on.length === all.length ? null : on;
}

/** The submission for the form's content, or a message saying what is wrong with it. */
async function submission(file: File | undefined, link: string): Promise<Record<string, unknown> | string> {
  if (file && link) return "Choose a file or paste a link, not both.";
  if (file) {
    if (!/\.torrent$/i.test(file.name)) return "That file is not a .torrent file.";
    if (file.size > maxTorrentBytes) return "That file is larger than 10 MiB; a .torrent file is much smaller.";
    const files = chosenFiles();
    if (files?.length === 0) return "Choose at least one file.";
    return { torrent: await fileToBase64(file), ...(files ? { files } : {}) };
  }
  if (/^magnet:\?/i.test(link)) return /xt=urn:bt(ih|mh):/i.test(link) ? { magnet: link } : "That magnet link has no info-hash (xt=urn:btih:…).";
  if (/^https?:\/\/\S+$/i.test(link)) return { url: link };
  if (link) return "Paste a magnet link (magnet:?…) or an http(s) URL of a .torrent file.";
  return "Choose a .torrent file, or paste a magnet link or URL.";
}

$("signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const token = $<HTMLInputElement>("token");
  if (!token.value) return void ($("signin-error").textContent = "Enter your API token.");
  const r = await api("POST", "/api/session", { token: token.value });
  $("signin-error").textContent = r.status === 200 ? "" : r.body.error?.message ?? "Sign-in failed.";
  if (r.status !== 200) return;
  token.value = "";
  // The session says how live updates come (SSE, or the change feed).
  const who = await api("GET", "/api/session").catch(() => null);
  signedIn(true, who?.body.live);
});

$("more").addEventListener("click", async () => {
  const more = $<HTMLButtonElement>("more");
  if (next === null) return;
  more.disabled = true;
  try {
    more.textContent = (await loadPage(next, epoch)) ? "Load more" : "Could not load more; try again";
  } finally {
    more.disabled = false;
  }
});

$("signout").addEventListener("click", async () => {
  await api("DELETE", "/api/session");
  signedIn(false);
  $<HTMLInputElement>("token").focus();
});

$("add-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const err = $("add-error");
  const add = $<HTMLButtonElement>("add");
  const fileField = $<HTMLInputElement>("file");
  const linkField = $<HTMLInputElement>("link");
  // What this add sends: a person may type the next one while it is in flight, and that must stay.
  const file = fileField.files?.[0];
  const link = linkField.value.trim();
  add.disabled = true;
  try {
    const body = await submission(file, link);
    if (typeof body === "string") return void (err.textContent = body);
    const r = await api("POST", "/api/jobs", body);
    if (!r.body.job) return void (err.textContent = r.body.error?.message ?? `The server answered ${r.status}.`);
    err.textContent = "";
    if (file && fileField.files?.[0] === file) (fileField.value = ""), void showChoice(undefined);
    if (link && linkField.value.trim() === link) linkField.value = "";
    show(r.body.job);
  } catch {
    err.textContent = "Could not reach the server; try again.";
  } finally {
    add.disabled = false;
  }
});

$("file").addEventListener("change", () => void showChoice($<HTMLInputElement>("file").files?.[0]));
$("choose-list").addEventListener("change", total);
$("link").addEventListener("input", () => void ($("magnet-hint").hidden = !/^\s*magnet:/i.test($<HTMLInputElement>("link").value)));

// A .torrent dropped anywhere on the page goes into the file field.
document.addEventListener("dragover", (e) => { e.preventDefault(); document.body.classList.add("dragging"); });
document.addEventListener("dragleave", (e) => { if (!e.relatedTarget) document.body.classList.remove("dragging"); });
document.addEventListener("drop", (e) => {
  e.preventDefault();
  document.body.classList.remove("dragging");
  const files = e.dataTransfer?.files;
  if (files && files.length > 0 && !$("app").hidden) {
    $<HTMLInputElement>("file").files = files;
    void showChoice(files[0]);
  }
});

void api("GET", "/api/session").then((r) => signedIn(r.body.signedIn === true, r.body.live));
