import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyFact, applyManifest, type JobRecord } from "../../lib/job-record.ts";
import { filesExpired, newJob, recordExpiry, requeued, withRequester } from "../../lib/job.ts";
import { parseFactsQueueMessage, parseRequestMessage, PoisonMessage, type Fact } from "../../lib/messages.ts";

const id = "a".repeat(40);
const rec = (): JobRecord => ({ job: newJob({ id, name: "x", size: null, requester: { via: "api", user: "u" }, now: "2026-01-01T00:00:00.000Z" }), lastFactAt: null, files: [] });
const progress = (at: string, p: number): Fact => ({ v: 1, type: "progress", id, at, status: "downloading", name: "Film", progress: p, size: 100, downloaded: p * 100, rate: 5, eta: 3 });

describe("applyFact", () => {
  it("moves a job along with progress", () => {
    const r = applyFact(rec(), progress("2026-01-01T00:00:01.000Z", 0.5), "now")!;
    assert.equal(r.job.status, "downloading");
    assert.equal(r.job.progress, 0.5);
    assert.equal(r.job.name, "Film");
  });

  it("ignores a stale fact that arrives late", () => {
    const r = applyFact(rec(), progress("2026-01-01T00:00:02.000Z", 0.6), "now")!;
    assert.equal(applyFact(r, progress("2026-01-01T00:00:01.000Z", 0.2), "now"), null);
  });

  it("ignores everything once the job has ended", () => {
    const failed = applyFact(rec(), { v: 1, type: "failed", id, at: "2026-01-01T00:00:01.000Z", error: { code: "no_peers", message: "m" } }, "now")!;
    assert.equal(failed.job.status, "failed");
    assert.equal(applyFact(failed, progress("2026-01-01T00:00:05.000Z", 1), "now"), null);
  });

  it("completes a job from its manifest, keeping only keys under its data prefix", () => {
    const r = applyManifest(rec(), {
      id, name: "Film", files: [
        { path: "Film/a.mkv", key: `files/${id}/data/Film/a.mkv`, size: 10 },
        { path: "evil", key: `files/${"b".repeat(40)}/data/x`, size: 1 },
      ],
    }, "now", "2026-01-08T00:00:00.000Z")!;
    assert.equal(r.job.status, "completed");
    assert.equal(r.job.expiresAt, "2026-01-08T00:00:00.000Z");
    assert.deepEqual(r.files, [{ path: "Film/a.mkv", key: "Film/a.mkv", size: 10 }]);
    assert.equal(r.job.size, 10);
  });

  it("adds a requester once, and requeues only failed or cancelled jobs", () => {
    const j = rec().job;
    assert.equal(withRequester(j, { via: "api", user: "u" }), j);
    assert.equal(withRequester(j, { via: "discord", user: "42" }).requesters.length, 2);
    assert.equal(requeued(j, "now"), j);
    assert.equal(requeued({ ...j, status: "failed" }, "now").status, "queued");
  });
});

describe("message parsing", () => {
  const poison = (fn: () => unknown, withId: boolean) => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof PoisonMessage);
      assert.equal(err.id !== null, withId);
      return;
    }
    assert.fail("expected a poison message");
  };

  it("refuses malformed requests, naming the job when it can", () => {
    poison(() => parseRequestMessage("{nope"), false);
    poison(() => parseRequestMessage(JSON.stringify({ v: 2, type: "add", id })), true);
    poison(() => parseRequestMessage(JSON.stringify({ v: 1, type: "add", id, source: { kind: "ftp" } })), true);
    poison(() => parseRequestMessage(JSON.stringify({ v: 1, type: "add", id: "../../x" })), false);
  });

  it("reads S3 notifications for manifests only", () => {
    const s3 = (key: string) => JSON.stringify({ Records: [{ s3: { object: { key } } }] });
    assert.deepEqual(parseFactsQueueMessage(s3(`files/${id}/manifest.json`)), { kind: "manifest", id });
    assert.equal(parseFactsQueueMessage(s3(`files/${id}/data/manifest.json`)).kind, "ignore");
    assert.equal(parseFactsQueueMessage(s3(`files/${id}/data/x/manifest.json`)).kind, "ignore");
    assert.equal(parseFactsQueueMessage(JSON.stringify({ Event: "s3:TestEvent" })).kind, "ignore");
  });

  it("refuses malformed facts", () => {
    poison(() => parseFactsQueueMessage(JSON.stringify({ v: 1, type: "progress", id, at: "2026-01-01T00:00:00Z" })), true);
    poison(() => parseFactsQueueMessage(JSON.stringify({ v: 1, type: "failed", id, at: "yesterday", error: {} })), true);
  });
});

describe("expiry", () => {
  const done = { ...rec().job, status: "completed" as const, expiresAt: "2026-01-08T00:00:00.000Z", updatedAt: "2026-01-01T00:00:00.000Z" };
  it("a completed job's files expire at expiresAt, and only a completed job's", () => {
    assert.equal(filesExpired(done, "2026-01-07T23:59:59.999Z"), false);
    assert.equal(filesExpired(done, "2026-01-08T00:00:00.000Z"), true);
    assert.equal(filesExpired({ ...done, status: "failed" }, "2027-01-01T00:00:00.000Z"), false);
    assert.equal(filesExpired({ ...done, expiresAt: null }, "2027-01-01T00:00:00.000Z"), false);
  });

  it("an expired job handed in again starts over; one not yet expired stays", () => {
    assert.equal(requeued(done, "2026-01-02T00:00:00.000Z"), done);
    const again = requeued(done, "2026-02-01T00:00:00.000Z");
    assert.deepEqual([again.status, again.expiresAt, again.files], ["queued", null, []]);
  });

  it("the store forgets an ended job 30 days after its files (or its end); a live job never", () => {
    assert.equal(recordExpiry(done, 7)!.toISOString(), "2026-02-07T00:00:00.000Z");
    assert.equal(recordExpiry({ ...done, status: "failed", expiresAt: null }, 7)!.toISOString(), "2026-02-07T00:00:00.000Z");
    assert.equal(recordExpiry({ ...done, status: "downloading", expiresAt: null }, 7), null);
  });
});
