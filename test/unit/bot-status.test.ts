// The bot's message text: sizes, progress bar, speed, ETA, and what the status and ping messages say.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Job } from "../../lib/job.ts";
import { budgetWait, displayName, formatBytes, formatEta, formatRate, jobLine, jobsText, maxContent, pingText, progressBar, statusText } from "../../bot/status.ts";

const id = "a".repeat(40);
const job = (o: Partial<Job> = {}): Job => ({
  id, name: "Some Linux.iso", status: "downloading", progress: 0.5, size: 3 * 1024 ** 3, downloaded: 1.5 * 1024 ** 3, rate: 2.5 * 1024 ** 2, eta: 754, seedbox: null,
  files: [], zip: null, error: null, requesters: [{ via: "discord", user: "1" }], expiresAt: null, createdAt: "2026-01-01T00:00:00.000Z", updatedAt: "2026-01-01T00:00:01.000Z", ...o,
});
const pub = "https://t2s.example";

describe("bot message formatting", () => {
  it("formats sizes in binary units", () => {
    assert.equal(formatBytes(0), "0 B");
    assert.equal(formatBytes(1023), "1023 B");
    assert.equal(formatBytes(1024), "1.00 KiB");
    assert.equal(formatBytes(1536), "1.50 KiB");
    assert.equal(formatBytes(10 * 1024 * 1024), "10.0 MiB");
    assert.equal(formatBytes(700 * 1024 * 1024), "700 MiB");
    assert.equal(formatBytes(3 * 1024 ** 3), "3.00 GiB");
    assert.equal(formatBytes(5 * 1024 ** 4), "5.00 TiB");
    assert.equal(formatBytes(null), "unknown size");
    assert.equal(formatBytes(-1), "unknown size");
    assert.equal(formatBytes(Number.NaN), "unknown size");
  });

  it("formats speed", () => {
    assert.equal(formatRate(0), "0 B/s");
    assert.equal(formatRate(-5), "0 B/s");
    assert.equal(formatRate(2.5 * 1024 * 1024), "2.50 MiB/s");
  });

  it("formats the ETA", () => {
    assert.equal(formatEta(null), "unknown");
    assert.equal(formatEta(-1), "unknown");
    assert.equal(formatEta(Infinity), "unknown");
    assert.equal(formatEta(0), "0s");
    assert.equal(formatEta(45), "45s");
    assert.equal(formatEta(59.6), "1m 00s");
    assert.equal(formatEta(185), "3m 05s");
    assert.equal(formatEta(2 * 3600 + 7 * 60 + 30), "2h 07m");
    assert.equal(formatEta(3 * 86400 + 4 * 3600), "3d 04h");
  });

  it("draws a text progress bar, clamped to 0..100 %", () => {
    assert.equal(progressBar(0), `[${"░".repeat(20)}]   0%`);
    assert.equal(progressBar(0.5), `[${"█".repeat(10)}${"░".repeat(10)}]  50%`);
    assert.equal(progressBar(0.999), `[${"█".repeat(19)}░]  99%`);
    assert.equal(progressBar(1), `[${"█".repeat(20)}] 100%`);
    assert.equal(progressBar(7), progressBar(1));
    assert.equal(progressBar(-1), progressBar(0));
    assert.equal(progressBar(Number.NaN), progressBar(0));
    assert.equal(progressBar(0.3, 10), "[███░░░░░░░]  30%");
  });

  it("shows name, size, bar, speed and ETA while downloading", () => {
    const t = statusText(job(), pub);
    assert.ok(t.includes("**Some Linux.iso**"), t);
    assert.ok(t.includes("3.00 GiB"));
    assert.ok(t.includes(progressBar(0.5)));
    assert.ok(t.includes("2.50 MiB/s"));
    assert.ok(t.includes("ETA 12m 34s"));
  });

  it("says a job waits for the monthly budget, in its status and in /jobs", () => {
    const held = job({ status: "queued", progress: 0, rate: 0, eta: null, reason: "budget" });
    assert.match(statusText(held, pub), new RegExp(budgetWait));
    assert.match(jobLine(held), /queued \(monthly budget reached\)/);
    assert.match(statusText(job({ status: "queued" }), pub), /waiting for the seedbox/);
    assert.doesNotMatch(jobLine(job({ status: "queued" })), /budget/);
  });

  it("says why a job failed, and that it was cancelled", () => {
    assert.ok(statusText(job({ status: "failed", error: { code: "no_peers", message: "No peer sent this torrent's metadata." } }), pub).includes("Failed: No peer sent"));
    assert.ok(statusText(job({ status: "cancelled" }), pub).includes("Cancelled."));
    assert.ok(pingText(job({ status: "failed", error: { code: "disk_full", message: "The disk is full." } }), "42", pub).startsWith("<@42> **Some Linux.iso** failed: The disk is full."));
  });

  it("links each file on completion and pings the requester", () => {
    const files = [
      { path: "Some Linux/disc (1).iso", size: 1024, url: `${pub}/d/${id}/Some%20Linux/disc%20(1).iso?sig=abc` },
      { path: "Some Linux/readme.txt", size: 10, url: `${pub}/d/${id}/Some%20Linux/readme.txt?sig=def` },
    ];
    const done = job({ status: "completed", progress: 1, files });
    const ping = pingText(done, "42", pub);
    assert.ok(ping.startsWith("<@42> **Some Linux.iso** is ready"), ping);
    assert.ok(ping.includes(`• [disc (1).iso](${pub}/d/${id}/Some%20Linux/disc%20%281%29.iso?sig=abc) (1.00 KiB)`), ping);
    assert.ok(ping.includes(`[readme.txt](${pub}/d/${id}/Some%20Linux/readme.txt?sig=def) (10 B)`), ping);
    const status = statusText(done, pub);
    assert.ok(status.startsWith("✅"));
    assert.ok(status.includes("Done: 2 files."));
    assert.ok(!status.includes("kept until"), "no expiry known, none shown");
    const kept = statusText(job({ status: "completed", progress: 1, files, expiresAt: "2026-02-01T00:00:00.000Z" }), pub);
    assert.ok(kept.includes(`Done: 2 files. Files kept until <t:${Date.parse("2026-02-01T00:00:00.000Z") / 1000}:D>.`), kept);
    const odd = pingText(job({ status: "completed", files: [{ path: "a [x].txt", size: 1, url: `${pub}/d/${id}/a%20[x].txt?sig=z` }] }), "42", pub);
    assert.ok(odd.includes("• [a \\[x\\].txt]("), odd);
  });

  it("links the zip of all the files, in the status and the ping, within Discord's 2000 characters", () => {
    const files = Array.from({ length: 300 }, (_, i) => ({ path: `x/${"f".repeat(60)}${i}.bin`, size: i, url: `${pub}/d/${id}/x/${i}.bin?sig=${"s".repeat(32)}` }));
    const zip = { url: `${pub}/zip/${id}?sig=${"z".repeat(32)}`, size: 3 * 1024 ** 3 };
    const done = job({ status: "completed", files, zip });
    for (const t of [pingText(done, "42", pub), statusText(done, pub)]) {
      assert.ok(t.length <= maxContent, String(t.length));
      assert.ok(t.includes(`📦 [All files as one zip](${zip.url}) (3.00 GiB)`), t);
    }
    assert.ok(!statusText(job({ status: "completed", files: files.slice(0, 1) }), pub).includes("zip"), "no zip, no zip line");
  });

  it("says that a job's files have expired, and lists it so", () => {
    const gone = job({ status: "expired", progress: 1, files: [{ path: "Some Linux/disc.iso", size: 1024 }], expiresAt: "2026-02-01T00:00:00.000Z" });
    const t = statusText(gone, pub);
    assert.match(t, /^⌛ \*\*Some Linux\.iso\*\*/);
    assert.ok(t.includes("Expired: its files are no longer kept."), t);
    assert.ok(!t.includes("]("), "no links");
    assert.ok(jobsText([gone], pub).includes("expired (files removed)"));
  });

  it("links the first files and the page when there are many, within Discord's 2000 characters", () => {
    const files = Array.from({ length: 300 }, (_, i) => ({ path: `x/${"f".repeat(60)}${i}.bin`, size: i, url: `${pub}/d/${id}/x/${"f".repeat(60)}${i}.bin?sig=${"s".repeat(43)}` }));
    const done = job({ status: "completed", files });
    for (const t of [pingText(done, "42", pub), statusText(done, pub)]) {
      assert.ok(t.length <= maxContent, String(t.length));
      assert.match(t, /and \d+ more files: see all of them on the page https:\/\/t2s\.example\//);
    }
  });

  it("keeps hostile names from formatting or mentioning", () => {
    const n = displayName("**bold** @everyone <@1> `x`\nline2");
    assert.ok(!n.includes("\n"));
    assert.ok(!n.includes("@everyone"));
    assert.ok(n.includes("\\*\\*bold\\*\\*"), n);
    assert.ok(displayName("a".repeat(500)).length <= 200);
    assert.equal(displayName(""), "(no name)");
  });

  it("lists jobs", () => {
    assert.match(jobsText([], pub), /no jobs yet/);
    const t = jobsText([job(), job({ id: "b".repeat(40), name: "other", status: "completed" })], pub);
    assert.ok(t.includes("Your jobs (2):"));
    assert.ok(t.includes("downloading 50%"));
    assert.ok(t.includes("`bbbbbbbb`"));
    const many = jobsText(Array.from({ length: 100 }, (_, i) => job({ name: `n${i}`.repeat(20) })), pub);
    assert.ok(many.length <= maxContent);
    assert.match(many, /and more on the page/);
    // Only the latest pages were read: say the list may go on.
    const latest = jobsText([job()], pub, true);
    assert.ok(latest.startsWith("Your latest jobs (1):"), latest);
    assert.match(latest, /and more on the page https:\/\/t2s\.example\/$/);
    assert.match(jobsText([], pub, true), /none of your jobs among the latest/);
  });
});
