// The whole path with real components: ingest → SNS/SQS → seedbox → Deluge → S3 multipart → manifest →
// S3 notification → completed job, and every file fetched through its /d/ link is what was seeded.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { basename } from "node:path";
import { before, describe, it } from "node:test";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DeleteObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import type { Job } from "../../lib/job.ts";
import { sleep } from "../../lib/time.ts";
import { createLogger } from "../../lib/log.ts";
import { Deluge } from "../../seedbox/deluge.ts";
import { queueDepth } from "../support/queues.ts";
import { testStack } from "../support/shared.ts";
import { clientOptions, type TestStack } from "../support/stack.ts";

let s: TestStack;
let sqs: SQSClient;
let s3: S3Client;
let sns: SNSClient;
const completed = (j: Job) => j.status === "completed";
const ended = (j: Job) => ["completed", "failed", "cancelled"].includes(j.status);
const b64 = (b: Buffer) => b.toString("base64");
const logsOf = (msg: string, job: string) => s.logs.filter((l) => l.msg === msg && l.job === job).length;

before(async () => {
  s = await testStack();
  const { aws, s3: store } = clientOptions(s);
  sqs = new SQSClient(aws);
  s3 = new S3Client(store);
  sns = new SNSClient(aws);
});

const dlqDepth = (url: string) => queueDepth(sqs, url);

describe("end to end", () => {
  it("downloads a magnet and links the seeded bytes", async () => {
    const made = await s.seed({ name: `magnet-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 5 * 1024 * 1024 + 123 } });
    const r = await s.call("POST", "/api/jobs", { magnet: s.magnet(made) });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.job.id, made.infoHash);
    assert.equal(r.body.job.status, "queued");
    const job = await s.waitForJob(made.infoHash, ended);
    assert.equal(job.status, "completed", JSON.stringify(job.error));
    await s.checkLinks(job, made);
  });

  it("downloads in place into downloading/<id>/, and Deluge's finish event names the torrent", async () => {
    const b = s.seedboxes[0]!.deluge;
    const own = new Deluge({ url: b.webUrl, password: b.password, daemonPort: b.daemonPort, log: createLogger("test", { level: "error" }) });
    const listening = new AbortController();
    const finished: string[] = [];
    const events = own.onFinished((id) => void finished.push(id), listening.signal);
    try {
      const made = await s.seed({ name: `in-place-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 3 * 1024 * 1024 + 7 } });
      assert.equal((await s.call("POST", "/api/jobs", { magnet: s.magnet(made) })).status, 202);
      const job = await s.waitForJob(made.infoHash, ended);
      assert.equal(job.status, "completed", JSON.stringify(job.error));
      const st = await s.boxClient.status(made.infoHash);
      if (st) assert.equal(basename(st.save_path), made.infoHash, "no move: it seeds from where it downloaded");
      for (let i = 0; i < 50 && !finished.includes(made.infoHash); i++) await sleep(100);
      assert.ok(finished.includes(made.infoHash), JSON.stringify(finished));
    } finally {
      listening.abort();
      await events;
    }
  });

  it("downloads an uploaded .torrent with nested folders, non-ASCII names and a file named manifest.json", async () => {
    const made = await s.seed({
      name: `Album ü ${randomBytes(3).toString("hex")}`,
      files: [
        { path: ["CD 1", "01 – Intro.flac"], size: 700_000 },
        { path: ["CD 1", "deep", "deeper", "日本語.txt"], data: Buffer.from("こんにちは") },
        { path: ["manifest.json"], data: Buffer.from('{"id":"not the real manifest"}') },
        { path: ["empty.txt"], data: Buffer.alloc(0) },
      ],
    });
    const r = await s.call("POST", "/api/jobs", { torrent: b64(made.torrent) });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.job.size, made.files.reduce((n, f) => n + f.size, 0));
    const job = await s.waitForJob(made.infoHash, ended);
    assert.equal(job.status, "completed", JSON.stringify(job.error));
    await s.checkLinks(job, made);
  });

  it("downloads the URL of a .torrent served from loopback (allow-listed for tests)", async () => {
    const made = await s.seed({ name: `by-url-${randomBytes(3).toString("hex")}.iso`, single: { path: [], size: 300_000 } });
    s.files.put(`/t/${made.infoHash}.torrent`, made.torrent);
    const r = await s.call("POST", "/api/jobs", { url: `${s.files.base}/t/${made.infoHash}.torrent` });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const job = await s.waitForJob(made.infoHash, ended);
    assert.equal(job.status, "completed", JSON.stringify(job.error));
    await s.checkLinks(job, made);
  });

  it("treats the same torrent submitted twice as one job with two requesters, downloaded once", async () => {
    const made = await s.seed({ name: `twice-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 2_000_000 } });
    const first = await s.call("POST", "/api/jobs", { torrent: b64(made.torrent) });
    const second = await s.call("POST", "/api/jobs", { magnet: `magnet:?xt=urn:btih:${made.infoHash}`, requester: { via: "discord", user: "1234" } });
    assert.equal(first.status, 202);
    assert.equal(second.status, 200);
    assert.deepEqual(second.body.job.requesters, [{ via: "api", user: "api" }, { via: "discord", user: "1234" }]);
    const job = await s.waitForJob(made.infoHash, ended);
    assert.equal(job.status, "completed", JSON.stringify(job.error));
    assert.equal(job.requesters.length, 2);
    await s.checkLinks(job, made);
    assert.equal(logsOf("torrent added", made.infoHash), 1, "added to Deluge once");
    assert.equal(logsOf("uploaded", made.infoHash), 1, "uploaded once");
  });

  it("keeps hostile file names inside files/<id>/data/ with safe keys", async () => {
    const made = await s.seed({
      name: `hostile-${randomBytes(3).toString("hex")}`,
      files: [
        { path: ["..", "..", "escape.txt"], data: Buffer.from("one") },
        { path: ["back\\slash.txt"], data: Buffer.from("two") },
        { path: ["ctl\u0001char.txt"], data: Buffer.from("three") },
        { path: ["/etc", "/absolute.txt"], data: Buffer.from("five") },
        { path: Array.from({ length: 6 }, (_, i) => `${i}${"d".repeat(200)}`).concat(["long.txt"]), data: Buffer.from("four") },
      ],
      placeholders: true,
    });
    const r = await s.call("POST", "/api/jobs", { torrent: b64(made.torrent) });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const job = await s.waitForJob(made.infoHash, ended);
    assert.equal(job.status, "completed", JSON.stringify(job.error));
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: s.outputs.bucket, Prefix: `files/${made.infoHash}/` }));
    for (const o of listed.Contents ?? []) {
      const key = o.Key!;
      assert.ok(key.startsWith(`files/${made.infoHash}/data/`) || [`files/${made.infoHash}/manifest.json`, `files/${made.infoHash}/all.zip`].includes(key), key);
      assert.ok(!key.split("/").includes(".."), key);
      assert.ok(!/[\u0000-\u001f\\]/.test(key), JSON.stringify(key));
      assert.ok(Buffer.byteLength(key) <= 1024, `${Buffer.byteLength(key)} bytes`);
    }
    // Names may have been changed on the way; the bytes may not.
    const got: string[] = [];
    for (const f of job.files) got.push(createHash("sha256").update(Buffer.from(await (await fetch(f.url!)).arrayBuffer())).digest("hex"));
    assert.deepEqual(got.sort(), [...made.sha256.values()].sort());
  });

  it("cancels a job: Deluge drops it and the job shows cancelled", async () => {
    const id = randomBytes(20).toString("hex");
    const r = await s.call("POST", "/api/jobs", { magnet: `magnet:?xt=urn:btih:${id}&dn=nobody-seeds-this` });
    assert.equal(r.status, 202);
    await s.waitForJob(id, (j) => j.status === "downloading");
    const c = await s.call("DELETE", `/api/jobs/${id}`);
    assert.equal(c.status, 200);
    assert.equal(c.body.job.status, "cancelled");
    for (let i = 0; i < 50 && (await s.boxClient.status(id)) !== null; i++) await sleep(200);
    assert.equal(await s.boxClient.status(id), null, "Deluge still holds the cancelled torrent");
    assert.equal((await s.call("GET", `/api/jobs/${id}`)).body.job.status, "cancelled");
  });

  it("fails a magnet that gets no metadata within the timeout with no_peers", async () => {
    const id = randomBytes(20).toString("hex");
    assert.equal((await s.call("POST", "/api/jobs", { magnet: `magnet:?xt=urn:btih:${id}` })).status, 202);
    const job = await s.waitForJob(id, ended, 60_000);
    assert.equal(job.status, "failed");
    assert.equal(job.error?.code, "no_peers");
    assert.equal(await s.boxClient.status(id), null);
  });

  it("fails a torrent larger than the free disk minus the reserve with disk_full, and carries on", async () => {
    const { statfs } = await import("node:fs/promises");
    const st = await statfs(s.dataDir);
    const freeMb = Math.floor((st.bavail * st.bsize) / 1024 / 1024);
    await s.seedbox.stop();
    await s.startSeedbox({ T2S_DISK_RESERVE_MB: String(freeMb - 1) });
    try {
      const made = await s.seed({ name: `too-big-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 4 * 1024 * 1024 } });
      assert.equal((await s.call("POST", "/api/jobs", { torrent: b64(made.torrent) })).status, 202);
      const job = await s.waitForJob(made.infoHash, ended);
      assert.equal(job.status, "failed");
      assert.equal(job.error?.code, "disk_full");
    } finally {
      await s.seedbox.stop();
      await s.startSeedbox();
    }
    const ok = await s.seed({ name: `fits-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 100_000 } });
    assert.equal((await s.call("POST", "/api/jobs", { torrent: b64(ok.torrent) })).status, 202);
    assert.equal((await s.waitForJob(ok.infoHash, ended)).status, "completed");
  });

  it("sends a poison request to the DLQ and shows its job failed, without looping", async () => {
    const before = await dlqDepth(s.outputs.requests_dlq_url);
    const made = await s.seed({ name: `poison-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 10_000 } });
    await s.seedbox.stop();
    try {
      assert.equal((await s.call("POST", "/api/jobs", { torrent: b64(made.torrent) })).status, 202);
      // The claim-checked torrent vanishes before the seedbox gets to it.
      await s3.send(new DeleteObjectCommand({ Bucket: s.outputs.bucket, Key: `incoming/${made.infoHash}.torrent` }));
      await sns.send(new PublishCommand({ TopicArn: s.outputs.requests_topic_arn, Message: "{not json" }));
    } finally {
      await s.startSeedbox();
    }
    const job = await s.waitForJob(made.infoHash, ended);
    assert.equal(job.status, "failed");
    assert.equal(job.error?.code, "torrent_missing");
    for (let i = 0; i < 100 && (await dlqDepth(s.outputs.requests_dlq_url)) < before + 2; i++) await sleep(300);
    assert.equal(await dlqDepth(s.outputs.requests_dlq_url), before + 2, "both poison messages reach the DLQ");
  });

  it("keeps a request while Deluge is down and completes it once Deluge is back", async () => {
    const made = await s.seed({ name: `deluge-down-${randomBytes(3).toString("hex")}.bin`, single: { path: [], size: 1_000_000 } });
    await s.deluge.stopDaemon();
    try {
      assert.equal((await s.call("POST", "/api/jobs", { torrent: b64(made.torrent) })).status, 202);
      await sleep(4000);
      assert.equal((await s.call("GET", `/api/jobs/${made.infoHash}`)).body.job.status, "queued");
    } finally {
      await s.deluge.startDaemon();
    }
    const job = await s.waitForJob(made.infoHash, ended, 120_000);
    assert.equal(job.status, "completed", JSON.stringify(job.error));
    await s.checkLinks(job, made);
  });
});
