// The named changes to a job record, and the write rules the one update path adds to each of them.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  addRequester, applyFact, cancel, clearSent, complete, deleteFiles, dueOf, fail, freshNotice, outboxRetry, placeRequester, releaseLease, renewLease,
  endedSent, submitJob, takeLease, updateSent, written,
  type JobRecord, type JobSubmission,
} from "../../lib/job-record.ts";
import { newJob, type JobStatus } from "../../lib/job.ts";
import { updateRecord } from "../../lib/job-update.ts";
import { MemoryStore } from "../support/memory-store.ts";

const id = "d".repeat(40);
const t0 = "2026-12-01T00:00:00.000Z";
const t1 = "2026-12-01T01:00:00.000Z";
const timing = { timeoutMs: 60_000, renewMs: 10_000, requestTimeoutMs: 900_000 };
const rec = (status: JobStatus = "queued", extra: Partial<JobRecord> = {}): JobRecord => ({
  job: { ...newJob({ id, name: "x", size: 1, requester: { via: "api", user: "u" }, now: t0 }), status },
  lastFactAt: null, files: [], ...extra,
});
const sub = (over: Partial<JobSubmission> = {}): JobSubmission => ({
  id, name: "x", size: 1, source: { kind: "magnet", uri: `magnet:?xt=urn:btih:${id}` }, requester: { via: "api", user: "u" }, callback: null, ...over,
});
const hooked = (r: JobRecord): JobRecord => ({ ...r, hooks: { urls: ["https://h.example/"], pending: [] } });

describe("submitting", () => {
  it("a new job is created and requested, queued now, with its source and callback", () => {
    const s = submitJob(null, sub({ callback: "https://h.example/" }), t0);
    assert.equal(s.created, true);
    assert.equal(s.request, true);
    assert.equal(s.rec!.queuedAt, t0);
    assert.deepEqual(s.rec!.source, sub().source);
    assert.deepEqual(s.rec!.hooks, { urls: ["https://h.example/"], pending: [] });
  });
  it("a known running job gets the new requester and no new request; the same requester changes nothing", () => {
    const s = submitJob(rec("downloading"), sub({ requester: { via: "discord", user: "42" } }), t1);
    assert.deepEqual([s.created, s.request], [false, false]);
    assert.deepEqual(s.rec!.job.requesters.map((r) => r.user), ["u", "42"]);
    assert.equal(s.rec!.job.updatedAt, t1);
    assert.equal(submitJob(rec("downloading"), sub(), t1).rec, null);
    assert.equal(addRequester(rec(), { via: "api", user: "u" }, t1), null);
  });
  it("a failed job handed in again starts over from the new source, without the old run's hand-backs or files", () => {
    const old = rec("failed", { handBacks: 3, due: t0, files: [{ path: "a", key: "a", size: 1 }], source: { kind: "torrent", key: `incoming/${id}.torrent` } });
    const s = submitJob({ ...old, job: { ...old.job, error: { code: "no_peers", message: "m" } } }, sub(), t1);
    assert.equal(s.request, true);
    assert.equal(s.rec!.job.status, "queued");
    assert.equal(s.rec!.job.error, null);
    assert.deepEqual([s.rec!.handBacks, s.rec!.due, s.rec!.files, s.rec!.queuedAt], [0, undefined, [], t1]);
    assert.deepEqual(s.rec!.source, sub().source);
  });
  it("a callback added with a resubmission hears of the new run only", () => {
    const s = submitJob(rec("cancelled"), sub({ callback: "https://h.example/" }), t1);
    assert.deepEqual(s.rec!.hooks!.pending, []);
  });
  it("a callback added to a completed job gets its event at once", () => {
    const s = submitJob(rec("completed"), sub({ callback: "https://h.example/" }), t1);
    assert.equal(s.request, false);
    assert.deepEqual(s.rec!.hooks!.pending.map((p) => [p.event, p.url]), [["completed", "https://h.example/"]]);
  });
  it("the bot's message ids go to the requester who asked; anyone else is refused", () => {
    const r = placeRequester(rec(), { via: "api", user: "u", channelId: "1", messageId: "2" }, t1)!;
    assert.deepEqual(r.job.requesters, [{ via: "api", user: "u", channelId: "1", messageId: "2" }]);
    assert.equal(placeRequester(rec(), { via: "discord", user: "9" }, t1), null);
  });
});

describe("endings", () => {
  it("fail: a running job fails with the reason, its rate and eta cleared; an ended job stays as it is", () => {
    const running = { ...rec("downloading"), job: { ...rec("downloading").job, rate: 5, eta: 10 } };
    const f = fail(running, { code: "poison_message", message: "m" }, t1)!;
    assert.deepEqual([f.job.status, f.job.rate, f.job.eta, f.job.error, f.job.updatedAt], ["failed", 0, null, { code: "poison_message", message: "m" }, t1]);
    for (const s of ["completed", "failed", "cancelled"] as const) assert.equal(fail(rec(s), { code: "x", message: "m" }, t1), null);
  });
  it("cancel: a running job is cancelled; an ended one is not", () => {
    assert.equal(cancel(rec("uploading"), t1)!.job.status, "cancelled");
    assert.equal(cancel(rec("completed"), t1), null);
  });
  it("deleteFiles: a completed job's files expire now, once", () => {
    const done = { ...rec("completed"), job: { ...rec("completed").job, expiresAt: "2026-12-08T00:00:00.000Z" } };
    const d = deleteFiles(done, t1)!;
    assert.equal(d.job.expiresAt, t1);
    assert.equal(deleteFiles(d, t1), null, "already expired");
    assert.equal(deleteFiles(rec("downloading"), t1), null);
  });
  it("complete: a manifest completes the job, its files expiring retention days after it was queued; an unknown job still becomes one", () => {
    const m = { id, name: "Film", files: [{ path: "a.mkv", key: `files/${id}/data/a.mkv`, size: 3 }] };
    const r = complete(rec("uploading", { queuedAt: "2026-12-01T00:30:00.000Z" }), m, t1, 7)!;
    assert.deepEqual([r.job.status, r.job.expiresAt, r.job.size], ["completed", "2026-12-08T00:30:00.000Z", 3]);
    const lost = complete(null, m, t1, 7)!;
    assert.deepEqual([lost.job.status, lost.job.name, lost.job.expiresAt], ["completed", "Film", "2026-12-08T01:00:00.000Z"]);
  });
});

describe("the outbox", () => {
  it("a new status owes the bot a job update and starts the outbox's clock; progress owes none", () => {
    const first = written(null, submitJob(null, sub(), t0).rec!);
    assert.equal(first.update, t0, "a new job owes its queued update");
    assert.deepEqual(first.outbox, { due: "2026-12-01T00:00:10.000Z", tries: 0 });
    const sent = written(first, updateSent(first, t0)!);
    assert.equal(sent.update, undefined);
    assert.equal(sent.outbox, undefined, "an empty outbox has no clock");
    const fact = { v: 1 as const, type: "progress" as const, id, at: t1, status: "downloading" as const, name: "x", progress: 0.1, size: 1, downloaded: 0, rate: 1, eta: 9 };
    const going = written(sent, applyFact(sent, fact, t1)!);
    assert.equal(going.update, going.job.updatedAt, "queued → downloading is owed");
    const on = written(updateSent(going, going.update!)!, applyFact(updateSent(going, going.update!)!, { ...fact, at: "2026-12-01T01:00:01.000Z", progress: 0.5 }, "2026-12-01T01:00:01.000Z")!);
    assert.equal(on.update, undefined, "more progress is not owed");
    assert.equal(freshNotice(going), true);
    assert.equal(freshNotice(on), false);
  });
  it("an ended job stays in the sweeper's index while its outbox holds something, and backs off after failures", () => {
    const done = written(rec("downloading"), fail(rec("downloading"), { code: "x", message: "m" }, t1)!);
    assert.equal(done.update, t1);
    assert.equal(dueOf(done), "2026-12-01T01:00:10.000Z", "ended, but due for its outbox");
    const retried = written(done, outboxRetry(done, Date.parse(t1))!);
    assert.deepEqual(retried.outbox, { due: "2026-12-01T01:00:20.000Z", tries: 1 });
    assert.equal(freshNotice(retried), false, "a retry is the sweeper's, not the next writer's");
    const again = written(retried, outboxRetry(retried, Date.parse(t1))!);
    assert.deepEqual(again.outbox, { due: "2026-12-01T01:00:40.000Z", tries: 2 });
    const cleared = written(again, updateSent(again, t1)!);
    assert.equal(dueOf(cleared), null, "ended and empty: out of the index");
    assert.equal(updateSent(again, "2026-12-01T00:59:00.000Z"), null, "an update of an older change does not clear a newer one");
  });
  it("a run's end still owed when files are deleted or the job is handed in again is kept for the bot", () => {
    const m = { id, name: "x", files: [{ path: "a", key: `files/${id}/data/a`, size: 1 }] };
    const done = written(rec("uploading"), complete(rec("uploading"), m, t1, 7)!);
    assert.equal(done.update, t1, "the completion is owed");
    const t2 = "2026-12-01T02:00:00.000Z";
    const deleted = written(done, deleteFiles(done, t2)!);
    assert.deepEqual([deleted.ended?.status, deleted.ended?.expiresAt, deleted.update], ["completed", done.job.expiresAt, t2], "the completion is not lost to the deletion");
    const again = written(deleted, submitJob(deleted, sub(), "2026-12-01T03:00:00.000Z").rec!);
    assert.equal(again.ended, deleted.ended, "still the first run's end");
    assert.equal(endedSent(again, "2026-12-01T00:59:00.000Z"), null);
    const sent = endedSent(again, again.ended!.updatedAt)!;
    assert.equal(sent.ended, undefined);
    assert.equal(sent.update, again.update);
    // Published before the change: nothing is kept.
    const told = written(done, updateSent(done, t1)!);
    assert.equal(written(told, deleteFiles(told, t2)!).ended, undefined);
    // A failure replaced by a resubmit is an end too; a requester added to a completed job is not a new end.
    const failed = written(rec("downloading"), fail(rec("downloading"), { code: "x", message: "m" }, t1)!);
    assert.equal(written(failed, submitJob(failed, sub(), t2).rec!).ended?.status, "failed");
    assert.equal(written(done, addRequester(done, { via: "discord", user: "7" }, t2)!).ended, undefined);
  });
  it("a resubmitted job will ping its requesters again", () => {
    const r = rec("failed");
    const pinged = { ...r, job: { ...r.job, requesters: [{ via: "discord" as const, user: "7", channelId: "55", messageId: "9", pinged: true }] } };
    const s = submitJob(pinged, sub({ requester: { via: "discord", user: "7" } }), t1);
    assert.deepEqual(s.rec!.job.requesters, [{ via: "discord", user: "7", channelId: "55", messageId: "9" }]);
  });

  it("clearSent removes what went to the queue and keeps what came since", () => {
    const a = { id: "e1", event: "completed" as const, at: t0 };
    const b = { id: "e2", event: "expired" as const, at: t1, url: "https://h.example/" };
    const r = { ...rec("completed"), hooks: { urls: ["https://h.example/"], pending: [a, b] } };
    assert.deepEqual(clearSent(r, [a])!.hooks!.pending, [b]);
    assert.equal(clearSent(r, [{ ...b, url: undefined }]), null, "another URL's event is another event");
  });
});

describe("the write rules", () => {
  it("a visible change gets an updatedAt above the last one, whatever the writer's clock says", () => {
    const prev = rec("downloading", { lastFactAt: null });
    const behind = { ...prev, job: { ...prev.job, progress: 0.5, updatedAt: "2026-11-30T00:00:00.000Z" } };
    assert.equal(written(prev, behind).job.updatedAt, "2026-12-01T00:00:00.001Z");
  });
  it("taking and releasing a lease are visible; renewing is not", () => {
    const nowMs = Date.parse(t1);
    const t = takeLease(rec(), "s1", nowMs, timing);
    assert.ok(t.ok);
    assert.equal(written(rec(), t.rec).job.updatedAt, t1);
    const r = renewLease(t.rec, "s1", 1, nowMs + 10_000, timing);
    assert.ok(r.kind === "renewed");
    assert.equal(r.rec.job, t.rec.job, "the job itself is left as it was");
    assert.equal(written(t.rec, r.rec).job.updatedAt, t1);
    assert.equal(releaseLease(t.rec, "s1", 1, nowMs + 20_000, timing)!.job.updatedAt, new Date(nowMs + 20_000).toISOString());
  });
  it("a renewal that raced a release cannot bring the lease back; a new take can", () => {
    const nowMs = Date.parse(t1);
    const t = takeLease(rec(), "s1", nowMs, timing);
    assert.ok(t.ok);
    const released = releaseLease(t.rec, "s1", 1, nowMs + 5_000, timing)!;
    // The renewal read the record before the release; after the conflict it runs again on the new one.
    assert.deepEqual(renewLease(released, "s1", 1, nowMs + 6_000, timing), { kind: "fenced" });
    const again = takeLease(released, "s2", nowMs + 7_000, timing);
    assert.ok(again.ok);
    assert.equal(again.lease.epoch, 2);
    assert.equal(again.lease.released, undefined);
    assert.equal(renewLease(again.rec, "s2", 2, nowMs + 8_000, timing).kind, "renewed");
  });
  it("a write that ends a job queues its webhook event", () => {
    const prev = hooked(rec("downloading"));
    assert.deepEqual(written(prev, fail(prev, { code: "x", message: "m" }, t1)!).hooks!.pending.map((p) => p.event), ["failed"]);
  });
  it("the update path applies them to every change, the sweeper's and the seedbox's too", async () => {
    const store = new MemoryStore();
    await store.put(hooked(rec("downloading", { due: t0 })), null);
    const swept = await updateRecord(store, id, (r) => r && { ...r, due: t1 });
    assert.equal(swept!.job.updatedAt, t0, "invisible: updatedAt stays");
    const failed = await updateRecord(store, id, (r) => r && fail(r, { code: "x", message: "m" }, "2026-11-30T00:00:00.000Z"));
    assert.equal(failed!.job.updatedAt, "2026-12-01T00:00:00.001Z");
    assert.deepEqual((await store.get(id))!.rec.hooks!.pending.map((p) => p.event), ["failed"]);
  });
});
