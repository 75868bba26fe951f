// Local mode's backup and restore, exactly as docs/local.md words them: stop local mode, copy the whole
// data folder with `cp -a`, and to restore put the copy back in the folder's place with `cp -a` and
// start again. The original is wiped in between, so everything after the start comes from the copy.
// This file runs its own stack (not the shared one): it stops and starts it on one data folder.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdir, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import type { Job } from "../../lib/job.ts";
import { completeTorrent, startTestStack, type TestStack } from "../support/stack.ts";
import type { MadeTorrent } from "../support/torrents.ts";

const run = promisify(execFile);
let s: TestStack;

const complete = (made: MadeTorrent) => completeTorrent(s, made);

const listed = async () => {
  const r = await s.call("GET", "/api/jobs?limit=200");
  assert.equal(r.status, 200);
  return (r.body.jobs as Job[]).map((j) => ({ id: j.id, name: j.name, status: j.status, size: j.size, files: j.files.map((f) => [f.path, f.size]) }));
};

/** Runs a documented shell command as written, in `cwd`, with `$BACKUP` standing for the backup disk. */
const sh = (cmd: string, cwd: string, backup: string) => run("bash", ["-c", cmd], { cwd, env: { ...process.env, BACKUP: backup } });

describe("local mode's backup and restore of the data folder (docs/local.md)", () => {
  let made: MadeTorrent;
  let job: Job;
  before(async () => {
    s = await startTestStack();
    made = await s.seed({
      name: `Backup ${randomBytes(3).toString("hex")}`,
      files: [{ path: ["disc 1", "01 – track.flac"], size: 900_000 }, { path: ["notes.txt"], data: Buffer.from("kept across a restore") }],
    });
    job = await complete(made);
    await s.checkLinks(job, made);
  });
  after(async () => {
    await s?.stop();
  });

  it("stop, cp -a the folder, wipe it, cp -a the copy back, start: the job is there, completed, its links give the seeded bytes", async () => {
    const before = await listed();
    const dataDir = s.dataDir;
    const parent = dirname(dataDir);
    const folder = basename(dataDir);
    const backup = join(s.tmp, "backup");
    const mode = (await stat(dataDir)).mode & 0o777;
    let copied = "";
    const t0 = Date.now();
    await s.restart({
      hard: false,
      whileStopped: async () => {
        // Back up (docs/local.md): `cp -a .t2s /backup/t2s-$(date +%F)`, the folder here being `stack`.
        await run("mkdir", ["-p", backup]);
        await sh(`cp -a ${folder} "$BACKUP/t2s-$(date +%F)"`, parent, backup);
        const [name, ...more] = await readdir(backup);
        assert.deepEqual(more, [], "one copy");
        copied = join(backup, name!);
        // The disk the folder was on is lost.
        await rm(dataDir, { recursive: true, force: true });
        // Restore (docs/local.md): `cp -a /backup/t2s-2026-12-07 .t2s`, into a folder that is not there.
        await sh(`cp -a "$BACKUP/${name}" ${folder}`, parent, backup);
      },
    });
    const seconds = (Date.now() - t0) / 1000;
    assert.equal((await stat(dataDir)).mode & 0o777, mode, "the restored folder keeps its mode");
    assert.equal(mode, 0o700);
    assert.deepEqual(await listed(), before, "the job list after the restore");
    const after = (await s.call("GET", `/api/jobs/${made.infoHash}`)).body.job as Job;
    assert.equal(after.status, "completed");
    await s.checkLinks(after, made);
    // The backup is a folder of its own, untouched by the start on the restored one.
    assert.ok((await stat(join(copied, "jobs.db"))).isFile());
    console.log(JSON.stringify({ backup: "cp -a", restore: "cp -a", stop_copy_start_s: seconds }));
  });

  it("a new job completes on the restored folder", async () => {
    const fresh = await s.seed({ name: `after-restore-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 1024 * 1024 + 3 } });
    const done = await complete(fresh);
    await s.checkLinks(done, fresh);
    const ids = (await listed()).map((j) => j.id);
    assert.ok(ids.includes(made.infoHash) && ids.includes(fresh.infoHash), ids.join(", "));
  });
});
