import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyFact, applyManifest, type JobRecord } from "../../lib/apply-fact.ts";
import { newJob, requeued, withRequester } from "../../lib/job.ts";
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
    }, "now")!;
    assert.equal(r.job.status, "completed");
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
