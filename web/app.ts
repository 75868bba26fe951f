// The page: sign in, add a torrent three ways, and watch jobs live over SSE. Names render as text only.
interface JobFile { path: string; size: number; url?: string }
interface Job {
  id: string; name: string; status: string; progress: number; size: number | null; downloaded: number;
  rate: number; eta: number | null; files: JobFile[]; error: { code: string; message: string } | null; createdAt: string;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const jobs = new Map<string, Job>();
let events: EventSource | null = null;

function bytes(n: number | null): string {
  if (n === null) return "size unknown";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function render(): void {
  const list = $("jobs");
  const sorted = [...jobs.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  $("empty").hidden = sorted.length > 0;
  list.replaceChildren(...sorted.map((j) => {
    const li = el("li", undefined, "job");
    li.dataset.status = j.status;
    li.dataset.id = j.id;
    li.append(el("strong", j.name), el("div", `${j.status}`, "status"));
    const bar = el("progress");
    bar.max = 1;
    bar.value = j.progress;
    bar.setAttribute("aria-label", `${j.name} progress`);
    li.append(bar);
    const eta = j.eta !== null ? `, ${Math.round(j.eta)} s left` : "";
    li.append(el("div", `${bytes(j.size)} · ${Math.round(j.progress * 100)}% · ${bytes(j.rate)}/s${eta}`, "meta"));
    if (j.error) li.append(el("div", j.error.message, "error"));
    if (j.status === "completed") {
      const files = el("ul");
      for (const f of j.files) {
        const a = el("a", f.path);
        if (f.url) a.href = f.url;
        const item = el("li");
        item.append(a, el("span", ` (${bytes(f.size)})`, "meta"));
        files.append(item);
      }
      li.append(files);
    }
    if (["queued", "downloading", "uploading"].includes(j.status)) {
      const b = el("button", "Cancel");
      b.type = "button";
      b.addEventListener("click", () => void cancel(j));
      li.append(b);
    }
    return li;
  }));
}

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; data: any }> {
  const res = await fetch(path, {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
    credentials: "same-origin",
  });
  const data = await res.json().catch(() => ({}));
  return { status: res.status, data };
}

async function cancel(j: Job): Promise<void> {
  if (!confirm(`Cancel "${j.name}"?`)) return;
  const r = await api("DELETE", `/api/jobs/${j.id}`);
  if (r.data.job) { jobs.set(j.id, r.data.job); render(); }
}

function connect(): void {
  events?.close();
  events = new EventSource("/api/events");
  events.onopen = () => { $("conn").textContent = "Live"; };
  events.onerror = () => { $("conn").textContent = "Reconnecting…"; };
  events.onmessage = (e) => {
    const { job } = JSON.parse(e.data) as { job: Job };
    jobs.set(job.id, job);
    render();
  };
}

function show(signedIn: boolean): void {
  $("signin").hidden = signedIn;
  $("app").hidden = !signedIn;
  $("signout").hidden = !signedIn;
  if (signedIn) connect();
  else { events?.close(); $("conn").textContent = ""; }
}

function fileToBase64(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ""));
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

$("signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const r = await api("POST", "/api/session", { token: $<HTMLInputElement>("token").value });
  $("signin-error").textContent = r.status === 200 ? "" : r.data.error?.message ?? "Sign-in failed.";
  if (r.status === 200) { $<HTMLInputElement>("token").value = ""; show(true); }
});

$("signout").addEventListener("click", async () => {
  await api("DELETE", "/api/session");
  jobs.clear();
  render();
  show(false);
});

$("add-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const file = $<HTMLInputElement>("file").files?.[0];
  const link = $<HTMLInputElement>("link").value.trim();
  const err = $("add-error");
  let body: Record<string, string>;
  if (file && link) { err.textContent = "Choose a file or paste a link, not both."; return; }
  if (file) {
    if (file.size > 10 * 1024 * 1024) { err.textContent = "That file is larger than 10 MiB; it is not a .torrent."; return; }
    body = { torrent: await fileToBase64(file) };
  } else if (/^magnet:\?/i.test(link)) body = { magnet: link };
  else if (/^https?:\/\//i.test(link)) body = { url: link };
  else { err.textContent = "Paste a magnet link (magnet:?…) or an http(s) URL of a .torrent, or choose a file."; return; }
  const button = $<HTMLButtonElement>("add");
  button.disabled = true;
  try {
    const r = await api("POST", "/api/jobs", body);
    if (r.data.job) {
      jobs.set(r.data.job.id, r.data.job);
      render();
      err.textContent = "";
      (e.target as HTMLFormElement).reset();
    } else err.textContent = r.data.error?.message ?? `The server answered ${r.status}.`;
  } finally {
    button.disabled = false;
  }
});

void api("GET", "/api/session").then((r) => show(r.status === 200));
