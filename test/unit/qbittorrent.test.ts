// The job -> qBittorrent mapping, checked field by field against answers recorded from the real
// qbittorrent-nox 4.5.2 (test/support/qbittorrent-nox-answers.json), and the sync agent's path rules.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { filePaths } from "../../cli/sync.ts";
import { newJob, type Job } from "../../lib/job.ts";
import {
  matchesFilter, preferences, qbtProgress, qbtState, syncRelativeDir, torrentFiles, torrentInfo, torrentProperties, validCategory, type QbtRecord,
} from "../../lib/qbittorrent.ts";

const nox = JSON.parse(readFileSync(new URL("../support/qbittorrent-nox-answers.json", import.meta.url), "utf8")) as Record<string, any>;
const now = "2026-12-06T12:00:00.000Z";
const id = "a".repeat(40);

function rec(job: Partial<Job>): QbtRecord {
  const base = newJob({ id, name: "Show S01E01", size: 1000, requester: { via: "api", user: "qbittorrent" }, now: "2026-12-06T11:00:00.000Z" });
  return { job: { ...base, ...job }, lastFactAt: null, files: [] };
}

/** The JSON type of each field: integers and fractions apart, as a C# or Python client parses them. */
function shape(v: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, typeof x === "number" ? "number" : Array.isArray(x) ? "array" : typeof x]));
}

describe("the qBittorrent mapping", () => {
  it("torrents/info, properties and files have qbittorrent-nox's fields with its types", () => {
    const r = rec({ status: "completed", progress: 1, downloaded: 1000, files: [{ path: "Show S01E01/a.mkv", size: 1000 }], delivered: { path: "/media/tv/Show S01E01", at: now }, category: "tv", tags: ["a", "b"] });
    assert.deepEqual(shape(torrentInfo(r, { savePath: "/media", now })), shape(nox.info));
    assert.deepEqual(shape(torrentProperties(r, { savePath: "/media", now })), shape(nox.properties));
    const files = torrentFiles(r);
    assert.deepEqual(shape(files[0]!), shape(nox.files[0]));
    // Integers where qBittorrent sends integers (a C# long fails on 1.5).
    const i = torrentInfo(rec({ status: "downloading", progress: 0.5, downloaded: 500, rate: 1234.7, eta: 3.2 }), { savePath: "/media", now });
    for (const k of ["added_on", "amount_left", "completed", "completion_on", "dlspeed", "downloaded", "eta", "size", "total_size", "time_active", "last_activity"] as const) {
      assert.ok(Number.isInteger(i[k]), `${k} = ${i[k]}`);
    }
  });

  it("preferences: the fields Sonarr and Radarr read, with nox's types", () => {
    const p = preferences("/media");
    for (const [k, t] of Object.entries(shape(p))) assert.equal(t, shape(nox.preferences)[k], k);
    // Share limits that let the media app remove a job it imported, and never "remove" on reaching them.
    assert.equal(p.max_ratio_enabled, true);
    assert.equal(p.max_ratio, 0);
    assert.equal(p.max_ratio_act, 0);
  });

  it("a job is complete for the client only once delivered", () => {
    const done = rec({ status: "completed", progress: 1 });
    assert.equal(qbtState(done, now), "downloading");
    assert.ok(qbtProgress(done.job) < 1);
    const delivered = rec({ status: "completed", progress: 1, delivered: { path: "/x/tv/a", at: now } });
    assert.equal(qbtState(delivered, now), "pausedUP");
    assert.equal(qbtProgress(delivered.job), 1);
    assert.equal(torrentInfo(delivered, { savePath: "/x", now }).content_path, "/x/tv/a");
    assert.equal(qbtState(rec({ status: "queued", size: null }), now), "metaDL");
    assert.equal(qbtState(rec({ status: "queued" }), now), "queuedDL");
    assert.equal(qbtState(rec({ status: "uploading" }), now), "downloading");
    assert.equal(qbtState(rec({ status: "failed" }), now), "error");
    assert.equal(qbtState(rec({ status: "completed", expiresAt: "2026-01-01T00:00:00.000Z" }), now), "missingFiles");
    assert.ok(matchesFilter(torrentInfo(delivered, { savePath: "/x", now }), "completed"));
    assert.ok(!matchesFilter(torrentInfo(done, { savePath: "/x", now }), "completed"));
    assert.ok(matchesFilter(torrentInfo(done, { savePath: "/x", now }), "downloading"));
  });

  it("content_path differs from save_path (Sonarr refuses to import otherwise)", () => {
    const i = torrentInfo(rec({ category: "tv" }), { savePath: "/media", now });
    assert.equal(i.save_path, "/media/tv");
    assert.equal(i.content_path, "/media/tv/Show S01E01");
    const none = torrentInfo(rec({}), { savePath: "/media/", now });
    assert.equal(none.save_path, "/media/");
    assert.equal(none.content_path, "/media/Show S01E01");
  });

  it("category names follow qBittorrent's rule", () => {
    for (const ok of ["tv", "tv/anime", "Movies 4K"]) assert.ok(validCategory(ok), ok);
    for (const bad of ["", "/tv", "tv/", "a//b", "a\\b", "a\u0001"]) assert.ok(!validCategory(bad), JSON.stringify(bad));
  });
});

describe("the sync agent's paths", () => {
  it("hostile names stay one folder under DIR/<category>", () => {
    for (const name of ["..", ".", "../../etc", "/abs", "a\\..\\b", "x\u0000y", ""]) {
      const rel = syncRelativeDir({ id, name, category: "tv" });
      const parts = rel.split("/");
      assert.equal(parts.length, 2, rel);
      assert.equal(parts[0], "tv");
      assert.ok(![".", "..", ""].includes(parts[1]!), rel);
    }
    assert.equal(syncRelativeDir({ id, name: "Show", category: "tv/anime" }), "tv/anime/Show");
  });

  it("files lose the torrent's top folder and every '..'", () => {
    assert.deepEqual(filePaths({ name: "T", files: [{ path: "T/a.mkv", size: 1 }, { path: "T/sub/b.srt", size: 1 }] }), ["a.mkv", "sub/b.srt"]);
    assert.deepEqual(filePaths({ name: "one.mkv", files: [{ path: "one.mkv", size: 1 }] }), ["one.mkv"]);
    for (const p of filePaths({ name: "T", files: [{ path: "T/../../x", size: 1 }, { path: "T//abs", size: 1 }] })) {
      assert.ok(!p.split("/").some((x) => x === ".." || x === "" || x === "."), p);
    }
  });
});
