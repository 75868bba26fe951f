// The text of the bot's messages: the status message of a job, the completion ping, the /jobs list.
// Pure functions, so they are unit-tested without Discord.
import { escapeMarkdown } from "@discordjs/formatters";
import type { Job, JobStatus } from "../lib/job.ts";

/** Discord's limit on a message's content. */
export const maxContent = 2000;
const barWidth = 20;
/** Files linked by name in one message; past that, the job page. */
export const maxLinkedFiles = 10;

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n) || n < 0) return "unknown size";
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ["KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[i]}`;
}

export function formatRate(bytesPerS: number): string {
  return !Number.isFinite(bytesPerS) || bytesPerS <= 0 ? "0 B/s" : `${formatBytes(bytesPerS)}/s`;
}

/** "45s", "3m 05s", "2h 07m", "3d 04h"; "unknown" when there is no estimate. */
export function formatEta(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s) || s < 0) return "unknown";
  const t = Math.round(s);
  if (t < 60) return `${t}s`;
  const pad = (x: number) => String(x).padStart(2, "0");
  if (t < 3600) return `${Math.floor(t / 60)}m ${pad(t % 60)}s`;
  if (t < 86400) return `${Math.floor(t / 3600)}h ${pad(Math.floor((t % 3600) / 60))}m`;
  return `${Math.floor(t / 86400)}d ${pad(Math.floor((t % 86400) / 3600))}h`;
}

/** A text bar: `[██████░░░░░░░░░░░░░░]  30%`, clamped to 0..100 %. */
export function progressBar(progress: number, width = barWidth): string {
  const p = Number.isFinite(progress) ? Math.min(1, Math.max(0, progress)) : 0;
  const full = Math.floor(p * width);
  const pct = Math.floor(p * 100);
  return `[${"█".repeat(full)}${"░".repeat(width - full)}] ${String(pct).padStart(3)}%`;
}

const icons: Record<JobStatus, string> = {
  queued: "⏳", downloading: "⬇️", uploading: "⬆️", completed: "✅", failed: "❌", cancelled: "🚫", expired: "⌛",
};

const words: Record<JobStatus, string> = {
  queued: "queued", downloading: "downloading", uploading: "uploading to storage", completed: "done", failed: "failed", cancelled: "cancelled",
  expired: "expired (files removed)",
};

/** Discord shows `<t:…:D>` as a date in each reader's own time zone. */
function discordDate(iso: string | null | undefined): string | null {
  const ms = iso ? Date.parse(iso) : Number.NaN;
  return Number.isFinite(ms) ? `<t:${Math.floor(ms / 1000)}:D>` : null;
}

/** A name safe to show: one line, no markdown, no mentions (allowed_mentions also stops pings). */
export function displayName(name: string, max = 200): string {
  const line = name.replace(/[\u0000-\u001f\u007f]/g, " ").trim() || "(no name)";
  const cut = line.length > max ? line.slice(0, max - 1) + "…" : line;
  return escapeMarkdown(cut).replace(/@/g, "@\u200b");
}

/** A URL usable inside a markdown link: parentheses and spaces encoded. */
function linkTarget(url: string): string {
  return url.replace(/\(/g, "%28").replace(/\)/g, "%29").replace(/ /g, "%20");
}

/** One line per file with its link, as many as fit, then the page for the rest. */
export function fileLinks(job: Job, publicUrl: string, budget: number): string[] {
  const lines: string[] = [];
  let used = 0;
  let shown = 0;
  for (const f of job.files) {
    if (shown >= maxLinkedFiles) break;
    const base = f.path.split("/").pop() ?? f.path;
    const label = displayName(base, 80).replace(/[[\]]/g, (c) => `\\${c}`);
    const line = f.url ? `• [${label}](${linkTarget(f.url)}) (${formatBytes(f.size)})` : `• ${displayName(base, 80)} (${formatBytes(f.size)})`;
    if (used + line.length + 1 > budget - 120) break;
    lines.push(line);
    used += line.length + 1;
    shown++;
  }
  const rest = job.files.length - shown;
  if (rest > 0) lines.push(`…and ${rest} more file${rest === 1 ? "" : "s"}: see all of them on the page ${publicUrl}/`);
  return lines;
}

/** The link to the zip of all the job's files, when it has one. */
export function zipLine(job: Job): string | null {
  return job.zip ? `📦 [All files as one zip](${linkTarget(job.zip.url)}) (${formatBytes(job.zip.size)})` : null;
}

/** A job held by the budget guard (lib/cost.ts): it starts when the budget is raised or the month turns. */
export const budgetWait = "waiting: this month's budget is reached; it starts when the budget is raised or next month";

/** The status message of a job, edited as it changes. */
export function statusText(job: Job, publicUrl: string): string {
  const head = `${icons[job.status]} **${displayName(job.name)}** · ${formatBytes(job.size)}`;
  const lines = [head];
  switch (job.status) {
    case "queued":
      lines.push(`${progressBar(0)} · ${job.reason === "budget" ? budgetWait : "queued, waiting for the seedbox"}`);
      break;
    case "downloading":
      lines.push(`${progressBar(job.progress)} · ${words.downloading} · ${formatRate(job.rate)} · ETA ${formatEta(job.eta)}`);
      break;
    case "uploading":
      lines.push(`${progressBar(job.progress)} · ${words.uploading}`);
      break;
    case "completed": {
      const until = discordDate(job.expiresAt);
      lines.push(`Done: ${job.files.length} file${job.files.length === 1 ? "" : "s"}.${until ? ` Files kept until ${until}.` : ""}`);
      const zip = zipLine(job);
      if (zip) lines.push(zip);
      lines.push(...fileLinks(job, publicUrl, maxContent - head.length - 80 - (zip ? zip.length + 1 : 0)));
      break;
    }
    case "failed":
      lines.push(`Failed: ${job.error ? displayName(job.error.message, 500) : "no reason was given"}`);
      break;
    case "cancelled":
      lines.push("Cancelled.");
      break;
    case "expired":
      lines.push("Expired: its files are no longer kept. Add the torrent again to download it once more.");
      break;
  }
  return clip(lines.join("\n"));
}

/** The message that pings a requester when their job has ended. */
export function pingText(job: Job, userId: string, publicUrl: string): string {
  const who = `<@${userId}>`;
  if (job.status === "completed") {
    const head = `${who} **${displayName(job.name)}** is ready (${formatBytes(job.size)}):`;
    const zip = zipLine(job);
    return clip([head, ...(zip ? [zip] : []), ...fileLinks(job, publicUrl, maxContent - head.length - (zip ? zip.length + 1 : 0))].join("\n"));
  }
  if (job.status === "failed") {
    return clip(`${who} **${displayName(job.name)}** failed: ${job.error ? displayName(job.error.message, 500) : "no reason was given"}`);
  }
  return clip(`${who} **${displayName(job.name)}** was cancelled.`);
}

/** One line of /jobs. */
export function jobLine(job: Job): string {
  const pct = job.status === "downloading" || job.status === "uploading" ? ` ${Math.floor(job.progress * 100)}%` : "";
  const why = job.reason === "budget" ? " (monthly budget reached)" : "";
  return `${icons[job.status]} **${displayName(job.name, 80)}** · ${formatBytes(job.size)} · ${words[job.status]}${why}${pct} · \`${job.id.slice(0, 8)}\``;
}

/** The /jobs reply; `more` says the user may have older jobs than these. */
export function jobsText(jobs: Job[], publicUrl: string, more = false): string {
  if (jobs.length === 0) return more ? `I found none of your jobs among the latest ones; see all jobs on the page ${publicUrl}/` : "You have no jobs yet. Use `/torrent` to add one.";
  const lines = [more ? `Your latest jobs (${jobs.length}):` : `Your jobs (${jobs.length}):`];
  let cut = false;
  for (const j of jobs) {
    const line = jobLine(j);
    if (lines.join("\n").length + line.length + 80 > maxContent) {
      cut = true;
      break;
    }
    lines.push(line);
  }
  if (cut || more) lines.push(`…and more on the page ${publicUrl}/`);
  return lines.join("\n");
}

function clip(s: string): string {
  return s.length <= maxContent ? s : s.slice(0, maxContent - 1) + "…";
}
