// The Lambda adapter without AWS: function-URL events in and out, secrets read by parameter name,
// and the SigV4 signer the SSM reader uses, checked against AWS's published test vector.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { awsClients, destroyClients, type AwsClients } from "../../lib/aws/clients.ts";
import { MissingParameter } from "../../lib/aws/ssm.ts";
import { createLogger } from "../../lib/log.ts";
import { createLambdaApp, httpHandler, lambdaConfig, outsideQbittorrent, qbittorrentHandler, sqsHandler, sweep, type LambdaApp } from "../../ingest/lambda.ts";
import type { UrlEvent } from "../../lib/aws/lambda-events.ts";
import { loadWebFiles } from "../../ingest/web.ts";

const env = {
  T2S_BUCKET: "b", T2S_REQUESTS_TOPIC_ARN: "arn:aws:sns:us-east-1:1:r", T2S_REQUESTS_QUEUE_URL: "http://127.0.0.1:9/q/r",
  T2S_FACTS_TOPIC_ARN: "arn:aws:sns:us-east-1:1:f", T2S_FACTS_QUEUE_URL: "http://127.0.0.1:9/q/f", T2S_UPDATES_TOPIC_ARN: "arn:aws:sns:us-east-1:1:u",
  T2S_JOBS_TABLE: "t2s-jobs", T2S_API_TOKEN_PARAM: "/t2s/api-token", T2S_SIGNING_SECRET_PARAM: "/t2s/signing-secret", T2S_PUBLIC_URL_PARAM: "/t2s/public-url",
  // Port 9 (discard) on loopback: nothing these tests call may reach AWS.
  AWS_ENDPOINT_URL: "http://127.0.0.1:9", AWS_REGION: "us-east-1",
};
const params: Record<string, string> = { "/t2s/api-token": "tok-123", "/t2s/signing-secret": "sig-456", "/t2s/public-url": "https://abc.lambda-url.us-east-1.on.aws/" };
const fakeSsm = async (names: string[]) => {
  for (const n of names) if (!(n in params)) throw new MissingParameter(n);
  return Object.fromEntries(names.map((n) => [n, params[n]!]));
};
const event = (method: string, path: string, o: Partial<UrlEvent> = {}): UrlEvent => ({ version: "2.0", rawPath: path, requestContext: { http: { method } }, ...o });

describe("ingest Lambda adapter", () => {
  let dir: string;
  let app: LambdaApp;
  let clients: AwsClients;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "t2s-lambda-"));
    for (const f of ["index.html", "app.js", "app.css"]) await writeFile(join(dir, f), `/* ${f} */`);
    const cfg = await lambdaConfig(env, fakeSsm);
    clients = awsClients({ region: "us-east-1", endpoint: "http://127.0.0.1:9" });
    app = createLambdaApp({ cfg, clients, web: await loadWebFiles(dir), log: createLogger("ingest", { write: () => {} }) });
  });
  after(async () => {
    destroyClients(clients);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("reads the secrets by the parameter names in its environment, and the public URL without its slash", async () => {
    const cfg = await lambdaConfig(env, fakeSsm);
    assert.deepEqual([cfg.apiToken, cfg.signingSecret, cfg.publicUrl], ["tok-123", "sig-456", "https://abc.lambda-url.us-east-1.on.aws"]);
  });

  it("reads the downloads key only where its parameter is named (the API function), and prices downloads as CloudFront's", async () => {
    const asked: string[][] = [];
    const ssm = async (names: string[]) => (asked.push(names), fakeSsm(names));
    const plain = await lambdaConfig(env, ssm);
    assert.equal(plain.cloudfront, undefined);
    assert.equal(plain.costs.pricing.servedBy, "s3");
    params["/t2s/cloudfront-private-key"] = "-----BEGIN RSA PRIVATE KEY-----\nnot a real key\n-----END RSA PRIVATE KEY-----";
    try {
      const cf = await lambdaConfig({ ...env, T2S_CLOUDFRONT_KEY_PARAM: "/t2s/cloudfront-private-key", T2S_CLOUDFRONT_KEY_PAIR_ID: "K2JCJMDEHXQW5F" }, ssm);
      assert.deepEqual(cf.cloudfront, { keyPairId: "K2JCJMDEHXQW5F", privateKey: params["/t2s/cloudfront-private-key"] });
      assert.equal(cf.costs.pricing.servedBy, "cloudfront");
      assert.deepEqual(asked.map((n) => n.includes("/t2s/cloudfront-private-key")), [false, true]);
    } finally {
      delete params["/t2s/cloudfront-private-key"];
    }
  });

  it("fails with a message naming a missing parameter", async () => {
    await assert.rejects(lambdaConfig({ ...env, T2S_SIGNING_SECRET_PARAM: "/t2s/nope" }, fakeSsm), /SSM parameter \/t2s\/nope is missing/);
    await assert.rejects(lambdaConfig({ ...env, T2S_API_TOKEN_PARAM: "" }, fakeSsm), /T2S_API_TOKEN_PARAM is not set/);
  });

  it("answers a function-URL event with the same handler: health, page, auth", async () => {
    const health = await app.http(event("GET", "/healthz"));
    assert.deepEqual([health.statusCode, JSON.parse(health.body), health.isBase64Encoded], [200, { ok: true }, false]);
    const page = await app.http(event("GET", "/"));
    assert.equal(page.statusCode, 200);
    assert.match(page.headers["content-security-policy"]!, /default-src 'none'/);
    const denied = await app.http(event("GET", "/api/jobs"));
    assert.equal(denied.statusCode, 401);
    assert.match(denied.headers["www-authenticate"]!, /Bearer/);
  });

  it("decodes base64 bodies and moves set-cookie into the cookies list; cookies come back as a header", async () => {
    const login = await app.http(event("POST", "/api/session", { body: Buffer.from(JSON.stringify({ token: "tok-123" })).toString("base64"), isBase64Encoded: true }));
    assert.equal(login.statusCode, 200, login.body);
    assert.equal(login.headers["set-cookie"], undefined);
    assert.equal(login.cookies?.length, 1);
    assert.match(login.cookies![0]!, /Secure/, "the function URL is https, so the cookie is Secure");
    const who = await app.http(event("GET", "/api/session", { cookies: [login.cookies![0]!.split(";")[0]!] }));
    assert.equal(who.statusCode, 200, who.body);
    const bad = await app.http(event("POST", "/api/session", { body: JSON.stringify({ token: "wrong" }) }));
    assert.equal(bad.statusCode, 401);
  });

  it("refuses a body over 16 MiB with 413, and answers HEAD without a body", async () => {
    const big = await app.http(event("POST", "/api/jobs", { body: "x".repeat(16 * 1024 * 1024 + 1) }));
    assert.equal(big.statusCode, 413);
    const head = await app.http(event("HEAD", "/healthz"));
    assert.deepEqual([head.statusCode, head.body], [200, ""]);
  });

  it("answers a qBittorrent call without the SID cookie or the token as qBittorrent does (the public function's only way in)", async () => {
    const r = await app.http({ version: "2.0", rawPath: "/qbittorrent/api/v2/torrents/info", requestContext: { http: { method: "GET" } } });
    assert.deepEqual([r.statusCode, r.body], [403, "Forbidden"]);
  });

  it("reports every failed SQS record as a batch item failure", async () => {
    const r = await app.sqs({ Records: [{ messageId: "a", body: "{" }, { messageId: "b", body: JSON.stringify({ Event: "s3:TestEvent" }) }] });
    assert.deepEqual(r.batchItemFailures, [{ itemIdentifier: "a" }]);
  });
});

describe("Lambda entry points", () => {
  it("refuse events of the other kind before any setup (the HTTP function can be invoked directly by anyone)", async () => {
    await assert.rejects(httpHandler({ Records: [{ messageId: "x", body: "{}" }] } as never), /not a function URL event/);
    await assert.rejects(sqsHandler({ version: "2.0", rawPath: "/" } as never), /not an SQS event/);
    await assert.rejects(sweep({ Records: [] }), /not a scheduled event/);
    await assert.rejects(qbittorrentHandler({ Records: [] } as never), /not a function URL event/);
  });

  it("the public qBittorrent function answers 404 to every path outside the qBittorrent API, before any setup", async () => {
    const event = (rawPath: string, method = "GET") => ({ version: "2.0" as const, rawPath, requestContext: { http: { method } } });
    // No configuration here: an answer at all shows nothing was set up for it (no SSM read, no AWS call).
    for (const [path, method] of [["/api/jobs", "POST"], ["/api/jobs", "GET"], ["/api/session", "POST"], ["/healthz", "GET"], ["/", "GET"], ["/index.html", "GET"],
      ["/d/x/y", "GET"], ["/zip/x", "GET"], ["/qbittorrent/api/v2/", "GET"], ["/qbittorrent/api/v1/auth/login", "POST"], ["/QBITTORRENT/api/v2/auth/login", "POST"], ["/api/jobs/ab/delivered", "POST"]] as const) {
      const r = await qbittorrentHandler(event(path, method));
      assert.deepEqual([r.statusCode, r.body], [404, "Not Found"], `${method} ${path}`);
    }
    for (const path of ["/qbittorrent/api/v2/auth/login", "/qbittorrent/api/v2/torrents/info"]) assert.equal(outsideQbittorrent(event(path)), null, path);
  });
});
