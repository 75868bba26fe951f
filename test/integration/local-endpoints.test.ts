// The local endpoints take only the stack's own keys. Every account on the machine can reach a loopback
// port, so moto sits behind a SigV4 check of the stack's keys, and the store's inner servers (master,
// filer, volume) refuse requests that the store itself did not sign, over HTTP and gRPC; the S3 API works
// as before.
import assert from "node:assert/strict";
import { readdir, readFile, readlink, stat } from "node:fs/promises";
import { connect, type SecureClientSessionOptions } from "node:http2";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, UploadPartCommand } from "@aws-sdk/client-s3";
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { signRequest } from "../../scripts/local/moto-guard.ts";
import { testStack } from "../support/shared.ts";
import { clientOptions, type TestStack } from "../support/stack.ts";

let s: TestStack;
before(async () => { s = await testStack(); });

const otherKeys = { accessKeyId: "test", secretAccessKey: "test" };
const sqs = (credentials: { accessKeyId: string; secretAccessKey: string }) =>
  new SQSClient({ ...clientOptions(s).aws, credentials, maxAttempts: 1 });
const httpStatus = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
const refused = (p: Promise<unknown>) => assert.rejects(p, (err) => httpStatus(err) === 403);

describe("moto: only the stack's keys", () => {
  it("refuses unsigned calls to moto's own API (reset, state dump, recorder, the auth switch)", async () => {
    for (const [method, path] of [["POST", "/moto-api/reset"], ["GET", "/moto-api/data.json"], ["POST", "/moto-api/recorder/download-recording"], ["POST", "/moto-api/reset-auth"]] as const) {
      const res = await fetch(s.moto.endpoint + path, { method, ...(method === "POST" ? { body: "0" } : {}) });
      assert.equal(res.status, 403, `${method} ${path}`);
      await res.body?.cancel();
    }
    // Nothing was reset: the stack's queues are all there.
    const attrs = await sqs(s.keys).send(new GetQueueAttributesCommand({ QueueUrl: s.outputs.updates_bot_queue_url, AttributeNames: ["QueueArn"] }));
    assert.ok(attrs.Attributes?.QueueArn);
  });

  it("refuses other keys: nobody else reads the bot's updates (signed links) or forges facts", async () => {
    const other = sqs(otherKeys);
    await refused(other.send(new ReceiveMessageCommand({ QueueUrl: s.outputs.updates_bot_queue_url, WaitTimeSeconds: 0 })));
    await refused(other.send(new SendMessageCommand({ QueueUrl: s.outputs.facts_queue_url, MessageBody: "{}" })));
    // The stack's key id is not enough without its secret.
    await refused(sqs({ accessKeyId: s.keys.accessKeyId, secretAccessKey: otherKeys.secretAccessKey })
      .send(new GetQueueAttributesCommand({ QueueUrl: s.outputs.facts_queue_url, AttributeNames: ["All"] })));
  });

  it("refuses a signed request whose body was changed, and a signature older than 15 minutes", async () => {
    const host = new URL(s.moto.endpoint).host;
    const call = async (body: string, sent: string, at?: Date) => {
      const headers = { "content-type": "application/x-amz-json-1.0", "x-amz-target": "AmazonSQS.GetQueueAttributes" };
      const signed = await signRequest({ method: "POST", host, path: "/", headers, body: Buffer.from(body) }, s.keys, "sqs", "us-east-1", at);
      const res = await fetch(s.moto.endpoint, { method: "POST", headers: signed, body: sent });
      await res.body?.cancel();
      return res.status;
    };
    const body = JSON.stringify({ QueueUrl: s.outputs.facts_queue_url, AttributeNames: ["QueueArn"] });
    assert.equal(await call(body, body), 200, "signed as it is sent");
    assert.equal(await call(body, body.replace("facts", "requests")), 403, "changed after signing");
    assert.equal(await call(body, body, new Date(Date.now() - 16 * 60_000)), 403, "stale");
  });

  it("has no TCP port of its own: moto listens on a socket in a private folder", async () => {
    const pid = s.moto.proc.pid;
    const inodes = new Set<string>();
    for (const fd of await readdir(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec(await readlink(`/proc/${pid}/fd/${fd}`).catch(() => ""));
      if (m) inodes.add(m[1]!);
    }
    const listening: string[] = [];
    for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
      for (const row of (await readFile(table, "utf8")).split("\n").slice(1)) {
        const cols = row.trim().split(/\s+/);
        if (cols[3] === "0A" && inodes.has(cols[9]!)) listening.push(cols[1]!);
      }
    }
    assert.deepEqual(listening, [], "moto listens on TCP");
    assert.equal((await stat(join(s.dataDir, "moto"))).mode & 0o077, 0, "the socket's folder is private");
  });
});

describe("the store: only its S3 API answers requests it did not sign", () => {
  const ports = () => Object.fromEntries(s.store.proc.child.spawnargs.flatMap((a) => {
    const m = /^-(master|filer|volume)\.port=(\d+)$/.exec(a);
    return m ? [[m[1]!, Number(m[2])]] : [];
  })) as Record<"master" | "filer" | "volume", number>;
  const s3 = () => new S3Client({ ...clientOptions(s).s3, maxAttempts: 1 });

  it("the master hands out no write tokens and deletes nothing; the filer serves and takes no file", async () => {
    const { master, filer } = ports();
    const bucket = s.outputs.bucket;
    const key = `probe/${Date.now()}`;
    for (const [method, url] of [
      ["GET", `http://127.0.0.1:${master}/dir/assign`],
      ["GET", `http://127.0.0.1:${master}/dir/lookup?volumeId=1`],
      ["POST", `http://127.0.0.1:${master}/col/delete?collection=${bucket}`],
      ["POST", `http://127.0.0.1:${master}/vol/grow?count=1`],
      ["GET", `http://127.0.0.1:${filer}/buckets/${bucket}/`],
      ["PUT", `http://127.0.0.1:${filer}/buckets/${bucket}/${key}`],
    ] as const) {
      const res = await fetch(url, { method, ...(method === "PUT" ? { body: "forged" } : {}) });
      const text = await res.text();
      assert.ok(res.status >= 400, `${method} ${url} answered ${res.status}: ${text.slice(0, 200)}`);
    }
    await assert.rejects(s3().send(new HeadObjectCommand({ Bucket: bucket, Key: key })), (err) => httpStatus(err) === 404);
  });

  it("the volume server refuses reads and writes without the store's token", async () => {
    const { volume } = ports();
    const status = (await (await fetch(`http://127.0.0.1:${volume}/status`)).json()) as { Volumes?: { Id: number }[] };
    const vid = status.Volumes?.[0]?.Id ?? 1;
    const fid = `${vid},01637037d6`;
    const get = await fetch(`http://127.0.0.1:${volume}/${fid}`);
    assert.equal(get.status, 401, await get.text());
    const form = new FormData();
    form.append("file", new Blob(["forged"]), "x");
    const put = await fetch(`http://127.0.0.1:${volume}/${fid}`, { method: "POST", body: form });
    assert.equal(put.status, 401, await put.text());
  });

  it("every gRPC port refuses a client without the store's certificate", async () => {
    const grpcPorts = s.store.proc.child.spawnargs.flatMap((a) => /^-\w+\.port\.grpc=(\d+)$/.exec(a)?.[1] ?? []).map(Number);
    assert.equal(grpcPorts.length, 5, "master, volume, filer, S3, admin");
    const tls = join(s.dataDir, "s3", "tls");
    const ca = await readFile(join(tls, "ca.crt"));
    const own = { ca, cert: await readFile(join(tls, "store.crt")), key: await readFile(join(tls, "store.key")) };
    /** Whether a gRPC call (any answer, even an error status) gets through. */
    const call = (url: string, o: SecureClientSessionOptions) => new Promise<boolean>((resolve) => {
      const session = connect(url, { ...o, checkServerIdentity: () => undefined });
      const done = (ok: boolean) => { session.destroy(); resolve(ok); };
      session.on("error", () => done(false));
      const req = session.request({ ":method": "POST", ":path": "/master_pb.Seaweed/GetMasterConfiguration", "content-type": "application/grpc" });
      req.on("response", () => done(true));
      req.on("error", () => done(false));
      // A plaintext client is just closed on: no error, no answer.
      req.on("close", () => done(false));
      req.setTimeout(5000, () => done(false));
      req.end(Buffer.alloc(5));
    });
    for (const port of grpcPorts) {
      assert.equal(await call(`http://127.0.0.1:${port}`, {}), false, `${port}: plaintext`);
      assert.equal(await call(`https://127.0.0.1:${port}`, { ca }), false, `${port}: TLS without a client certificate`);
      assert.equal(await call(`https://127.0.0.1:${port}`, own), true, `${port}: with the store's certificate (the server is up)`);
    }
  });

  it("the S3 API with the keys: multipart, metadata, presigned GET", async () => {
    const client = s3();
    const Bucket = s.outputs.bucket;
    const Key = `endpoints-test/${Date.now()}.bin`;
    const MiB = 1024 * 1024;
    const parts = [Buffer.alloc(5 * MiB, 1), Buffer.alloc(MiB + 7, 2)];
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key, Metadata: { origin: "local-endpoints" }, ContentType: "application/x-test" }));
    const done = [];
    for (const [i, Body] of parts.entries()) {
      const { ETag } = await client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: i + 1, Body }));
      done.push({ ETag, PartNumber: i + 1 });
    }
    await client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: done } }));
    const head = await client.send(new HeadObjectCommand({ Bucket, Key }));
    assert.equal(head.ContentLength, 6 * MiB + 7);
    assert.equal(head.Metadata?.origin, "local-endpoints");
    const url = await getSignedUrl(client, new GetObjectCommand({ Bucket, Key }), { expiresIn: 60 });
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(Buffer.concat(parts)), "the presigned GET returns what was put");
    await client.send(new PutObjectCommand({ Bucket, Key: `${Key}.small`, Body: "small" }));
    const small = await client.send(new GetObjectCommand({ Bucket, Key: `${Key}.small` }));
    assert.equal(await small.Body!.transformToString(), "small");
  });
});
