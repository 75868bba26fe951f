// The real t2s CLI (through its launcher, as npx and a global install run it) against the real stack:
// a progress bar on a pseudo-terminal, plain lines in a pipe, --json, a resumed get, coded exits.
import assert from "node:assert/strict";
import { execFile, spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { repoRoot } from "../../scripts/local/paths.ts";
import { testStack } from "../support/shared.ts";
import type { TestStack } from "../support/stack.ts";

let s: TestStack;
let tmp: string;
const launcher = join(repoRoot, "bin", "t2s.js");

before(async () => {
  s = await testStack();
  tmp = await mkdtemp(join(tmpdir(), "t2s-cli-"));
});
after(() => rm(tmp, { recursive: true, force: true }));

function t2s(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [launcher, ...args], { env: { ...process.env, T2S_URL: s.url, T2S_API_TOKEN: s.apiToken, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe("the t2s CLI", () => {
  it("has --help for every command", async () => {
    for (const cmd of ["", "add", "ls", "show", "cancel", "rm", "get"]) {
      const r = await t2s(cmd ? [cmd, "--help"] : ["--help"]);
      assert.equal(r.code, 0, cmd);
      assert.match(r.stdout, /^Usage: t2s/, cmd);
    }
    const bad = await t2s(["frobnicate"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown command/);
  });

  it("in a pipe: plain progress lines, then one line per file with its link", async () => {
    const made = await s.seed({ name: `cli-pipe-${randomBytes(3).toString("hex")}`, files: [{ path: ["a.bin"], size: 400_000 }, { path: ["dir ü", "b.txt"], data: Buffer.from("bee") }] });
    const file = join(tmp, "pipe.torrent");
    await writeFile(file, made.torrent);
    const r = await t2s(["add", file, "--wait"]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /\u001b\[/, "no terminal escapes in a pipe");
    assert.match(r.stderr, new RegExp(`^${made.infoHash.slice(0, 8)} \\w+ \\d+%`, "m"));
    assert.match(r.stderr, /completed 100%/);
    // One line per file, then the zip of the two.
    const all = r.stdout.trim().split("\n");
    const zip = all.filter((l) => l.startsWith("(all files as one zip"));
    assert.equal(zip.length, 1, r.stdout);
    assert.match(zip[0]!.split("\t")[1]!, /\/zip\/[0-9a-f]{40}\?exp=\d+&sig=/);
    const lines = all.filter((l) => !zip.includes(l));
    assert.deepEqual(lines.map((l) => l.split("\t")[0]).sort(), [`${made.name}/a.bin`, `${made.name}/dir ü/b.txt`].sort());
    for (const l of lines) assert.match(l.split("\t")[1]!, /\/d\/[0-9a-f]{40}\/.+\?exp=\d+&sig=/);
  });

  it("on a terminal (script's pseudo-TTY): a progress bar, then the links", async () => {
    assert.equal(spawnSync("script", ["--version"]).status, 0, "script(1) (util-linux) makes the pseudo-TTY");
    const made = await s.seed({ name: `cli-tty-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 300_000 } });
    const env = { ...process.env, T2S_URL: s.url, T2S_API_TOKEN: s.apiToken };
    const cmd = [process.execPath, launcher, "add", s.magnet(made), "--wait"].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
    // Not spawnSync: the test process also runs the stack's AWS proxy, which must keep forwarding.
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn("script", ["-qefc", cmd, "/dev/null"], { env, stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => { stdout += d.toString("utf8"); });
      child.stderr.on("data", (d: Buffer) => { stderr += d.toString("utf8"); });
      child.on("close", (status) => resolve({ status, stdout, stderr }));
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /[█░]/, "a bar was drawn");
    assert.match(r.stdout, /100%/);
    assert.match(r.stdout, new RegExp(`${made.name.replace(/\./g, "\\.")}\\t\\S+/d/${made.infoHash}/`));
  });

  it("add --only fetches only the files its globs match; a glob matching none is refused with the API's message", async () => {
    const made = await s.seed({ name: `cli-only-${randomBytes(3).toString("hex")}`, files: [{ path: ["a.bin"], size: 300_000 }, { path: ["b.txt"], data: Buffer.from("bee") }, { path: ["c.nfo"], data: Buffer.from("sea") }] });
    const file = join(tmp, "only.torrent");
    await writeFile(file, made.torrent);
    const r = await t2s(["add", file, "--only", "*.txt", "--only", "*.nfo", "--wait", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const job = JSON.parse(r.stdout).jobs[0];
    assert.deepEqual(job.files.map((f: { path: string }) => f.path).sort(), [`${made.name}/b.txt`, `${made.name}/c.nfo`]);
    const none = await t2s(["add", file, "--only", "*.mkv"]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /"\*\.mkv", which matches no file/);
  });

  it("--json: show and ls are machine-readable", async () => {
    const made = await s.seed({ name: `cli-json-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 100_000 } });
    const added = await t2s(["add", s.magnet(made), "--wait", "--json"]);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(JSON.parse(added.stdout).jobs[0].status, "completed");
    const shown = JSON.parse((await t2s(["show", made.infoHash, "--json"])).stdout);
    assert.equal(shown.job.id, made.infoHash);
    const listed = JSON.parse((await t2s(["ls", "--json", "--limit", "5"])).stdout);
    assert.ok(Array.isArray(listed.jobs) && listed.jobs.length <= 5);
  });

  it("get resumes a partial file with Range and checks every size; rm deletes the files", async () => {
    const data = randomBytes(700_000);
    const made = await s.seed({ name: `cli-get-${randomBytes(3).toString("hex")}`, files: [{ path: ["big.bin"], data }, { path: ["sub", "small.txt"], data: Buffer.from("small") }] });
    const job = (await s.call("POST", "/api/jobs", { torrent: made.torrent.toString("base64") })).body.job;
    await s.waitForJob(job.id, (j) => j.status === "completed");
    const dir = join(tmp, "get");
    // A download cut off halfway: the first 300,000 bytes are there.
    const first = await t2s(["get", job.id, dir]);
    assert.equal(first.code, 0, first.stderr);
    const big = join(dir, made.name, "big.bin");
    await writeFile(big, data.subarray(0, 300_000));
    const again = await t2s(["get", job.id, dir, "--json"]);
    assert.equal(again.code, 0, again.stderr);
    const results = Object.fromEntries(JSON.parse(again.stdout).files.map((f: { path: string; result: string }) => [f.path, f.result]));
    assert.deepEqual(results, { [`${made.name}/big.bin`]: "resumed", [`${made.name}/sub/small.txt`]: "complete" });
    assert.equal(createHash("sha256").update(await readFile(big)).digest("hex"), createHash("sha256").update(data).digest("hex"));
    assert.equal((await stat(join(dir, made.name, "sub", "small.txt"))).size, 5);
    const removed = await t2s(["rm", job.id]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, / expired /);
    const gone = await t2s(["get", job.id, join(tmp, "gone")]);
    assert.equal(gone.code, 7);
    assert.match(gone.stderr, /expired/);
  });

  it("exits non-zero with a plain message: wrong token, unreachable, a bad id, a cancelled job", async () => {
    const wrong = await t2s(["ls"], { T2S_API_TOKEN: "not-the-token" });
    assert.equal(wrong.code, 4);
    assert.match(wrong.stderr, /refused the API token/);
    assert.ok(!wrong.stderr.includes("not-the-token"), "the token is not echoed");
    const down = await t2s(["ls", "--url", "http://127.0.0.1:9"]);
    assert.equal(down.code, 5);
    assert.match(down.stderr, /Cannot reach http:\/\/127\.0\.0\.1:9/);
    const bad = await t2s(["show", "nope"]);
    assert.equal(bad.code, 2);
    const magnet = `magnet:?xt=urn:btih:${randomBytes(20).toString("hex")}&dn=cli-cancel`;
    const waiting = t2s(["add", magnet, "--wait"]);
    const id = /btih:([0-9a-f]{40})/.exec(magnet)![1]!;
    await s.waitForJob(id, () => true);
    assert.equal((await t2s(["cancel", id])).code, 0);
    const r = await waiting;
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /cancelled/);
  });

  it("starts under an older Node on PATH (as a global install's #!/usr/bin/env node would)", () => {
    // The system's Node (20 here) when it is older than the project's; else the project's own.
    const system = spawnSync("/usr/bin/node", ["-v"], { encoding: "utf8" }).stdout ?? "";
    const older = /^v(1\d|2[0-3])\./.test(system) ? "/usr/bin/node" : process.execPath;
    const r = spawnSync(older, [launcher, "ls", "--help"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Usage: t2s ls/);
  });

  it("keeps the token: no plain http beyond loopback, no redirect followed, a token file instead of the environment", async () => {
    // Refused before any connection is made (the host is never looked up).
    const plain = await t2s(["ls"], { T2S_URL: "http://seedbox.example:8080" });
    assert.equal(plain.code, 2, plain.stderr);
    assert.match(plain.stderr, /Not sending the API token over plain http to seedbox\.example:8080/);
    assert.ok(!plain.stderr.includes(s.apiToken));
    const inUrl = await t2s(["ls"], { T2S_URL: `http://t2s:${s.apiToken}@127.0.0.1:1` });
    assert.equal(inUrl.code, 2);
    assert.ok(!inUrl.stderr.includes(s.apiToken), "the token in a URL is not echoed");

    // A server that redirects to another origin: the other origin hears nothing.
    const seen: IncomingHttpHeaders[] = [];
    const elsewhere = createServer((req, res) => { seen.push(req.headers); res.end("{}"); });
    await new Promise<void>((r) => elsewhere.listen(0, "127.0.0.2", r));
    const to = `http://127.0.0.2:${(elsewhere.address() as { port: number }).port}`;
    const redirector = createServer((req, res) => res.writeHead(307, { location: to + req.url }).end());
    await new Promise<void>((r) => redirector.listen(0, "127.0.0.1", r));
    try {
      const r = await t2s(["ls"], { T2S_URL: `http://127.0.0.1:${(redirector.address() as { port: number }).port}` });
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, /answered with a redirect/);
      assert.equal(seen.length, 0, "the redirect was not followed");
    } finally {
      redirector.close();
      elsewhere.close();
    }

    const file = join(tmp, "token");
    await writeFile(file, `${s.apiToken}\n`, { mode: 0o600 });
    const fromFile = await t2s(["ls", "--token-file", file], { T2S_API_TOKEN: "" });
    assert.equal(fromFile.code, 0, fromFile.stderr);
    const viaEnv = await t2s(["ls"], { T2S_API_TOKEN: "", T2S_API_TOKEN_FILE: file });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    await writeFile(join(tmp, "empty"), "");
    const empty = await t2s(["ls", "--token-file", join(tmp, "empty")], { T2S_API_TOKEN: "" });
    assert.equal(empty.code, 4);
    const missing = await t2s(["ls", "--token-file", join(tmp, "nope")], { T2S_API_TOKEN: "" });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /Cannot read the token file/);
  });
});
