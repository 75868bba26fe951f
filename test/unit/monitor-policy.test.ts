// The monitor's policy (nextStep in seedbox/monitor.ts): what a torrent does next.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TorrentStatus } from "../../seedbox/deluge.ts";
import { nextStep } from "../../seedbox/monitor.ts";

const now = 1_800_000_000_000;
const policy = { magnetTimeoutS: 600 };
const status = (o: Partial<TorrentStatus> = {}): TorrentStatus => ({
  name: "n", state: "Downloading", progress: 40, total_wanted: 1000, total_done: 400, download_payload_rate: 1, eta: 5,
  is_finished: false, save_path: "/d", time_added: now / 1000 - 10, message: "", num_files: 1,
  ratio: 0, seeding_time: 0, ...o,
});
const finished = status({ state: "Seeding", progress: 100, total_done: 1000, is_finished: true });
const upload = { abort: new AbortController(), done: Promise.resolve() };

describe("monitor policy", () => {
  it("fails a torrent Deluge reports in error, with Deluge's message", () => {
    const step = nextStep(status({ state: "Error", message: "disk gone", is_finished: true }), undefined, now, policy);
    assert.deepEqual(step, { kind: "fail", code: "deluge_error", message: "Deluge could not download this torrent: disk gone." });
  });

  it("keeps a downloading torrent within the disk guard by what it still needs", () => {
    assert.deepEqual(nextStep(status(), undefined, now, policy), { kind: "download", remaining: 600 });
  });

  it("waits for a magnet's metadata, then fails it after the timeout", () => {
    const magnet = (ageS: number) => status({ total_wanted: 0, total_done: 0, num_files: 0, time_added: now / 1000 - ageS });
    assert.deepEqual(nextStep(magnet(600), undefined, now, policy), { kind: "metadata" });
    const step = nextStep(magnet(601), undefined, now, policy);
    assert.equal(step.kind === "fail" && step.code, "no_peers");
  });

  it("does not count a torrent still moving (every piece in, not finished) as done", () => {
    assert.equal(nextStep(status({ state: "Moving", progress: 100, is_finished: true }), undefined, now, policy).kind, "download");
  });

  it("uploads a finished torrent once: not while its upload runs, nor before a retry is due", () => {
    assert.deepEqual(nextStep(finished, undefined, now, policy), { kind: "upload" });
    assert.deepEqual(nextStep(finished, { upload }, now, policy), { kind: "wait" });
    assert.deepEqual(nextStep(finished, { failures: { count: 1, retryAt: now + 1 } }, now, policy), { kind: "wait" });
    assert.deepEqual(nextStep(finished, { failures: { count: 1, retryAt: now } }, now, policy), { kind: "upload" });
  });

  it("seeds an uploaded torrent", () => {
    assert.deepEqual(nextStep(finished, { uploaded: true }, now, policy), { kind: "seed" });
  });
});
