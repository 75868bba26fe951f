// Faults on the real stack: processes killed at bad moments, a flood of duplicates, shutdowns and
// limits. Each case adds a row to test-results/reliability.md (RELIABILITY.md quotes a run of it).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { appendFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ListMultipartUploadsCommand, S3Client } from "@aws-sdk/client-s3";
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { Job } from "../../lib/job.ts";
import { sleep } from "../../lib/time.ts";
import { repoRoot } from "../../scripts/local/paths.ts";
import { queueDepth } from "../support/queues.ts";
import { testStack } from "../support/shared.ts";
import { clientOptions, type TestStack } from "../support/stack.ts";

const report = join(repoRoot, "test-results", "reliability.md");
let s: TestStack;
let s3: S3Client;
let sqs: SQSClient;
let sns: SNSClient;
const ended = (j: Job) => ["completed", "failed", "cancelled"].includes(j.status);
const b64 = (b: Buffer) => b.toString("base64");
const count = (service: string, msg: string, job: string) => s.logs.filter((l) => l.service === service && l.msg === msg && l.job === job).length;

async function row(name: string, done: string, runs: number, lost: number, duplicates: number, outcome: string): Promise<void> {
  await appendFile(report, `| ${name} | ${done} | ${runs} | ${lost} | ${duplicates} | ${outcome} |\n`);
}

async function openUploads(id: string): Promise<number> {
  const out = await s3.send(new ListMultipartUploadsCommand({ Bucket: s.outputs.bucket, Prefix: `files/${id}/` }));
  return out.Uploads?.length ?? 0;
}

async function waitStatus(id: string, ok: (j: Job) => boolean): Promise<Job> {
  for (let i = 0; i < 2400; i++) {
    const j = (await s.call("GET", `/api/jobs/${id}`)).body.job as Job;
    if (ok(j)) return j;
    await sleep(25);
  }
  throw new Error(`job ${id} never reached the state`);
}

describe("faults", () => {
  before(async () => {
    s = await testStack();
    const { aws, s3: store } = clientOptions(s);
    s3 = new S3Client(store);
    sqs = new SQSClient(aws);
    sns = new SNSClient(aws);
    await mkdir(join(repoRoot, "test-results"), { recursive: true });
    await writeFile(report, `Run of ${new Date().toISOString()}\n\n| case | what was done | runs | lost jobs | duplicates | outcome |\n|---|---|---|---|---|---|\n`);
  });
  after(() => {
    s3?.destroy();
    sqs?.destroy();
    sns?.destroy();
  });

  it("kill -9 the seedbox while it downloads: the job still completes, once, byte-identical", async () => {
    await s.seedbox.stop();
    await s.startSeedbox({ T2S_MAX_DOWNLOAD_KIBS: "4096" });
    const made = await s.seed({ name: `kill-dl-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 16 * 1024 * 1024 } });
    assert.equal((await s.call("POST", "/api/jobs", { torrent: b64(made.torrent) })).status, 202);
    await waitStatus(made.infoHash, (j) => j.status === "downloading" && j.progress > 0.1);
    s.seedbox.kill("SIGKILL");
    await s.seedbox.exited;
    await s.startSeedbox();
    const job = await s.waitForJob(made.infoHash, ended, 120_000);
    assert.equal(job.status, "completed", JSON.stringify(job.error));
    await s.checkLinks(job, made);
    assert.equal(count("ingest", "job completed", made.infoHash), 1);
    await row("kill -9 seedbox while downloading", "SIGKILL at >10 % downloaded, restart", 1, 0, 0, "completed once, bytes identical");
  });

  it("kill -9 the seedbox while it uploads a multi-file job: no open multipart upload, manifest once", async () => {
    const made = await s.seed({
      name: `kill-up-${randomBytes(3).toString("hex")}`,
      files: [{ path: ["a.bin"], size: 60 * 1024 * 1024 }, { path: ["b", "c.bin"], size: 60 * 1024 * 1024 }, { path: ["d.txt"], data: Buffer.from("d") }],
    });
    assert.equal((await s.call("POST", "/api/jobs", { torrent: b64(made.torrent) })).status, 202);
    await waitStatus(made.infoHash, (j) => j.status === "uploading" || j.status === "completed");
    s.seedbox.kill("SIGKILL");
    await s.seedbox.exited;
    const killedMidUpload = (await s.call("GET", `/api/jobs/${made.infoHash}`)).body.job.status === "uploading";
    await s.startSeedbox();
    const job = await s.waitForJob(made.infoHash, ended, 120_000);
    assert.equal(job.status, "completed", JSON.stringify(job.error));
    await s.checkLinks(job, made);
    assert.equal(await openUploads(made.infoHash), 0, "a multipart upload was left open");
    assert.equal(count("ingest", "job completed", made.infoHash), 1, "the manifest completed the job once");
    await row("kill -9 seedbox while uploading", `SIGKILL ${killedMidUpload ? "mid-upload" : "after upload (too fast to catch)"}, restart`, 1, 0, 0,
      "completed once; no open multipart upload; manifest once");
  });

  it("kill -9 ingest while facts flow: the record ends consistent and complete", async () => {
    await s.seedbox.stop();
    await s.startSeedbox({ T2S_MAX_DOWNLOAD_KIBS: "4096" });
    const made = await s.seed({ name: `kill-ingest-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 12 * 1024 * 1024 } });
    assert.equal((await s.call("POST", "/api/jobs", { torrent: b64(made.torrent) })).status, 202);
    await waitStatus(made.infoHash, (j) => j.status === "downloading" && j.progress > 0);
    s.ingest.kill("SIGKILL");
    await s.ingest.exited;
    await sleep(1500);
    await s.startIngest();
    const job = await s.waitForJob(made.infoHash, ended, 120_000);
    assert.equal(job.status, "completed", JSON.stringify(job.error));
    assert.equal(job.progress, 1);
    await s.checkLinks(job, made);
    await s.seedbox.stop();
    await s.startSeedbox();
    await row("kill -9 ingest while facts flow", "SIGKILL mid-download, 1.5 s down, restart", 1, 0, 0, "record consistent, completed");
  });

  it("restarts deluged mid-download: the seedbox reconnects and the job completes", async () => {
    await s.seedbox.stop();
    await s.startSeedbox({ T2S_MAX_DOWNLOAD_KIBS: "2048" });
    try {
      const made = await s.seed({ name: `deluge-restart-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 12 * 1024 * 1024 } });
      assert.equal((await s.call("POST", "/api/jobs", { torrent: b64(made.torrent) })).status, 202);
      await waitStatus(made.infoHash, (j) => j.status === "downloading" && j.progress > 0.1);
      await s.deluge.stopDaemon();
      await s.deluge.startDaemon();
      const job = await s.waitForJob(made.infoHash, ended, 120_000);
      assert.equal(job.status, "completed", JSON.stringify(job.error));
      await s.checkLinks(job, made);
      await row("restart deluged mid-download", "deluged stopped and started at >10 % downloaded", 1, 0, 0, "seedbox reconnected; completed, bytes identical");
    } finally {
      await s.seedbox.stop();
      await s.startSeedbox();
    }
  });

  it("rides out 15 s without the AWS endpoint: retries, logs the outage once, loses nothing", async () => {
    await s.seedbox.stop();
    await s.startSeedbox({ T2S_MAX_DOWNLOAD_KIBS: "2048" });
    try {
      const made = await s.seed({ name: `outage-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 12 * 1024 * 1024 } });
      assert.equal((await s.call("POST", "/api/jobs", { torrent: b64(made.torrent) })).status, 202);
      await waitStatus(made.infoHash, (j) => j.status === "downloading" && j.progress > 0);
      const mark = s.logs.length;
      await s.awsProxy.cut();
      await sleep(15_000);
      await s.awsProxy.restore();
      const job = await s.waitForJob(made.infoHash, ended, 120_000);
      assert.equal(job.status, "completed", JSON.stringify(job.error));
      await s.checkLinks(job, made);
      const during = s.logs.slice(mark);
      // Once per consumer: ingest has two (facts, webhooks), the seedbox one (requests).
      for (const [service, queue] of [["ingest", "facts"], ["ingest", "webhooks"], ["seedbox", "requests"]] as const) {
        const outages = during.filter((l) => l.service === service && l.queue === queue && l.msg === "cannot receive from queue; retrying with backoff").length;
        assert.ok(outages <= 1, `${service} logged the ${queue} queue's outage ${outages} times`);
      }
      const noisy = during.filter((l) => l.level === "warn" || l.level === "error");
      assert.ok(noisy.length < 40, `${noisy.length} warnings in 15 s: ${noisy.map((l) => l.msg).join(", ")}`);
      await row("AWS endpoint unreachable", "all AWS traffic of the services cut for 15 s mid-download", 1, 0, 0,
        `completed, bytes identical; ${noisy.length} warning lines, queue outage logged once per consumer`);
    } finally {
      await s.seedbox.stop();
      await s.startSeedbox();
    }
  });

  it("20 concurrent submissions of 5 torrents make exactly 5 jobs with every requester, 3 times", async () => {
    const runs = 3;
    for (let run = 0; run < runs; run++) {
      const made = await Promise.all([0, 1, 2, 3, 4].map((i) => s.seed({ name: `flood-${i}-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 100_000 } })));
      const calls = made.flatMap((m, i) => [0, 1, 2, 3].map((k) => s.call("POST", "/api/jobs", k % 2 === 0
        ? { torrent: b64(m.torrent), requester: { via: "api", user: `user-${i}-${k}` } }
        : { magnet: s.magnet(m), requester: { via: "discord", user: `${i}${k}` } })));
      const results = await Promise.all(calls);
      assert.equal(results.filter((r) => r.status === 202).length, 5);
      assert.equal(results.filter((r) => r.status === 200).length, 15);
      for (const m of made) {
        const job = await s.waitForJob(m.infoHash, ended);
        assert.equal(job.status, "completed");
        assert.equal(job.requesters.length, 4);
        assert.equal(count("seedbox", "torrent added", m.infoHash), 1, "one Deluge torrent per job");
      }
    }
    await row("20 concurrent submissions, 5 torrents", "4 requesters each, torrent and magnet mixed", runs, 0, 0, "5 jobs, 4 requesters each, 5 Deluge torrents, every run");
  });

  it("sends a request of an unknown version to the DLQ and fails its job", async () => {
    const before = await queueDepth(sqs, s.outputs.requests_dlq_url);
    const id = randomBytes(20).toString("hex");
    assert.equal((await s.call("POST", "/api/jobs", { magnet: `magnet:?xt=urn:btih:${id}&dn=unknown-version` })).status, 202);
    await sns.send(new PublishCommand({ TopicArn: s.outputs.requests_topic_arn, Message: JSON.stringify({ v: 99, type: "add", id, name: "x", source: { kind: "magnet", uri: `magnet:?xt=urn:btih:${id}` } }) }));
    const job = await s.waitForJob(id, ended);
    assert.equal(job.status, "failed");
    assert.equal(job.error?.code, "poison_message");
    for (let i = 0; i < 100 && (await queueDepth(sqs, s.outputs.requests_dlq_url)) < before + 1; i++) await sleep(300);
    assert.equal(await queueDepth(sqs, s.outputs.requests_dlq_url), before + 1, "the poison message is in the DLQ");
    await s.call("DELETE", `/api/jobs/${id}`);
    await row("poison: unknown message version", "a v99 request for a known job", 1, 0, 0, "in the requests DLQ after 10 deliveries; job failed / poison_message");
  });

  it("SIGTERM while uploading: the seedbox exits 0, and the job completes after restart", async () => {
    const made = await s.seed({ name: `term-up-${randomBytes(3).toString("hex")}`, files: [{ path: ["a.bin"], size: 60 * 1024 * 1024 }, { path: ["b.bin"], size: 60 * 1024 * 1024 }] });
    assert.equal((await s.call("POST", "/api/jobs", { torrent: b64(made.torrent) })).status, 202);
    await waitStatus(made.infoHash, (j) => j.status === "uploading" || j.status === "completed");
    const t = Date.now();
    s.seedbox.kill("SIGTERM");
    const code = await s.seedbox.exited;
    const ms = Date.now() - t;
    assert.equal(code, 0);
    assert.ok(ms < 20_000, `took ${ms} ms`);
    await s.startSeedbox();
    const job = await s.waitForJob(made.infoHash, ended, 120_000);
    assert.equal(job.status, "completed", JSON.stringify(job.error));
    await s.checkLinks(job, made);
    assert.equal(await openUploads(made.infoHash), 0, "a multipart upload was left open");
    await row("SIGTERM seedbox while uploading", "SIGTERM mid-upload of 120 MiB, restart", 1, 0, 0, `exit 0 in ${ms} ms; completed once, no open multipart upload`);
  });

  it("SIGTERM stops each service cleanly, exit code 0, within the bound", async () => {
    const outcomes: string[] = [];
    for (const name of ["ingest", "seedbox"] as const) {
      const proc = s[name];
      const t = Date.now();
      proc.kill("SIGTERM");
      const code = await proc.exited;
      const ms = Date.now() - t;
      assert.equal(code, 0, `${name} exit code`);
      assert.ok(ms < 15_000, `${name} took ${ms} ms`);
      outcomes.push(`${name} ${ms} ms`);
      await (name === "ingest" ? s.startIngest() : s.startSeedbox());
    }
    await row("SIGTERM each service", "SIGTERM while idle-polling", 1, 0, 0, `exit 0: ${outcomes.join(", ")}`);
  });

  it("limits submissions per requester with 429 and Retry-After", async () => {
    await s.ingest.stop();
    await s.startIngestWith({ T2S_RATE_BURST: "3", T2S_RATE_PER_MIN: "6" });
    try {
      const bad = { magnet: "magnet:?dn=no-hash" };
      for (let i = 0; i < 3; i++) assert.equal((await s.call("POST", "/api/jobs", bad)).status, 400);
      const r = await s.call("POST", "/api/jobs", bad);
      assert.equal(r.status, 429);
      assert.equal(r.body.error.code, "rate_limited");
      assert.ok(Number(r.headers.get("retry-after")) >= 1);
      const other = await s.call("POST", "/api/jobs", { ...bad, requester: { via: "discord", user: "42" } });
      assert.equal(other.status, 400, "another requester has a bucket of their own");
    } finally {
      await s.ingest.stop();
      await s.startIngest();
    }
  });

  it("writes no token, password or signing secret in any log", async () => {
    const { s3, ...secrets } = JSON.parse(await readFile(join(s.dataDir, "secrets.json"), "utf8")) as Record<string, string> & { s3: { secretAccessKey: string } };
    const deluge = JSON.parse(await readFile(join(s.dataDir, "deluge", "t2s-secrets.json"), "utf8")) as Record<string, string>;
    const values = [...Object.values(secrets), s3.secretAccessKey, deluge.web!, deluge.localclient!, s.seeder.password].filter((v) => v.length >= 16);
    let lines = 0;
    for (const f of await readdir(s.logDir)) {
      const text = await readFile(join(s.logDir, f), "utf8");
      lines += text.split("\n").length;
      for (const v of values) assert.ok(!text.includes(v), `a secret appears in ${f}`);
    }
    assert.ok(lines > 100, "there were logs to check");
    await row("secrets in logs", `grep of ${lines} log lines for ${values.length} secrets`, 1, 0, 0, "none found");
  });
});
