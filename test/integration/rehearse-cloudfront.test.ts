// The rehearsal's CloudFront stand-in (scripts/rehearse/cloudfront.ts), built from a distribution read
// back from moto: the distribution stacks/page-front.ts synthesizes is created there through the SDK (as
// terraform would, with moto's limits: no response headers policy), read back, and served on loopback in
// front of three recording origins that check CloudFront's SigV4 signatures (the public qBittorrent
// function's gets none). With a downloads key, the files bucket is moto's S3 behind its front, which
// checks the stand-in's SigV4 too, and signed URLs come from @aws-sdk/cloudfront-signer as ingest makes them.
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CloudFrontClient, CreateDistributionCommand, CreateKeyGroupCommand, CreateOriginAccessControlCommand, CreatePublicKeyCommand, type DistributionConfig } from "@aws-sdk/client-cloudfront";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/cloudfront-signer";
import { ingestPaths, pageFiles } from "../../ingest/public-paths.ts";
import { frontHeaders } from "../../lib/page-headers.ts";
import { refusal, type ObservedRequest } from "../../scripts/local/moto-guard.ts";
import { startMoto, type Moto } from "../../scripts/local/moto.ts";
import { originAccessControlIdsFromState, readDistribution, serveDistribution, type CloudFrontStandIn } from "../../scripts/rehearse/cloudfront.ts";
import { synthesizePageFront, type SynthesizedFront } from "../../scripts/rehearse/page-front-synth.ts";

const region = "us-east-1";
const motoKeys = { accessKeyId: "test", secretAccessKey: "test" };
/** What the stand-in signs with: CloudFront's service principal, as the origins know it. */
const cloudfrontKeys = { accessKeyId: "AKIDCLOUDFRONT", secretAccessKey: "cloudfront-secret" };
const storageOrigin = "http://127.0.0.1:9";
const pageBucket = "t2s-page-20261207";
const pageDomain = `${pageBucket}.s3.${region}.amazonaws.com`;
const ingestDomain = `abcdefghijklmnopqrstuvwxyz012345.lambda-url.${region}.on.aws`;
const qbtDomain = `qbtqbtqbtqbtqbtqbtqbtqbtqbtqbt12.lambda-url.${region}.on.aws`;
const filesBucket = "t2s-files-20261207";
const filesDomain = `${filesBucket}.s3.${region}.amazonaws.com`;
const downloadsKey = generateKeyPairSync("rsa", { modulusLength: 2048 });
const publicPem = downloadsKey.publicKey.export({ type: "spki", format: "pem" }).toString();
const privatePem = downloadsKey.privateKey.export({ type: "pkcs1", format: "pem" }).toString();

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
  /** Why the signature is not CloudFront's (null: it is). */
  why: string | null;
}

/** An origin that records each request and checks its signature; `/d/stream` answers in two parts, the second on `release`. */
async function recordingOrigin(name: string) {
  const seen: Seen[] = [];
  let release = () => {};
  const server = createServer(async (req, res) => {
    const parts: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) parts.push(chunk);
    const body = Buffer.concat(parts);
    const why = await refusal(req.method ?? "GET", req.url ?? "/", req.headers, body, cloudfrontKeys);
    seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: body.toString(), why });
    if (req.url === "/d/stream") {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.write("first part;");
      await new Promise<void>((resolve) => (release = resolve));
      return res.end("second part");
    }
    res.writeHead(200, { "content-type": "text/plain", "x-frame-options": "SAMEORIGIN", server: name, connection: "keep-alive" }).end(`${name} ${req.url}`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    release: () => release(),
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), (server as Server).close(() => resolve()))),
  };
}
type Origin = Awaited<ReturnType<typeof recordingOrigin>>;

/** A path a pattern matches: "*" as a short run, "?" as one character. */
const examplePath = (pattern: string) => pattern.replace(/\*/g, "x/y").replace(/\?/g, "z");
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

describe("the rehearsal's CloudFront stand-in, from the distribution read back from moto", { timeout: 120_000 }, () => {
  let dir: string;
  let moto: Moto;
  let cf: CloudFrontClient;
  let synth: SynthesizedFront;
  /** The same front with a downloads key: the files bucket at /files/*, for signed URLs only. */
  let signedSynth: SynthesizedFront;
  /** What moto's front (the files bucket here) answered. */
  const s3Seen: ObservedRequest[] = [];
  let page: Origin;
  let ingest: Origin;
  let qbt: Origin;
  const fronts: CloudFrontStandIn[] = [];
  /** The terraform state's record of the distribution's origins, as the rehearsal would read it. */
  let state: { resources: { type: string; instances: { attributes: Record<string, unknown> }[] }[] };

  /** Creates the synthesized distribution (less `dropPattern`'s behaviour) in moto, as terraform applies it there. */
  async function apply(dropPattern?: string, from: SynthesizedFront = synth): Promise<string> {
    const oacIds: Record<string, string> = {};
    for (const [ref, config] of Object.entries(from.accessControls)) {
      const made = await cf.send(new CreateOriginAccessControlCommand({ OriginAccessControlConfig: { ...config, Name: `${config.Name}-${Math.random()}` } }));
      oacIds[ref] = made.OriginAccessControl!.Id!;
    }
    const domains: Record<string, string> = { [from.pageDomain]: pageDomain, [from.ingestDomain]: ingestDomain, [from.qbittorrentDomain]: qbtDomain };
    const keyGroupIds: Record<string, string> = {};
    if (from.downloads) {
      domains[from.downloads.filesDomain] = filesDomain;
      const key = await cf.send(new CreatePublicKeyCommand({ PublicKeyConfig: { CallerReference: `key-${Math.random()}`, Name: `t2s-downloads-${Date.now()}`, EncodedKey: publicPem } }));
      const group = await cf.send(new CreateKeyGroupCommand({ KeyGroupConfig: { Name: `t2s-downloads-${Math.random()}`.replace(".", ""), Items: [key.PublicKey!.Id!] } }));
      keyGroupIds[from.downloads.keyGroup] = group.KeyGroup!.Id!;
    }
    const { ResponseHeadersPolicyId: _d, ...defaultBehavior } = from.config.DefaultCacheBehavior!;
    const behaviors = from.config.CacheBehaviors!.Items!.filter((b) => b.PathPattern !== dropPattern).map(({ ResponseHeadersPolicyId: _, ...b }) => {
      const groups = b.TrustedKeyGroups?.Items?.map((ref) => keyGroupIds[ref]!) ?? [];
      return { ...b, TrustedKeyGroups: { Enabled: groups.length > 0, Quantity: groups.length, Items: groups } };
    });
    const origins = from.config.Origins!.Items!.map((o) => ({ ...o, DomainName: domains[o.DomainName!], OriginAccessControlId: oacIds[o.OriginAccessControlId!] }));
    const config: DistributionConfig = {
      ...from.config, CallerReference: `ref-${Math.random()}`,
      Origins: { Quantity: origins.length, Items: origins },
      DefaultCacheBehavior: defaultBehavior,
      CacheBehaviors: { Quantity: behaviors.length, Items: behaviors },
    };
    const made = await cf.send(new CreateDistributionCommand({ DistributionConfig: config }));
    const id = made.Distribution!.Id!;
    state.resources.push({ type: "aws_cloudfront_distribution", instances: [{ attributes: {
      id, origin: origins.map((o) => ({ origin_id: o.Id, domain_name: o.DomainName, origin_access_control_id: o.OriginAccessControlId })),
    } }] });
    return id;
  }

  async function front(id: string): Promise<CloudFrontStandIn> {
    const applied = await readDistribution({ endpoint: moto.endpoint, credentials: motoKeys, id, originAccessControlIds: originAccessControlIdsFromState(state, id) });
    const f = await serveDistribution({
      distribution: applied, credentials: cloudfrontKeys,
      origins: { [pageDomain]: `${page.url}/${pageBucket}`, [ingestDomain]: ingest.url, [qbtDomain]: qbt.url, [filesDomain]: `${moto.endpoint}/${filesBucket}` },
      headersPolicy: { config: synth.headersPolicy },
    });
    fronts.push(f);
    return f;
  }

  let deployed: CloudFrontStandIn;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "t2s-rehearse-cf-"));
    // Behind its front, moto takes requests signed by the test or by CloudFront's OAC only.
    moto = await startMoto({
      logDir: dir, observe: (r) => s3Seen.push(r),
      guard: { keys: motoKeys, dir: join(dir, "moto"), sessions: (id) => (id === cloudfrontKeys.accessKeyId ? cloudfrontKeys : undefined) },
    });
    cf = new CloudFrontClient({ region, endpoint: moto.endpoint, credentials: motoKeys });
    synth = synthesizePageFront(storageOrigin);
    signedSynth = synthesizePageFront("", { downloadsPublicKey: publicPem });
    [page, ingest, qbt] = [await recordingOrigin("AmazonS3"), await recordingOrigin("ingest"), await recordingOrigin("qbittorrent")];
    state = { resources: [] };
    deployed = await front(await apply());
  });
  after(async () => {
    for (const f of fronts) await f.close();
    await page?.close();
    await ingest?.close();
    await qbt?.close();
    cf?.destroy();
    await moto?.proc.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Sends a request through `f` and returns its answer and what each origin saw of it. */
  async function through(f: CloudFrontStandIn, path: string, init: RequestInit = {}) {
    const before = [page.seen.length, ingest.seen.length, qbt.seen.length];
    const res = await fetch(f.url + path, init);
    const text = await res.text();
    return { res, text, page: page.seen.slice(before[0]), ingest: ingest.seen.slice(before[1]), qbt: qbt.seen.slice(before[2]) };
  }
  const scopeOf = (s: Seen) => /Credential=[^/]+\/\d{8}\/([^/]+\/[^/]+)\/aws4_request/.exec(String(s.headers.authorization))?.[1];

  it("sends /zip/<id> and every public path of ingest but the qBittorrent API's to the function URL, signed for lambda", async () => {
    for (const path of [`/zip/${"a".repeat(40)}`, ...ingestPaths.filter((p) => p.origin !== "qbittorrent").map((p) => examplePath(p.pattern))]) {
      const r = await through(deployed, `${path}?a=1&b=x+y%20z&b=2`);
      assert.equal(r.page.length, 0, path);
      assert.equal(r.ingest.length, 1, path);
      const [seen] = r.ingest;
      assert.equal(seen!.url, `${path}?a=1&b=x+y%20z&b=2`, "the path and the query, as the viewer sent them");
      assert.equal(seen!.why, null, `${path}: ${seen!.why}`);
      assert.equal(scopeOf(seen!), `${region}/lambda`);
      assert.equal(r.res.status, 200);
    }
  });

  it("passes an API call's headers, cookies and body but never the viewer's Authorization", async () => {
    const body = JSON.stringify({ magnet: "magnet:?xt=urn:btih:" + "b".repeat(40) });
    const r = await through(deployed, "/api/jobs", {
      method: "POST", body,
      headers: { "content-type": "application/json", "x-amz-content-sha256": sha256(body), "x-t2s-token": "tok", cookie: "t2s_session=s", authorization: "Bearer viewer" },
    });
    const [seen] = r.ingest;
    assert.equal(seen!.why, null, seen!.why ?? "");
    assert.equal(seen!.body, body);
    assert.equal(seen!.headers["x-t2s-token"], "tok");
    assert.equal(seen!.headers.cookie, "t2s_session=s");
    assert.match(String(seen!.headers.authorization), /^AWS4-HMAC-SHA256 /);
    assert.equal(seen!.headers.host, new URL(ingest.url).host, "Host is the origin's");
    assert.ok(seen!.headers["x-forwarded-for"]);
  });

  it("sends the qBittorrent API to the public function unsigned: the viewer's Authorization, cookie, query and body as sent", async () => {
    const body = new URLSearchParams({ urls: "magnet:?xt=urn:btih:" + "c".repeat(40), category: "tv" }).toString();
    for (const authorization of ["Bearer sonarr-key", `Basic ${Buffer.from("t2s:token").toString("base64")}`]) {
      const r = await through(deployed, "/qbittorrent/api/v2/torrents/add?x=1", {
        method: "POST", body, headers: { "content-type": "application/x-www-form-urlencoded", cookie: "SID=abc", authorization },
      });
      assert.deepEqual([r.page.length, r.ingest.length, r.qbt.length], [0, 0, 1]);
      const [seen] = r.qbt;
      assert.equal(seen!.url, "/qbittorrent/api/v2/torrents/add?x=1");
      assert.equal(seen!.headers.authorization, authorization, "the viewer's, not a signature");
      assert.equal(seen!.headers["x-amz-date"], undefined, "not signed");
      assert.equal(seen!.headers.cookie, "SID=abc");
      assert.equal(seen!.body, body, "no body hash needed");
      assert.equal(seen!.headers.host, new URL(qbt.url).host, "Host is the origin's");
      assert.equal(r.res.status, 200);
    }
    // GET too (torrents/info), and the path's other methods reach it as CloudFront allows them.
    assert.equal((await through(deployed, "/qbittorrent/api/v2/torrents/info?category=tv")).qbt.length, 1);
  });

  it("signs a body without its hash so that the function URL refuses it, as CloudFront's OAC does", async () => {
    const r = await through(deployed, "/api/jobs", { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    assert.match(r.ingest[0]!.why ?? "", /X-Amz-Content-Sha256 does not match the body/);
  });

  it("sends the page's files to the bucket, signed for s3, '/' as index.html, without the query or the viewer's headers", async () => {
    for (const path of ["/", ...pageFiles.map(([key]) => `/${key}`)]) {
      const r = await through(deployed, `${path}?v=1`, { headers: { cookie: "t2s_session=s", "x-t2s-token": "tok" } });
      assert.equal(r.ingest.length, 0, path);
      const [seen] = r.page;
      assert.equal(seen!.url, `/${pageBucket}${path === "/" ? "/index.html" : path}`);
      assert.equal(seen!.why, null, `${path}: ${seen!.why}`);
      assert.equal(scopeOf(seen!), `${region}/s3`);
      assert.equal(seen!.headers.cookie, undefined);
      assert.equal(seen!.headers["x-t2s-token"], undefined);
      assert.equal(r.text, `AmazonS3 /${pageBucket}${path === "/" ? "/index.html" : path}`);
    }
  });

  it("answers a method the behaviour does not allow with 403, without reaching an origin", async () => {
    for (const [method, path] of [["POST", "/zip/abc"], ["DELETE", "/d/abc"], ["PUT", "/index.html"], ["POST", "/"], ["PATCH", "/healthz"]] as const) {
      const r = await through(deployed, path, { method, ...(method === "DELETE" ? {} : { body: "x" }) });
      assert.equal(r.res.status, 403, `${method} ${path}`);
      assert.equal(r.page.length + r.ingest.length + r.qbt.length, 0, `${method} ${path}`);
    }
    assert.equal((await through(deployed, "/api/jobs/1", { method: "DELETE" })).ingest.length, 1, "/api/* takes every method");
  });

  it("adds the response headers policy's headers, as ingest's own in local mode", async () => {
    const { res } = await through(deployed, "/healthz");
    for (const [name, value] of Object.entries(frontHeaders(storageOrigin))) assert.equal(res.headers.get(name), value, name);
    assert.equal(res.headers.get("server"), "ingest", "the origin's other headers pass");
    assert.match(res.headers.get("via") ?? "", /cloudfront\.net \(CloudFront\)$/);
  });

  it("streams an answer: the first bytes arrive before the origin has sent the rest", async () => {
    const res = await fetch(`${deployed.url}/d/stream`);
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.equal(Buffer.from(first.value!).toString(), "first part;");
    ingest.release();
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += Buffer.from(r.value).toString();
    assert.equal(rest, "second part");
  });

  it("refuses to start without a local URL for every origin, or with what it does not model", async () => {
    const applied = { config: synth.config, accessControls: synth.accessControls };
    await assert.rejects(serveDistribution({ distribution: applied, credentials: cloudfrontKeys, origins: { [synth.pageDomain]: page.url } }), /a local URL for the origin ingest/);
    const errorPages = { ...synth.config, CustomErrorResponses: { Quantity: 1, Items: [{ ErrorCode: 404 }] } };
    await assert.rejects(serveDistribution({ distribution: applied, credentials: cloudfrontKeys, origins: { [synth.pageDomain]: page.url, [synth.ingestDomain]: ingest.url } }), /a local URL for the origin qbittorrent/);
    await assert.rejects(serveDistribution({ distribution: { ...applied, config: errorPages }, credentials: cloudfrontKeys, origins: { [synth.pageDomain]: page.url, [synth.ingestDomain]: ingest.url, [synth.qbittorrentDomain]: qbt.url } }), /custom error responses/);
  });

  it("needs terraform's state for the origins' access controls: moto 5.2 returns none", async () => {
    const id = state.resources[0]!.instances[0]!.attributes.id as string;
    const bare = await readDistribution({ endpoint: moto.endpoint, credentials: motoKeys, id });
    // When this fails, moto keeps them: readDistribution's state fallback can go.
    assert.deepEqual(bare.config.Origins!.Items!.map((o) => o.OriginAccessControlId), [undefined, undefined, undefined]);
    assert.deepEqual(bare.accessControls, {});
  });

  it("sends /zip/* to the bucket when the distribution lost its behaviour, so a rehearsal catches it", async () => {
    const broken = await front(await apply("/zip/*"));
    const r = await through(broken, "/zip/abc");
    assert.equal(r.ingest.length, 0);
    assert.equal(r.page[0]!.url, `/${pageBucket}/zip/abc`);
    assert.equal((await through(broken, "/api/jobs")).ingest.length, 1, "the other behaviours stay");
  });
  describe("with a downloads key: the files bucket at /files/*, for signed URLs only", () => {
    const key = "files/0123/data/e ü.bin";
    const bytes = randomBytes(256 * 1024);
    const disposition = "attachment; filename*=UTF-8''e%20%C3%BC.bin";
    let signed: CloudFrontStandIn;
    let domain: string;
    let keyPairId: string;
    before(async () => {
      const s3 = new S3Client({ region, endpoint: moto.endpoint, credentials: motoKeys, forcePathStyle: true });
      await s3.send(new CreateBucketCommand({ Bucket: filesBucket }));
      await s3.send(new PutObjectCommand({ Bucket: filesBucket, Key: key, Body: bytes, ContentDisposition: disposition, ContentType: "application/octet-stream" }));
      s3.destroy();
      const id = await apply(undefined, signedSynth);
      const applied = await readDistribution({ endpoint: moto.endpoint, credentials: motoKeys, id, originAccessControlIds: originAccessControlIdsFromState(state, id) });
      domain = applied.domainName;
      const groups = Object.values(applied.keyGroups);
      assert.equal(groups.length, 1, "one trusted key group, read back from moto");
      keyPairId = Object.keys(groups[0]!)[0]!;
      assert.equal(groups[0]![keyPairId!]?.trim(), publicPem.trim(), "its public key as the stack gave it");
      signed = await front(id);
    });
    /** A URL ingest would sign for the object (its key as the path), rewritten onto the stand-in. */
    const signUrl = (o: { expiresS?: number; path?: string } = {}) =>
      getSignedUrl({ url: `https://${domain}/${o.path ?? "files/0123/data/e%20%C3%BC.bin"}`, keyPairId, privateKey: privatePem, dateLessThan: new Date(Date.now() + (o.expiresS ?? 60) * 1000) });
    const onStandIn = (url: string) => { const u = new URL(url); return `${signed.url}${u.pathname}${u.search}`; };
    const get = async (url: string, headers: Record<string, string> = {}) => {
      const from = s3Seen.length;
      const res = await fetch(onStandIn(url), { headers });
      return { res, body: Buffer.from(await res.arrayBuffer()), s3: s3Seen.slice(from).filter((r) => r.path.startsWith(`/${filesBucket}/`)) };
    };

    it("serves the object from the bucket, with its own name, signed for s3 and without the signing parameters", async () => {
      const { res, body, s3 } = await get(signUrl());
      assert.equal(res.status, 200, body.toString());
      assert.ok(body.equals(bytes), "the object's bytes");
      assert.equal(res.headers.get("content-disposition"), disposition);
      assert.equal(s3.length, 1);
      assert.equal(s3[0]!.status, 200, "moto's front took the stand-in's OAC signature");
      assert.equal(s3[0]!.path, `/${filesBucket}/files/0123/data/e%20%C3%BC.bin`, "no Expires, Signature or Key-Pair-Id reach the origin");
      assert.match(s3[0]!.headers.authorization ?? "", new RegExp(`^AWS4-HMAC-SHA256 Credential=${cloudfrontKeys.accessKeyId}/\\d{8}/${region}/s3/aws4_request`));
    });

    it("passes a Range request through: 206 with those bytes", async () => {
      const { res, body } = await get(signUrl(), { range: "bytes=1000-4999" });
      assert.equal(res.status, 206);
      assert.equal(res.headers.get("content-range"), `bytes 1000-4999/${bytes.length}`);
      assert.ok(body.equals(bytes.subarray(1000, 5000)));
    });

    it("answers 403 with CloudFront's error for an unsigned, expired, tampered, re-pathed or foreign-key URL, without reaching the bucket", async () => {
      const url = signUrl();
      const tampered = url.replace(/Signature=(.)/, (_, c: string) => `Signature=${c === "A" ? "B" : "A"}`);
      const foreign = new URL(url);
      foreign.searchParams.set("Key-Pair-Id", "K0000000000000");
      const cases: [string, string, string][] = [
        ["unsigned", `https://${domain}/files/0123/data/e%20%C3%BC.bin`, "MissingKey"],
        ["expired", signUrl({ expiresS: -1 }), "AccessDenied"],
        ["tampered", tampered, "AccessDenied"],
        ["another path", url.replace("e%20%C3%BC.bin", "other.bin"), "AccessDenied"],
        ["an unknown key id", foreign.href, "InvalidKey"],
      ];
      for (const [what, u, code] of cases) {
        const { res, body, s3 } = await get(u);
        assert.equal(res.status, 403, what);
        assert.match(body.toString(), new RegExp(`<Error><Code>${code}</Code>`), what);
        assert.equal(res.headers.get("x-cache"), "Error from cloudfront", what);
        assert.equal(s3.length, 0, `${what}: nothing reached the bucket`);
      }
    });

    it("leaves the other behaviours unsigned", async () => {
      const r = await through(signed, "/api/jobs");
      assert.equal(r.ingest.length, 1);
      assert.equal(r.res.status, 200);
    });
  });
});
