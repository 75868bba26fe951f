// The page: sign in, add a torrent three ways, and follow jobs live over SSE.
// Every name from a torrent is set as text (textContent), never as HTML.
interface JobFile { path: string; size: number; url?: string }
interface Job {
  id: string; name: string; status: string; progress: number; size: number | null; downloaded: number;
  rate: number; eta: number | null; files: JobFile[]; error: { code: string; message: string } | null; createdAt: string;
}
interface ApiResult { status: number; body: { job?: Job; signedIn?: boolean; error?: { code: string; message: string } } }

const maxTorrentBytes = 10 * 1024 * 1024;
const live = new Set(["queued", "downloading", "uploading"]);
const statusWords: Record<string, string> = {
  queued: "Queued", downloading: "Downloading", uploading: "Uploading to S3", completed: "Done", failed: "Failed", cancelled: "Cancelled",
};

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const rows = new Map<string, { job: Job; li: HTMLLIElement }>();
let events: EventSource | null = null;

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

function fileList(j: Job): HTMLUListElement {
  const ul = el("ul", undefined, "files");
  for (const f of j.files) {
    const li = el("li");
    const a = el("a", f.path);
    if (f.url) a.href = f.url;
    li.append(a, el("span", ` (${bytes(f.size)})`, "meta"));
    if (f.url) {
      const url = f.url;
      const copy = button("Copy link", `Copy link to ${f.path}`, () => {
        navigator.clipboard.writeText(url).then(() => { copy.textContent = "Copied"; }, () => { copy.textContent = "Copy failed"; });
      });
      li.append(copy);
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
  if (j.error) li.append(el("div", `Why: ${j.error.message}`, "error"));
  if (j.status === "completed") li.append(fileList(j));
  if (live.has(j.status)) li.append(button("Cancel", `Cancel ${j.name}`, () => void cancel(j)));
  return li;
}

function show(j: Job): void {
  const old = rows.get(j.id);
  if (old && JSON.stringify(old.job) === JSON.stringify(j)) return;
  const li = jobRow(j);
  const hadFocus = old?.li.contains(document.activeElement) ?? false;
  if (old) old.li.replaceWith(li);
  rows.set(j.id, { job: j, li });
  const list = $("jobs");
  const sorted = [...rows.values()].sort((a, b) => b.job.createdAt.localeCompare(a.job.createdAt));
  sorted.forEach((r, i) => { if (list.children[i] !== r.li) list.insertBefore(r.li, list.children[i] ?? null); });
  if (hadFocus) (li.querySelector("button, a") as HTMLElement | null)?.focus();
  $("empty").hidden = rows.size > 0;
}

async function api(method: string, path: string, body?: unknown): Promise<ApiResult> {
  const res = await fetch(path, {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
    credentials: "same-origin",
  });
  return { status: res.status, body: await res.json().catch(() => ({})) };
}

async function cancel(j: Job): Promise<void> {
  if (!confirm(`Cancel “${j.name}”? Its download stops and its files are removed.`)) return;
  const r = await api("DELETE", `/api/jobs/${j.id}`);
  if (r.body.job) show(r.body.job);
}

function setConn(state: "live" | "down" | "", text: string): void {
  const c = $("conn");
  c.dataset.state = state;
  c.textContent = text;
}

function connect(): void {
  events?.close();
  const es = new EventSource("/api/events");
  events = es;
  es.onopen = () => setConn("live", "Live");
  es.onerror = () => {
    setConn("down", "Reconnecting…");
    // The browser retries by itself, unless the server refused the stream (signed out, say).
    if (es.readyState === EventSource.CLOSED) {
      void api("GET", "/api/session").then((r) => (r.body.signedIn ? setTimeout(() => events === es && connect(), 3000) : signedIn(false)));
    }
  };
  es.onmessage = (e) => show((JSON.parse(e.data) as { job: Job }).job);
}

function signedIn(yes: boolean): void {
  $("signin").hidden = yes;
  $("app").hidden = !yes;
  $("signout").hidden = !yes;
  if (yes) return connect();
  events?.close();
  events = null;
  setConn("", "");
  rows.clear();
  $("jobs").replaceChildren();
  $("empty").hidden = false;
}

function fileToBase64(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ""));
    r.onerror = () => reject(r.error ?? new Error("could not read the file"));
    r.readAsDataURL(file);
  });
}

/** The submission for the form's content, or a message saying what is wrong with it. */
async function submission(file: File | undefined, link: string): Promise<Record<string, string> | string> {
  if (file && link) return "Choose a file or paste a link, not both.";
  if (file) {
    if (!/\.torrent$/i.test(file.name)) return "That file is not a .torrent file.";
    if (file.size > maxTorrentBytes) return "That file is larger than 10 MiB; a .torrent file is much smaller.";
    return { torrent: await fileToBase64(file) };
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
  if (r.status === 200) { token.value = ""; signedIn(true); }
});

$("signout").addEventListener("click", async () => {
  await api("DELETE", "/api/session");
  signedIn(false);
  $<HTMLInputElement>("token").focus();
});

$("add-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target as HTMLFormElement;
  const err = $("add-error");
  const add = $<HTMLButtonElement>("add");
  add.disabled = true;
  try {
    const body = await submission($<HTMLInputElement>("file").files?.[0], $<HTMLInputElement>("link").value.trim());
    if (typeof body === "string") return void (err.textContent = body);
    const r = await api("POST", "/api/jobs", body);
    if (!r.body.job) return void (err.textContent = r.body.error?.message ?? `The server answered ${r.status}.`);
    err.textContent = "";
    form.reset();
    show(r.body.job);
  } catch {
    err.textContent = "Could not reach the server; try again.";
  } finally {
    add.disabled = false;
  }
});

// A .torrent dropped anywhere on the page goes into the file field.
document.addEventListener("dragover", (e) => { e.preventDefault(); document.body.classList.add("dragging"); });
document.addEventListener("dragleave", (e) => { if (!e.relatedTarget) document.body.classList.remove("dragging"); });
document.addEventListener("drop", (e) => {
  e.preventDefault();
  document.body.classList.remove("dragging");
  const files = e.dataTransfer?.files;
  if (files && files.length > 0 && !$("app").hidden) $<HTMLInputElement>("file").files = files;
});

void api("GET", "/api/session").then((r) => signedIn(r.body.signedIn === true));
