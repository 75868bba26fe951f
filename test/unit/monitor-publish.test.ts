// The monitor's pass never waits on a publish: one stalled AWS call must not hold up the other torrents.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLogger } from "../../lib/log.ts";
import type { TorrentStatus } from "../../seedbox/deluge.ts";
import { Monitor } from "../../seedbox/monitor.ts";
import { Work } from "../../seedbox/work.ts";

const status = (name: string): TorrentStatus => ({
  name, state: "Downloading", progress: 40, total_wanted: 1000, total_done: 400, download_payload_rate: 1, eta: 5,
  is_finished: false, save_path: "/d", time_added: Date.now() / 1000 - 10, message: "", num_files: 1,
  ratio: 0, seeding_time: 0,
});
const [a, b] = ["a".repeat(40), "b".repeat(40)];
/** Work with room to spare, and a monitor over it that holds every lease, with the test's Deluge and uploader. */
const newWork = () => new Work({ deluge: { status: async () => ({}), remove: async () => {} } as never, freeBytes: async () => 1e12, diskReserveBytes: 0 });
const monitorOf = (work: Work, deluge: object, uploader: object) => new Monitor({
  deluge, uploader, work, log: createLogger("test", { level: "error" }),
  facts: { progress: async () => {}, failed: async () => {}, uploaded: async () => {} },
  policy: { magnetTimeoutS: 600, diskReserveBytes: 0, progressIntervalMs: 0, pollMs: 1000 },
  leases: { ensure: async () => "held", release: async () => {}, noRoom: async () => {} },
} as never);

describe("monitor", () => {
  it("finishes a pass while a progress publish hangs, and sends that torrent's progress again once it can", async () => {
    const sent: string[] = [];
    let stalled = true;
    let fail: (e: Error) => void = () => {};
    const facts = {
      progress: (id: string) => {
        if (id === a && stalled) return new Promise<void>((_, reject) => (fail = reject));
        sent.push(id);
        return Promise.resolve();
      },
      failed: async () => {}, uploaded: async () => {},
    };
    const work = new Work({ deluge: { status: async () => ({}), remove: async () => {} } as never, freeBytes: async () => 1e12, diskReserveBytes: 0 });
    const monitor = new Monitor({
      deluge: { statuses: async () => ({ [a]: status("a"), [b]: status("b") }), resume: async () => {} },
      facts, uploader: { upload: async () => {} } as never, work, log: createLogger("test", { level: "error" }),
      policy: { magnetTimeoutS: 600, diskReserveBytes: 0, progressIntervalMs: 0, pollMs: 1000 },
      leases: { ensure: async () => "held", release: async () => {}, noRoom: async () => {} },
    } as never);
    const ac = new AbortController();
    let guard: NodeJS.Timeout | undefined;
    const stuck = new Promise<"stuck">((r) => (guard = setTimeout(() => r("stuck"), 5_000)));
    assert.notEqual(await Promise.race([monitor.tick(ac.signal), stuck]), "stuck", "the pass waited for the stalled publish");
    clearTimeout(guard);
    assert.deepEqual(sent, [b]);
    // The stalled call fails at last (an SDK timeout): a later pass sends a's progress again.
    fail(new Error("socket timeout"));
    stalled = false;
    await new Promise((r) => setImmediate(r));
    await monitor.tick(ac.signal);
    assert.ok(sent.includes(a), JSON.stringify(sent));
  });
});

describe("monitor and Deluge's file lists", () => {
  it("asks for a torrent's file list once, not on every pass, and uploads with it", async () => {
    let calls = 0;
    let s = { ...status("a"), num_files: 2 };
    const files = [{ index: 0, path: "a/x.bin", size: 600, wanted: true }, { index: 1, path: "a/y.bin", size: 400, wanted: true }];
    const uploaded: unknown[] = [];
    const advanced: unknown[] = [];
    const work = new Work({ deluge: { status: async () => ({}), remove: async () => {} } as never, freeBytes: async () => 1e12, diskReserveBytes: 0 });
    const monitor = new Monitor({
      deluge: {
        statuses: async () => ({ [a]: s }),
        files: async () => ((calls += 1), files),
        resume: async () => {},
      },
      facts: { progress: async () => {}, failed: async () => {}, uploaded: async () => {} },
      uploader: { upload: async (job: { files: unknown }) => void uploaded.push(job.files) },
      early: { advance: async (_id: string, _root: string, f: unknown) => void advanced.push(f), discard: async () => {} },
      work, log: createLogger("test", { level: "error" }),
      policy: { magnetTimeoutS: 600, diskReserveBytes: 0, progressIntervalMs: 0, pollMs: 1000 },
      leases: { ensure: async () => "held", release: async () => {}, noRoom: async () => {} },
    } as never);
    const ac = new AbortController();
    for (let i = 0; i < 5; i++) await monitor.tick(ac.signal);
    s = { ...s, state: "Seeding", progress: 100, total_done: 1000, is_finished: true };
    await monitor.tick(ac.signal);
    await work.peek(a)?.upload?.done;
    assert.equal(calls, 1, "one file list for six passes");
    assert.deepEqual(advanced, Array(5).fill(files));
    assert.deepEqual(uploaded, [files]);
  });

  it("applies a request's file choice once the metadata is in, and uploads only the chosen files", async () => {
    let s = { ...status("a"), num_files: 0, total_wanted: 0 };
    let prio = [1, 1, 1];
    const chosen: unknown[] = [];
    const uploaded: unknown[] = [];
    const listed = () => ["a/x.mkv", "a/x.srt", "a/y.mkv"].map((path, index) => ({ index, path, size: 100, wanted: prio[index]! > 0 }));
    const work = newWork();
    const monitor = monitorOf(work, {
      statuses: async () => ({ [a]: s }),
      files: async () => (s.num_files > 0 ? listed() : []),
      chooseFiles: async (_id: string, count: number, on: number[]) => void (chosen.push([count, on]), (prio = prio.map((_, i) => (on.includes(i) ? 1 : 0)))),
      resume: async () => {},
    }, { upload: async (job: { files: unknown }) => void uploaded.push(job.files) });
    const ac = new AbortController();
    work.choose(a, ["*.srt", 2]);
    await monitor.tick(ac.signal);
    assert.deepEqual(chosen, [], "nothing to choose from before the metadata");
    s = { ...s, num_files: 3, total_wanted: 300 };
    await monitor.tick(ac.signal);
    await monitor.tick(ac.signal);
    assert.deepEqual(chosen, [[3, [1, 2]]], "chosen once");
    s = { ...s, state: "Seeding", progress: 100, total_wanted: 200, total_done: 200, is_finished: true };
    await monitor.tick(ac.signal);
    await work.peek(a)?.upload?.done;
    assert.deepEqual(uploaded, [listed().slice(1)]);
  });

  it("a wider choice that comes while the upload runs is fetched and uploaded again once that upload ends, under the choice it follows", async () => {
    const done = { ...status("a"), state: "Seeding", progress: 100, num_files: 3, total_wanted: 100, total_done: 100, is_finished: true };
    let s = done;
    let prio = [1, 0, 0];
    const listed = () => ["a/x.bin", "a/n.txt", "a/y.bin"].map((path, index) => ({ index, path, size: 100, wanted: prio[index]! > 0 }));
    const uploads: { chosen: unknown; files: string[] }[] = [];
    let finishUpload = () => {};
    const work = newWork();
    const monitor = monitorOf(work, {
      statuses: async () => ({ [a]: s }),
      files: async () => listed(),
      chooseFiles: async (_id: string, _count: number, on: number[]) => void (prio = prio.map((_, i) => (on.includes(i) ? 1 : 0))),
      resume: async () => {},
    }, {
      upload: async (job: { chosen: unknown; files: { path: string }[] }) => {
        uploads.push({ chosen: job.chosen, files: job.files.map((f) => f.path) });
        if (uploads.length === 1) await new Promise<void>((r) => (finishUpload = r));
      },
    });
    const ac = new AbortController();
    work.choose(a, [0]);
    await monitor.tick(ac.signal);
    await monitor.tick(ac.signal);
    assert.equal(uploads.length, 1, "uploading file 0");
    // Someone chooses file 2 meanwhile: nothing changes under the running upload.
    work.choose(a, [0, 2]);
    await monitor.tick(ac.signal);
    assert.deepEqual(prio, [1, 0, 0]);
    finishUpload();
    await work.peek(a)?.upload?.done;
    await monitor.tick(ac.signal);
    assert.deepEqual(prio, [1, 0, 1], "file 2 is fetched once that upload ended");
    s = { ...done, state: "Downloading", progress: 50, total_wanted: 200, is_finished: false };
    await monitor.tick(ac.signal);
    s = { ...done, total_wanted: 200, total_done: 200 };
    await monitor.tick(ac.signal);
    await work.peek(a)?.upload?.done;
    assert.deepEqual(uploads, [{ chosen: [0], files: ["a/x.bin"] }, { chosen: [0, 2], files: ["a/x.bin", "a/y.bin"] }]);
  });

  it("a wider choice naming no new file still uploads again, so the manifest names the choice the job now has", async () => {
    const s = { ...status("a"), state: "Seeding", progress: 100, num_files: 2, total_wanted: 100, total_done: 100, is_finished: true };
    const files = [{ index: 0, path: "a/x.bin", size: 100, wanted: true }, { index: 1, path: "a/n.txt", size: 5, wanted: false }];
    const uploads: unknown[] = [];
    const work = newWork();
    const monitor = monitorOf(work, { statuses: async () => ({ [a]: s }), files: async () => files, chooseFiles: async () => assert.fail("nothing changes in Deluge"), resume: async () => {} },
      { upload: async (job: { chosen: unknown }) => void uploads.push(job.chosen) });
    const ac = new AbortController();
    work.choose(a, [0]);
    for (let i = 0; i < 2; i++) await monitor.tick(ac.signal);
    await work.peek(a)?.upload?.done;
    // The same choice again (the sweeper's repeated request) uploads nothing more; a wider one does.
    work.get(a).chosen = { files: [0] };
    for (let i = 0; i < 2; i++) await monitor.tick(ac.signal);
    await work.peek(a)?.upload?.done;
    work.get(a).chosen = { files: [0, "x.*"] };
    for (let i = 0; i < 2; i++) await monitor.tick(ac.signal);
    await work.peek(a)?.upload?.done;
    assert.deepEqual(uploads, [[0], [0, "x.*"]]);
  });

  it("a lease taken again keeps the job's run and file choice, and drops what its earlier work left", () => {
    const work = newWork();
    Object.assign(work.get(a), { run: "r1", applied: { files: [0, 2] }, chosen: { files: [0, 2, 3] }, uploaded: true, failures: { count: 1, retryAt: 0 }, files: [] });
    work.retake(a);
    assert.deepEqual(work.peek(a), { run: "r1", applied: { files: [0, 2] }, chosen: { files: [0, 2, 3] } });
    work.get(b).uploaded = true;
    work.retake(b);
    assert.equal(work.peek(b), undefined, "nothing to keep: nothing kept");
  });

  it("fails a job whose choice names none of the torrent's files", async () => {
    const failed: unknown[] = [];
    const work = new Work({ deluge: { status: async () => ({}), remove: async () => {} } as never, freeBytes: async () => 1e12, diskReserveBytes: 0 });
    const monitor = new Monitor({
      deluge: {
        statuses: async () => ({ [a]: { ...status("a"), num_files: 1, total_wanted: 5 } }),
        files: async () => [{ index: 0, path: "a.iso", size: 5, wanted: true }],
        chooseFiles: async () => assert.fail("nothing to choose"),
        resume: async () => {},
      },
      facts: { progress: async () => {}, failed: async (_id: string, code: string) => void failed.push(code), uploaded: async () => {} },
      uploader: { upload: async () => {} },
      work, log: createLogger("test", { level: "error" }),
      policy: { magnetTimeoutS: 600, diskReserveBytes: 0, progressIntervalMs: 0, pollMs: 1000 },
      leases: { ensure: async () => "held", release: async () => {}, noRoom: async () => {} },
    } as never);
    work.choose(a, ["*.mkv", 3]);
    await monitor.tick(new AbortController().signal);
    assert.deepEqual(failed, ["no_files_chosen"]);
  });

  it("after a restart, a held magnet still awaiting its metadata takes its file choice from the job's record", async () => {
    let s = { ...status("a"), num_files: 0, total_wanted: 0 };
    const chosen: unknown[] = [];
    let asked = 0;
    const work = new Work({ deluge: { status: async () => ({}), remove: async () => {} } as never, freeBytes: async () => 1e12, diskReserveBytes: 0 });
    const monitor = new Monitor({
      deluge: {
        statuses: async () => ({ [a]: s }),
        files: async () => ["a/x.mkv", "a/x.srt"].map((path, index) => ({ index, path, size: 100, wanted: true })),
        chooseFiles: async (_id: string, _count: number, on: number[]) => void chosen.push(on),
        resume: async () => {},
      },
      facts: { progress: async () => {}, failed: async () => {}, uploaded: async () => {} },
      uploader: { upload: async () => {} },
      work, log: createLogger("test", { level: "error" }),
      policy: { magnetTimeoutS: 600, diskReserveBytes: 0, progressIntervalMs: 0, pollMs: 1000 },
      leases: { ensure: async () => "held", release: async () => {}, noRoom: async () => {}, chosen: async () => (asked++, ["*.srt"]) },
    } as never);
    const ac = new AbortController();
    await monitor.tick(ac.signal);
    await monitor.tick(ac.signal);
    assert.equal(asked, 1, "the record is read once");
    s = { ...s, num_files: 2, total_wanted: 200 };
    await monitor.tick(ac.signal);
    assert.deepEqual(chosen, [[1]]);
  });
});
