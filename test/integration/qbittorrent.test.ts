// The qBittorrent API with real third-party clients (PyPI qbittorrent-api, npm @ctrl/qbittorrent) and the
// real `t2s sync` agent against the local stack: add with a category, complete only once on the agent's
// disk, delete with files. Then bad input, answered as qbittorrent-nox answers it.
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { QBittorrent } from "@ctrl/qbittorrent";
import { repoRoot } from "../../scripts/local/paths.ts";
import { sleep } from "../../lib/time.ts";
import { testStack } from "../support/shared.ts";
import { clientOptions, type TestStack } from "../support/stack.ts";
import type { MadeTorrent } from "../support/torrents.ts";

let s: TestStack;
let s3: S3Client;
let tmp: string;
const python = join(repoRoot, ".cache", "venv", "bin", "python");
const script = join(repoRoot, "test", "support", "qbt_client.py");
const agents: ChildProcess[] = [];

before(async () => {
  s = await testStack();
  s3 = new S3Client(clientOptions(s).s3);
  tmp = await mkdtemp(join(tmpdir(), "t2s-qbt-"));
});
after(async () => {
  for (const a of agents) if (a.exitCode === null && a.signalCode === null) a.kill("SIGKILL");
  await rm(tmp, { recursive: true, force: true });
});

const qbt = (path: string) => `${s.url}/qbittorrent/api/v2/${path}`;

function py(args: string[]): Promise<any> {
  return new Promise((resolve, reject) => {
    execFile(python, [script, ...args], { env: { ...process.env, T2S_QBT_PASSWORD: s.apiToken }, timeout: 150_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`qbt_client.py ${args[0]} failed: ${stderr || err.message}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

/** Starts `t2s sync` (Node 24 on the CLI's entry); its JSON log lines are collected. */
function startSync(dir: string, extra: string[] = []): { proc: ChildProcess; lines: any[]; exited: Promise<void> } {
  const proc = spawn(process.execPath, [join(repoRoot, "cli", "main.ts"), "sync", dir, ...extra], {
    env: { ...process.env, T2S_URL: s.url, T2S_API_TOKEN: s.apiToken }, stdio: ["ignore", "pipe", "pipe"],
  });
  agents.push(proc);
  const lines: any[] = [];
  let buf = "";
  proc.stdout!.setEncoding("utf8").on("data", (c: string) => {
    buf += c;
    for (let i; (i = buf.indexOf("\n")) >= 0; buf = buf.slice(i + 1)) {
      try { lines.push(JSON.parse(buf.slice(0, i))); } catch { /* not a log line */ }
    }
  });
  proc.stderr!.resume();
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  return { proc, lines, exited };
}

async function until<T>(what: string, f: () => Promise<T | null | undefined | false>, ms = 90_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const objects = async (id: string) => (await s3.send(new ListObjectsV2Command({ Bucket: s.outputs.bucket, Prefix: `files/${id}/` }))).KeyCount ?? 0;

async function checkBytes(root: string, made: MadeTorrent): Promise<void> {
  for (const f of made.files) {
    const inside = f.path.split("/").slice(1).join("/") || f.path;
    const got = sha(await readFile(join(root, inside)));
    assert.equal(got, made.sha256.get(f.path), `${f.path} at ${root}`);
  }
}

describe("the qBittorrent API", () => {
  it("answers logins and calls without a session as qBittorrent does", async () => {
    let r = await fetch(qbt("app/webapiVersion"));
    assert.equal(r.status, 403);
    assert.equal(await r.text(), "Forbidden");
    r = await fetch(qbt("auth/login"), { method: "POST", body: new URLSearchParams({ username: "t2s", password: "wrong" }) });
    assert.equal(r.status, 200);
    assert.equal(await r.text(), "Fails.");
    assert.equal(r.headers.get("set-cookie"), null);
    r = await fetch(qbt("auth/login"), { method: "POST", body: new URLSearchParams({ username: "admin", password: s.apiToken }) });
    assert.equal(await r.text(), "Fails.", "the user name is t2s");
    r = await fetch(qbt("auth/login"), { method: "POST", body: new URLSearchParams({ username: "t2s", password: s.apiToken }) });
    assert.equal(await r.text(), "Ok.");
    const sid = /^SID=([^;]+);/.exec(r.headers.get("set-cookie") ?? "")?.[1];
    assert.ok(sid, "an SID cookie");
    r = await fetch(qbt("app/webapiVersion"), { headers: { cookie: `SID=${sid}` } });
    assert.equal(await r.text(), "2.8.19");
    r = await fetch(qbt("app/version"), { headers: { authorization: `Bearer ${s.apiToken}` } });
    assert.equal(await r.text(), "v4.5.2", "a bearer token works too");
    r = await fetch(qbt("app/version"), { headers: { cookie: "SID=forged.value" } });
    assert.equal(r.status, 403);
    r = await fetch(qbt("no/such/call"), { headers: { cookie: `SID=${sid}` } });
    assert.equal(r.status, 404);
    assert.equal(await r.text(), "Not Found");
  });

  it("PyPI qbittorrent-api: a magnet with a category, complete after t2s sync, deleted with its files", async () => {
    const made = await s.seed({ name: `qbt-py ${randomBytes(3).toString("hex")}`, files: [{ path: ["ep1.mkv"], size: 700_000 }, { path: ["subs", "ep1.srt"], data: Buffer.from("1\n00:00 --> 00:01\nhi\n") }] });
    const dir = join(tmp, "py");
    const agent = startSync(dir, ["--category", "tv-py"]);
    await until("the agent's start", async () => agent.lines.some((l) => l.msg === "sync started"));
    const added = await py(["add", `${s.url}/qbittorrent`, made.infoHash, "tv-py", s.magnet(made)]);
    assert.equal(added.added, "Ok.");
    assert.equal(added.webapi, "2.8.19");
    assert.ok(added.categories.includes("tv-py"));
    assert.equal(added.save_path, join(dir), "the agent set save_path to its folder");
    assert.equal(added.info.length, 1);
    const t = added.info[0];
    assert.equal(t.hash, made.infoHash);
    assert.equal(t.category, "tv-py");
    assert.equal(t.tags, "t2s-test");
    assert.ok(["metaDL", "queuedDL", "downloading", "forcedDL"].includes(t.state), t.state);
    for (const k of ["size", "progress", "dlspeed", "eta", "ratio", "added_on", "amount_left"]) assert.equal(typeof t[k], "number", k);

    // Done in storage is not done for the client: only once the agent has it on disk.
    const followed = await py(["follow", `${s.url}/qbittorrent`, made.infoHash, "tv-py"]);
    assert.equal(followed.info.state, "pausedUP");
    assert.equal(followed.info.progress, 1);
    assert.ok(!followed.states.includes("uploading") && !followed.states.includes("stalledUP"), followed.states.join());
    const content = followed.info.content_path as string;
    assert.equal(content, join(dir, "tv-py", made.name));
    assert.notEqual(content, followed.info.save_path, "Sonarr needs content_path != save_path");
    await checkBytes(content, made);
    assert.deepEqual(Object.keys(followed.on_disk).sort(), ["ep1.mkv", "subs/ep1.srt"]);
    assert.equal(followed.files.length, 2);
    assert.equal(followed.properties.save_path, join(dir, "tv-py"));

    const deleted = await py(["delete", `${s.url}/qbittorrent`, made.infoHash, "tv-py"]);
    assert.ok(!deleted.listed.includes(made.infoHash));
    assert.equal(deleted.properties, "404");
    await until("the copy removed", async () => !(await stat(content).then(() => true, () => false)));
    await until("the objects removed", async () => (await objects(made.infoHash)) === 0);
    assert.equal((await s.call("GET", `/api/jobs/${made.infoHash}`)).body.job.status, "expired", "the record stays, files gone");
    agent.proc.kill("SIGTERM");
    await agent.exited;
    assert.equal(agent.proc.exitCode, 0);
  });

  it("npm @ctrl/qbittorrent: a .torrent file with a category, listed, and removed", async () => {
    const made = await s.seed({ name: `qbt-js-${randomBytes(3).toString("hex")}`, single: { path: ["movie.mkv"], size: 300_000 } });
    const client = new QBittorrent({ baseUrl: `${s.url}/qbittorrent/`, username: "t2s", password: s.apiToken });
    await client.login();
    assert.equal(await client.getApiVersion(), "2.8.19");
    await client.createCategory("movies-js").catch(() => {});
    assert.ok("movies-js" in (await client.getCategories()));
    await client.addTorrent(new Uint8Array(made.torrent), { category: "movies-js" } as never);
    const listed = await client.listTorrents({ category: "movies-js" });
    assert.deepEqual(listed.map((x) => x.hash), [made.infoHash]);
    const dir = join(tmp, "js");
    const agent = startSync(dir);
    const done = await until("complete for the client", async () => {
      const all = await client.getAllData();
      const x = all.torrents.find((y) => y.id === made.infoHash);
      return x?.isCompleted ? x : null;
    });
    assert.equal(done.label, "movies-js");
    assert.equal(done.savePath, join(dir, "movies-js"));
    assert.equal(sha(await readFile(join(dir, "movies-js", made.name, made.name))), [...made.sha256.values()][0]);
    await client.removeTorrent(made.infoHash, true);
    assert.ok(!(await client.listTorrents()).some((x) => x.hash === made.infoHash));
    await until("the copy removed", async () => (await readdir(join(dir, "movies-js"))).length === 0);
    agent.proc.kill("SIGTERM");
    await agent.exited;
  });

  it("answers bad input with qBittorrent's codes and loses nothing", async () => {
    const made = await s.seed({ name: `qbt-bad-${randomBytes(3).toString("hex")}`, single: { path: ["x.bin"], size: 50_000 } });
    const auth = { authorization: `Bearer ${s.apiToken}` };
    const post = (path: string, form: Record<string, string> | FormData | string, headers: Record<string, string> = {}) =>
      fetch(qbt(path), { method: "POST", headers: { ...auth, ...headers }, body: form instanceof FormData || typeof form === "string" ? form : new URLSearchParams(form) });
    const answer = async (r: Response) => [r.status, await r.text()];
    assert.deepEqual(await answer(await post("torrents/add", { urls: s.magnet(made), category: "bad-in" })), [200, "Ok."]);
    const unknown = "0".repeat(40);
    assert.deepEqual(await answer(await post("torrents/properties", { hash: unknown })), [404, "Not Found"]);
    assert.deepEqual(await answer(await post("torrents/files", { hash: unknown })), [404, "Not Found"]);
    assert.deepEqual(await answer(await post("torrents/properties", {})), [400, "Bad Request"]);
    assert.deepEqual(await answer(await post("torrents/setCategory", { hashes: made.infoHash, category: "never-made" })), [409, "Incorrect category name"]);
    assert.deepEqual(await answer(await post("torrents/createCategory", { category: "/bad" })), [409, "Incorrect category name"]);
    assert.deepEqual(await answer(await post("torrents/createCategory", { category: "a//b" })), [409, "Incorrect category name"]);
    assert.deepEqual(await answer(await post("torrents/createCategory", { category: "" })), [400, "Category cannot be empty"]);
    assert.deepEqual(await answer(await post("torrents/createCategory", { category: "bad-in" })), [409, "Unable to create category"]);
    assert.deepEqual(await answer(await post("torrents/setCategory", { hashes: unknown, category: "bad-in" })), [200, ""]);
    assert.deepEqual(await answer(await post("torrents/delete", { hashes: unknown, deleteFiles: "true" })), [200, ""]);
    assert.deepEqual(await answer(await post("torrents/delete", {})), [400, "Bad Request"]);
    assert.deepEqual(await answer(await post("torrents/filePrio", { hash: made.infoHash, id: "x", priority: "1" })), [400, "File IDs must be integers"]);
    assert.deepEqual(await answer(await post("torrents/filePrio", { hash: made.infoHash, id: "0", priority: "9" })), [400, "Priority is not valid"]);
    assert.deepEqual(await answer(await post("torrents/setShareLimits", { hashes: made.infoHash })), [400, "Bad Request"]);
    assert.deepEqual(await answer(await post("torrents/add", { urls: "garbage" })), [200, "Fails."]);
    assert.deepEqual(await answer(await post("torrents/add", {})), [200, "Fails."]);
    const notTorrent = new FormData();
    notTorrent.set("torrents", new Blob([Buffer.from("not bencode")]), "junk.torrent");
    assert.deepEqual(await answer(await post("torrents/add", notTorrent)), [415, "Error: 'junk.torrent' is not a valid torrent file."]);
    // A multipart body that ends early, and one whose boundary is not the declared one.
    assert.deepEqual(await answer(await post("torrents/add", "--XX\r\nContent-Disposition: form-data; name=\"urls\"\r\n\r\nmagnet", { "content-type": "multipart/form-data; boundary=XX" })), [400, "Bad Request"]);
    assert.deepEqual(await answer(await post("torrents/add", "garbage", { "content-type": "multipart/form-data" })), [400, "Bad Request"]);
    assert.deepEqual(await answer(await post("app/setPreferences", { json: "{not json" })), [400, "Bad Request"]);
    assert.deepEqual(await answer(await post("app/setPreferences", { json: JSON.stringify({ save_path: "relative/path" }) })), [400, "Bad Request"]);
    // Nothing lost: the job is there, in its category, and every call that means nothing was recorded.
    for (const [call, form] of [["torrents/topPrio", { hashes: made.infoHash }], ["torrents/setForceStart", { hashes: made.infoHash, value: "true" }],
      ["torrents/setShareLimits", { hashes: made.infoHash, ratioLimit: "2", seedingTimeLimit: "60" }], ["torrents/addTags", { hashes: made.infoHash, tags: "a, b" }]] as const) {
      assert.deepEqual(await answer(await post(call, form)), [200, ""], call);
    }
    const info = await (await post("torrents/info", { hashes: made.infoHash })).json() as any[];
    assert.equal(info.length, 1);
    assert.equal(info[0].category, "bad-in");
    assert.equal(info[0].tags, "a, b");
    assert.equal(info[0].ratio_limit, 2);
    assert.equal(info[0].seeding_time_limit, 60);
    assert.equal(info[0].force_start, true);
    const job = await s.waitForJob(made.infoHash, (j) => j.status === "completed");
    assert.equal(job.category, "bad-in");
    // Files are known once complete: priorities are checked against them.
    assert.deepEqual(await answer(await post("torrents/filePrio", { hash: made.infoHash, id: "5", priority: "1" })), [409, "File ID is not valid"]);
    assert.deepEqual(await answer(await post("torrents/filePrio", { hash: made.infoHash, id: "0", priority: "0" })), [200, ""]);
    const files = await (await post("torrents/files", { hash: made.infoHash })).json() as any[];
    assert.equal(files[0].priority, 0);
    // The delivery report: only for a completed job, with an absolute path.
    assert.equal((await s.call("POST", `/api/jobs/${made.infoHash}/delivered`, { path: "relative" })).status, 400);
    assert.equal((await s.call("POST", `/api/jobs/${unknown}/delivered`, { path: "/x" })).status, 404);
  });
});

describe("t2s sync", () => {
  it("resumes a file after kill -9, never shows a half job, and keeps hostile names inside DIR", async () => {
    const big = 32 * 1024 * 1024;
    const made = await s.seed({
      name: `..\\..\\escape\u0001${randomBytes(3).toString("hex")}`,
      files: [{ path: ["big.bin"], size: big }, { path: ["..", "..", "up.txt"], data: Buffer.from("up") }],
      placeholders: true,
    });
    assert.equal((await s.call("POST", "/api/jobs", { magnet: s.magnet(made) })).status, 202);
    const form = new URLSearchParams({ hashes: made.infoHash, category: "hostile" });
    await fetch(qbt("torrents/createCategory"), { method: "POST", headers: { authorization: `Bearer ${s.apiToken}` }, body: new URLSearchParams({ category: "hostile" }) });
    assert.equal((await fetch(qbt("torrents/setCategory"), { method: "POST", headers: { authorization: `Bearer ${s.apiToken}` }, body: form })).status, 200);
    await s.waitForJob(made.infoHash, (j) => j.status === "completed");
    const dir = join(tmp, "hostile");
    // Watch the category folder: whatever appears there must be whole.
    let half = "";
    let seen = false;
    const watching = (async () => {
      while (!seen) {
        const names = await readdir(join(dir, "hostile")).catch(() => [] as string[]);
        for (const n of names) {
          seen = true;
          const st = await stat(join(dir, "hostile", n, "big.bin")).catch(() => null);
          if (st?.size !== big) half = `${n} appeared with big.bin at ${st?.size}`;
        }
        await sleep(5);
      }
    })();
    const first = startSync(dir, ["--category", "hostile"]);
    const partial = join(dir, ".t2s", "partial", made.infoHash, "big.bin");
    for (const end = Date.now() + 60_000; ((await stat(partial).catch(() => null))?.size ?? 0) < 1024 * 1024; await sleep(2)) {
      assert.ok(Date.now() < end, "the agent never started the big file");
    }
    first.proc.kill("SIGKILL");
    await first.exited;
    const before = (await stat(partial)).size;
    assert.ok(before < big, "killed mid-file");
    const second = startSync(dir, ["--category", "hostile"]);
    await until("delivered", async () => (await s.call("GET", `/api/jobs/${made.infoHash}`)).body.job.delivered);
    await watching;
    assert.equal(half, "");
    const copied = second.lines.find((l) => l.msg === "sync copied a job" && l.job === made.infoHash);
    assert.equal(copied.resumed, 1, "the big file was resumed, not fetched again");
    // Everything stayed inside DIR: the hostile name and the ".." path were made safe.
    const top = (await readdir(dir)).sort();
    assert.deepEqual(top, [".t2s", "hostile"]);
    const [folder] = await readdir(join(dir, "hostile"));
    assert.ok(folder && !folder.includes("/") && folder !== ".." && folder !== ".", folder);
    assert.equal((await stat(join(dir, "hostile", folder, "big.bin"))).size, big);
    const up = (await readdir(join(dir, "hostile", folder), { recursive: true })).find((f) => f.endsWith("up.txt"));
    assert.ok(up, "the .. file is inside the job's folder");
    assert.equal(await readFile(join(dir, "hostile", folder, up), "utf8"), "up");
    assert.equal(await stat(join(tmp, "escape")).then(() => "escaped", () => "inside"), "inside");
    assert.equal(await stat(join(tmp, "up.txt")).then(() => "escaped", () => "inside"), "inside");
    // A restart fetches nothing again.
    second.proc.kill("SIGTERM");
    await second.exited;
    const third = startSync(dir, ["--category", "hostile"]);
    await until("the third agent's start", async () => third.lines.some((l) => l.msg === "sync started"));
    await sleep(1500);
    assert.ok(!third.lines.some((l) => l.msg === "sync copied a job"), "nothing fetched twice");
    third.proc.kill("SIGTERM");
    await third.exited;
  });

  it("blackhole: a .magnet in <watch>/<category>/ is handed in with that category", async () => {
    const made = await s.seed({ name: `qbt-hole-${randomBytes(3).toString("hex")}`, single: { path: ["a.bin"], size: 20_000 } });
    const watch = join(tmp, "hole");
    const dir = join(tmp, "hole-out");
    const agent = startSync(dir, ["--watch", watch]);
    await until("the agent's start", async () => agent.lines.some((l) => l.msg === "sync started"));
    const { mkdir } = await import("node:fs/promises");
    await mkdir(join(watch, "radarr"), { recursive: true });
    await writeFile(join(watch, "radarr", "x.magnet"), s.magnet(made));
    await writeFile(join(watch, "radarr", "y.torrent"), "not a torrent");
    const job = await s.waitForJob(made.infoHash, (j) => j.status === "completed");
    assert.equal(job.category, "radarr");
    await until("the copy", async () => stat(join(dir, "radarr", made.name, made.name)).catch(() => null));
    await until("the bad file kept aside", async () => stat(join(watch, "radarr", "y.torrent.failed")).catch(() => null));
    assert.equal(await stat(join(watch, "radarr", "x.magnet")).then(() => "kept", () => "gone"), "gone");
    agent.proc.kill("SIGTERM");
    await agent.exited;
  });
});
