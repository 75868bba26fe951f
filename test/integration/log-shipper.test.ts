// The seedbox's log shipper (deploy/log-shipper.py, as t2s-logs.service runs it), against moto's
// CloudWatch Logs: the setup log and the t2s-* units' journal reach the instance's stream, other units
// do not, a job's lines are found by its id, and a restart resumes after the last line it sent.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startMoto, type Moto } from "../../scripts/local/moto.ts";
import { waitFor } from "../../scripts/local/net.ts";
import { repoRoot, venvBin } from "../../scripts/local/paths.ts";

const job = "0123456789abcdef0123456789abcdef01234567";
const group = "/t2s/seedbox";
const entry = (n: number, unit: string, message: string) =>
  JSON.stringify({ __CURSOR: `c${n}`, __REALTIME_TIMESTAMP: String((1_796_000_000_000 + n) * 1000), _SYSTEMD_UNIT: `${unit}.service`, MESSAGE: message });

describe("seedbox log shipper", () => {
  let dir: string;
  let moto: Moto;
  const logs = async (target: string, body: object) => {
    const res = await fetch(moto.endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": `Logs_20140328.${target}`, authorization: "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/logs/aws4_request, SignedHeaders=host, Signature=0" },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    return (text ? JSON.parse(text) : {}) as { events: { message: string }[] };
  };
  const messages = async () => (await logs("GetLogEvents", { logGroupName: group, logStreamName: "i-0test", startFromHead: true })).events.map((e) => JSON.parse(e.message) as Record<string, unknown>);

  const runShipper = async () => {
    const child = spawn(venvBin("python"), [join(repoRoot, "deploy", "log-shipper.py")], {
      env: {
        PATH: `${join(dir, "bin")}:${process.env.PATH}`, T2S_LOG_GROUP: group, T2S_SEEDBOX_ID: "i-0test", T2S_SETUP_LOG: join(dir, "setup.log"),
        STATE_DIRECTORY: join(dir, "state"), AWS_ENDPOINT_URL: moto.endpoint, AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (b) => (err += b));
    const exited = once(child, "exit").then(([code]) => code as number);
    return { exited, err: () => err, stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      return exited;
    } };
  };

  /** Runs the shipper until the stream holds `count` events, stops it (SIGTERM: exit 0), and returns them. */
  const shipUntil = async (count: number) => {
    const s = await runShipper();
    try {
      await waitFor(`${count} shipped lines`, async () => (await messages()).length >= count, 30_000, s.exited);
    } finally {
      assert.equal(await s.stop(), 0, s.err());
    }
    return messages();
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "t2s-log-shipper-"));
    moto = await startMoto({ logDir: dir });
    await logs("CreateLogGroup", { logGroupName: group });
    await mkdir(join(dir, "bin"));
    // A stand-in journalctl: the boot's entries, or only the one after the saved cursor; it records its arguments.
    await writeFile(join(dir, "journal.jsonl"), [
      entry(1, "t2s-seedbox", JSON.stringify({ level: "info", service: "seedbox", msg: "job added", job })),
      entry(2, "t2s-deluged", `Torrent ${job} added`),
      entry(3, "ssh", "Accepted publickey for admin"),
      entry(4, "t2s-logs", "put_log_events failed"),
    ].join("\n") + "\n");
    await writeFile(join(dir, "journal-after.jsonl"), entry(5, "t2s-seedbox", JSON.stringify({ level: "info", msg: "seedbox idle" })) + "\n");
    await writeFile(join(dir, "bin", "journalctl"), `#!/bin/sh\necho "$*" >> "${dir}/journalctl.args"\ncase "$*" in *--after-cursor*) cat "${dir}/journal-after.jsonl" ;; *) cat "${dir}/journal.jsonl" ;; esac\n`);
    await chmod(join(dir, "bin", "journalctl"), 0o755);
    await writeFile(join(dir, "setup.log"), "t2s setup: start (0 s)\nt2s setup: done (61 s)\n");
  });

  after(async () => {
    await moto?.proc.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("ships the setup log and the t2s-* units, keeps JSON fields, and a job's lines are found by its id", async () => {
    const got = await shipUntil(4);
    assert.deepEqual(got.map((m) => m.unit).sort(), ["t2s-deluged", "t2s-seedbox", "t2s-setup", "t2s-setup"]);
    assert.deepEqual(got.find((m) => m.unit === "t2s-seedbox"), { level: "info", service: "seedbox", msg: "job added", job, unit: "t2s-seedbox" });
    assert.deepEqual(got.filter((m) => m.unit === "t2s-setup").map((m) => m.msg), ["t2s setup: start (0 s)", "t2s setup: done (61 s)"]);
    // What docs/aws.md tells the owner to run: aws logs filter-log-events --filter-pattern '"<job id>"'.
    const found = await logs("FilterLogEvents", { logGroupName: group, filterPattern: `"${job}"` });
    assert.deepEqual(found.events.map((e) => JSON.parse(e.message).unit).sort(), ["t2s-deluged", "t2s-seedbox"]);
  });

  it("exits 0 at once on a host without a log group (a test boot, a host of your own), so systemd leaves it stopped", () => {
    const r = spawnSync(venvBin("python"), [join(repoRoot, "deploy", "log-shipper.py")], { env: { PATH: process.env.PATH }, encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /T2S_LOG_GROUP is not set; not shipping/);
  });

  it("resumes after a restart from the last line sent: no line twice", async () => {
    await writeFile(join(dir, "setup.log"), "t2s setup: start (0 s)\nt2s setup: done (61 s)\nt2s setup: late line\n");
    const got = await shipUntil(6);
    // The stream is in time order: the journal's entries carry their own times, the setup log's are the reading's.
    assert.deepEqual(got.map((m) => m.msg).sort(), [`Torrent ${job} added`, "job added", "seedbox idle", "t2s setup: done (61 s)", "t2s setup: late line", "t2s setup: start (0 s)"]);
    assert.deepEqual((await readFile(join(dir, "journalctl.args"), "utf8")).trim().split("\n"), ["-f -o json --no-pager -b -n all", "-f -o json --no-pager --after-cursor c2"]);
  });
});
