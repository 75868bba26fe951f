// Choosing a torrent's files: the API's validation, resolving indexes and globs, and how a job's selection
// widens when the same torrent is handed in with other files.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Bucket } from "../../lib/aws/bucket.ts";
import { AppError } from "../../lib/errors.ts";
import { checkSelection, covers, globMatches, parseSelection, resolveSelection, selectionFromText, unionOf, widen } from "../../lib/file-selection.ts";
import { applyManifest, manifestServes, requestOf, selectionOf, setChoice, submitJob, type JobRecord, type JobSubmission } from "../../lib/job-record.ts";
import { newJob, type JobStatus, type Requester } from "../../lib/job.ts";
import { parseManifest, parseRequestMessage, PoisonMessage } from "../../lib/messages.ts";
import { qbtRequester, torrentFiles, type QbtRecord } from "../../lib/qbittorrent.ts";
import type { FetchGuard } from "../../ingest/fetch-guard.ts";
import { JobRegistry } from "../../ingest/registry.ts";
import { submit } from "../../ingest/submit.ts";
import { MemoryStore } from "../support/memory-store.ts";

const paths = ["Show/S01/e1.mkv", "Show/S01/e1.srt", "Show/S01/e2.mkv", "Show/extras/.hidden.nfo", "Show/readme.txt"];

const refused = (v: unknown, re: RegExp) =>
  assert.throws(() => parseSelection(v), (e: unknown) => e instanceof AppError && e.code === "invalid_request" && e.status === 400 && re.test(e.message));

describe("file selection: API input", () => {
  it("absent or null means every file; duplicates go, the order stays", () => {
    assert.equal(parseSelection(undefined), null);
    assert.equal(parseSelection(null), null);
    assert.deepEqual(parseSelection([2, "*.mkv", 2, 0, "*.mkv"]), [2, "*.mkv", 0]);
  });
  it("as text (the bot's option): commas apart, whole numbers are indexes, the rest globs; blank is every file", () => {
    assert.deepEqual(selectionFromText(" 0, 12 ,*.mkv,, Season 1/* "), [0, 12, "*.mkv", "Season 1/*"]);
    assert.equal(selectionFromText(" , "), null);
    assert.deepEqual(selectionFromText("-1, 1.5"), ["-1", "1.5"]);
  });
  it("refuses what is not a bounded list of non-negative whole indexes and short plain globs, with a plain 400", () => {
    refused("*.mkv", /list/);
    refused({ 0: 1 }, /list/);
    refused([], /at least one/);
    refused([-1], /not a file index/);
    refused([1.5], /not a file index/);
    refused([Number.NaN], /not a file index/);
    refused([1e9], /not a file index/);
    refused(["1", true], /only file indexes/);
    refused([null], /only file indexes/);
    refused([[0]], /only file indexes/);
    refused(["  "], /empty glob/);
    refused(["a".repeat(1025)], /longer than 1024/);
    refused(["a\nb"], /control characters/);
    refused(Array.from({ length: 1001 }, (_, i) => i), /at most 1000/);
    assert.deepEqual(parseSelection(Array.from({ length: 1000 }, (_, i) => i))?.length, 1000);
  });
});

describe("file selection: resolving", () => {
  it("a glob with no slash matches the name anywhere; one with a slash the path, with or without the torrent's folder", () => {
    assert.ok(globMatches("*.mkv", "Show/S01/e1.mkv"));
    assert.ok(globMatches("S01/*.mkv", "Show/S01/e1.mkv"));
    assert.ok(globMatches("Show/**/*.srt", "Show/S01/e1.srt"));
    assert.ok(globMatches("e?.mkv", "Show/S01/e2.mkv"));
    assert.ok(!globMatches("*.mkv", "Show/S01/e1.srt"));
    assert.ok(!globMatches("extras/*.mkv", "Show/S01/e1.mkv"));
    // A single-file torrent's one path is its name.
    assert.ok(globMatches("*.iso", "debian.iso"));
  });
  it("indexes and globs together give sorted indexes, and what names nothing is reported", () => {
    assert.deepEqual(resolveSelection(["*.mkv", 4, 9, "*.flac"], paths), { indexes: [0, 2, 4], unmatched: [9, "*.flac"] });
    assert.deepEqual(resolveSelection(null, paths).indexes, [0, 1, 2, 3, 4]);
  });
  it("checked against a .torrent: an index out of range or a glob that matches nothing is a plain 400", () => {
    assert.deepEqual(checkSelection(["*.srt", 0], paths), [0, 1]);
    assert.throws(() => checkSelection([5], paths), /names file 5, but this torrent has 5 files \(indexes 0 to 4\)/);
    assert.throws(() => checkSelection(["*.flac", 1], paths), (e: unknown) => e instanceof AppError && e.status === 400 && /"\*\.flac", which matches no file/.test(e.message));
  });
  it("widening: every file swallows any selection; covers compares entry by entry", () => {
    assert.deepEqual(widen([0, 2], [2, 1]), [0, 2, 1]);
    assert.equal(widen(null, [1]), null);
    assert.equal(unionOf([[0], undefined]), null);
    assert.deepEqual(unionOf([[0], ["*.mkv"]]), [0, "*.mkv"]);
    assert.ok(covers(null, [1]) && covers([0, 1], [1]) && !covers([0], [1]) && !covers([0], null));
  });
});

describe("file selection: the request message", () => {
  const id = "a".repeat(40);
  const source = { kind: "magnet", uri: `magnet:?xt=urn:btih:${id}` };
  it("carries the selection; a message without one (from before) still means every file", () => {
    assert.deepEqual((parseRequestMessage(JSON.stringify({ v: 1, type: "add", id, name: "n", source, files: [1, "*.mkv"] })) as { files?: unknown }).files, [1, "*.mkv"]);
    assert.equal("files" in parseRequestMessage(JSON.stringify({ v: 1, type: "add", id, name: "n", source })), false);
  });
  it("a malformed selection is poison for that job", () => {
    assert.throws(() => parseRequestMessage(JSON.stringify({ v: 1, type: "add", id, name: "n", source, files: [-1] })), (e: unknown) => e instanceof PoisonMessage && e.id === id);
  });
});

describe("file selection: one job per torrent, widened to the union", () => {
  const id = "d".repeat(40);
  const t0 = "2026-12-01T00:00:00.000Z";
  const t1 = "2026-12-01T01:00:00.000Z";
  const alice: Requester = { via: "api", user: "alice", files: [0] };
  const rec = (status: JobStatus, first: Requester = alice): JobRecord => ({
    job: { ...newJob({ id, name: "x", size: 1, requester: first, now: t0 }), status, ...(status === "completed" ? { files: [{ path: "a", size: 1 }] } : {}) },
    lastFactAt: null, files: [], source: { kind: "torrent", key: `incoming/${id}.torrent` },
  });
  const sub = (requester: Requester): JobSubmission => ({ id, name: "x", size: 1, source: { kind: "torrent", key: `incoming/${id}.torrent` }, requester, callback: null });

  it("a new job's request carries its requester's files", () => {
    const s = submitJob(null, sub(alice), t0);
    assert.deepEqual(requestOf(s.rec!).files, [0]);
    assert.equal(requestOf(submitJob(null, sub({ via: "api", user: "bob" }), t0).rec!).files, undefined);
  });
  it("each requester keeps their own files; the job fetches their union", () => {
    const s = submitJob(rec("downloading"), sub({ via: "discord", user: "42", files: [2] }), t1);
    assert.deepEqual(s.rec!.job.requesters.map((r) => r.files), [[0], [2]]);
    assert.deepEqual(selectionOf(s.rec!.job), [0, 2]);
    // Live: the holder hears of the wider selection; nothing restarts.
    assert.deepEqual([s.request, s.reselect, s.rec!.job.status], [false, true, "downloading"]);
  });
  it("the same requester asking for more widens their own selection; asking for what they have changes nothing", () => {
    const s = submitJob(rec("queued"), sub({ ...alice, files: [1] }), t1);
    assert.deepEqual(s.rec!.job.requesters, [{ via: "api", user: "alice", files: [0, 1] }]);
    assert.equal(submitJob(rec("queued"), sub(alice), t1).rec, null);
    // Asking for every file: the selection goes.
    assert.deepEqual(submitJob(rec("queued"), sub({ via: "api", user: "alice" }), t1).rec!.job.requesters, [{ via: "api", user: "alice" }]);
  });
  it("a completed job that lacks files a requester now wants runs again for them", () => {
    const s = submitJob(rec("completed"), sub({ via: "web", user: "w", files: [1] }), t1);
    assert.deepEqual([s.request, s.rec!.job.status, s.rec!.job.files, s.rec!.queuedAt], [true, "queued", [], t1]);
    assert.deepEqual(requestOf(s.rec!).files, [0, 1]);
  });
  it("a completed job that already holds the files asked for does not run again", () => {
    const s = submitJob(rec("completed"), sub({ via: "web", user: "w", files: [0] }), t1);
    assert.deepEqual([s.request, s.reselect, s.rec!.job.status], [false, false, "completed"]);
    const all = submitJob(rec("completed", { via: "api", user: "a" }), sub({ via: "web", user: "w", files: [3] }), t1);
    assert.deepEqual([all.request, all.rec!.job.status], [false, "completed"]);
  });
});

describe("file selection: qBittorrent's filePrio", () => {
  const id = "e".repeat(40);
  const t0 = "2026-12-01T00:00:00.000Z";
  const t1 = "2026-12-01T01:00:00.000Z";
  const source = { kind: "torrent" as const, key: `incoming/${id}.torrent` };
  const all = [{ path: "S/a.mkv", size: 10 }, { path: "S/b.mkv", size: 20 }, { path: "S/c.nfo", size: 1 }];
  const rec = (status: JobStatus, requesters: Requester[]): QbtRecord => ({
    job: { ...newJob({ id, name: "S", size: 31, requester: requesters[0]!, now: t0 }), requesters, status }, lastFactAt: null, files: [], source,
  });

  it("torrents/files lists every file of the .torrent at its own index, the ones the client did not choose at priority 0", () => {
    const r = rec("downloading", [{ ...qbtRequester, files: [0, 2] }]);
    assert.deepEqual(torrentFiles(r, all).map((f) => [f.index, f.name, f.priority]), [[0, "S/a.mkv", 1], [1, "S/b.mkv", 0], [2, "S/c.nfo", 1]]);
    // The client asked for every file: all at 1; without the .torrent, the manifest's files as before.
    assert.deepEqual(torrentFiles(rec("downloading", [qbtRequester]), all).map((f) => f.priority), [1, 1, 1]);
    assert.deepEqual(torrentFiles(rec("downloading", [qbtRequester])), []);
  });
  it("narrowing one requester's files keeps the others'; a live job is requested again, a completed one runs again for more", () => {
    const other: Requester = { via: "discord", user: "9", files: [1] };
    const live = setChoice(rec("downloading", [qbtRequester, other]), qbtRequester, [0], source, t1);
    assert.deepEqual(live.rec!.job.requesters.map((q) => q.files), [[0], [1]]);
    assert.deepEqual(selectionOf(live.rec!.job), [0, 1]);
    assert.deepEqual([live.request, live.reselect], [false, true]);
    const done = setChoice(rec("completed", [{ ...qbtRequester, files: [0] }]), qbtRequester, [0, 2], source, t1);
    assert.deepEqual([done.request, done.rec!.job.status], [true, "queued"]);
    assert.equal(setChoice(rec("queued", [{ ...qbtRequester, files: [0] }]), qbtRequester, [0], source, t1).rec, null);
  });
});

describe("file selection: ingest's submit", () => {
  const hash = "ab".repeat(20);
  const magnet = `magnet:?xt=urn:btih:${hash}&dn=x`;
  const now = "2026-01-01T00:00:00.000Z";
  it("a completed job someone wants more files of loses its manifest before it is queued again, and its request carries the union", async () => {
    const registry = new JobRegistry(new MemoryStore());
    const order: string[] = [];
    const published: { files?: unknown }[] = [];
    const d = {
      bucket: { delete: async (k: string) => void order.push(`delete ${k} (${(await registry.record(hash))?.job.status})`) } as unknown as Bucket,
      guard: {} as FetchGuard, registry, now: () => now, webhooks: false,
      publishRequest: async (m: object) => void published.push(m),
    };
    const signal = new AbortController().signal;
    await submit({ magnet, files: ["*.mkv"] }, { via: "api", user: "a" }, d, signal);
    await registry.update(hash, (r) => ({ ...r!, job: { ...r!.job, status: "completed" } }));
    order.length = 0;
    const { rec } = await submit({ magnet, files: ["*.srt"] }, { via: "web", user: "b" }, d, signal);
    assert.equal(rec.job.status, "queued");
    assert.equal(order[0], `delete files/${hash}/manifest.json (completed)`, "before the job is queued again");
    assert.deepEqual(published.at(-1)!.files, ["*.mkv", "*.srt"]);
    await assert.rejects(submit({ magnet, files: "*.mkv" }, { via: "web", user: "b" }, d, signal), /"files" must be a list/);
  });
});

describe("file selection: a run's manifest", () => {
  const id = "f".repeat(40);
  const m = (run?: string) => ({ id, name: "n", files: [{ path: "n/a", key: `files/${id}/data/n/a`, size: 1 }], ...(run ? { run } : {}) });
  const rec = (queuedAt: string): JobRecord => ({ job: newJob({ id, name: "n", size: 1, requester: { via: "api", user: "u" }, now: queuedAt }), lastFactAt: null, files: [], queuedAt });
  it("the request names its run, the manifest carries it back, and an earlier run's manifest (a late notice) completes nothing", () => {
    const r = rec("2026-12-01T01:00:00.000Z");
    assert.equal(requestOf(r).run, "2026-12-01T01:00:00.000Z");
    assert.equal((parseRequestMessage(JSON.stringify(requestOf(r))) as { run?: string }).run, "2026-12-01T01:00:00.000Z");
    assert.equal(parseManifest(JSON.stringify(m("x")), id).run, "x");
    assert.equal(applyManifest(r, m("2026-12-01T00:00:00.000Z"), "now", "later"), null);
    assert.equal(applyManifest(r, m("2026-12-01T01:00:00.000Z"), "now", "later")!.job.status, "completed");
    // A seedbox that lost the run (a restart) writes none: its manifest counts, as before.
    assert.equal(applyManifest(r, m(), "now", "later")!.job.status, "completed");
  });
  it("a manifest made for a narrower choice than the job's now (a requester widened it while it uploaded) completes nothing", () => {
    const q = (user: string, files?: (number | string)[]): Requester => ({ via: "api", user, ...(files ? { files } : {}) });
    const run = "2026-12-01T01:00:00.000Z";
    const widened: JobRecord = { ...rec(run), job: { ...rec(run).job, status: "uploading", requesters: [q("a", [0]), q("b", [2])] } };
    const made = (chosen: (number | string)[] | null | undefined) => ({ ...m(run), ...(chosen !== undefined ? { chosen } : {}) });
    assert.equal(applyManifest(widened, made([0]), "now", "later"), null);
    assert.equal(applyManifest(widened, made([0, 2]), "now", "later")!.job.status, "completed");
    assert.equal(applyManifest(widened, made(null), "now", "later")!.job.status, "completed", "every file covers any choice");
    assert.equal(applyManifest(widened, made(undefined), "now", "later")!.job.status, "completed", "a manifest that does not say counts, as before");
    // Narrowed since (qBittorrent's filePrio): a wider manifest still holds every file wanted.
    const narrowed = { ...widened, job: { ...widened.job, requesters: [q("a", [0])] } };
    assert.equal(applyManifest(narrowed, made([0, 2]), "now", "later")!.job.status, "completed");
    // An every-file job is not served by a choice.
    assert.equal(manifestServes(made([0, 1, 2]), run, null), false);
    // The seedbox, not knowing the choice (a restart), takes any manifest of the run; never another run's.
    assert.deepEqual([manifestServes(made([0]), run, undefined), manifestServes(made([0]), "other", undefined)], [true, false]);
  });
  it("the manifest carries its choice back: a selection, null for every file; anything else reads as not said", () => {
    const text = (chosen: unknown) => JSON.stringify({ ...m("r"), chosen });
    assert.deepEqual(parseManifest(text([0, "*.srt"]), id).chosen, [0, "*.srt"]);
    assert.equal(parseManifest(text(null), id).chosen, null);
    for (const bad of [[-1], "0", [], {}]) assert.equal("chosen" in parseManifest(text(bad), id), false, JSON.stringify(bad));
    assert.equal("chosen" in parseManifest(JSON.stringify(m("r")), id), false);
  });
});
