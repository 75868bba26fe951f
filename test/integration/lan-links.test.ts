// Local-mode links from another machine: ingest bound to 127.0.0.3 stands in for a LAN address, and a
// client bound to 127.0.0.5 for a phone on that LAN. The store stays on 127.0.0.1, so ingest streams the
// files itself: a whole file, a ranged part and the zip, with their type and file name, and no redirect.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { after, before, describe, it } from "node:test";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { create as contentDisposition } from "content-disposition";
import { linkMode } from "../../ingest/config.ts";
import { JobTable } from "../../lib/aws/job-table.ts";
import { complete } from "../../lib/job-record.ts";
import { dataPrefix, zipKey } from "../../lib/layout.ts";
import { startStoreWorld, worldToken, type StoreWorld } from "../support/store-world.ts";

const id = "c0ffee".padEnd(40, "0");
const lan = "127.0.0.3";
const phone = "127.0.0.5";
const movie = randomBytes(300_000);
const notes = Buffer.from("read me\n");
const zip = randomBytes(50_000);

/** A GET from the phone's address; the whole answer. */
function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(url, { localAddress: phone, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c)).on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) })).on("error", reject);
    }).on("error", reject).end();
  });
}

describe("local links on the LAN (ingest on 127.0.0.3, the client on 127.0.0.5)", () => {
  let world: StoreWorld;
  let url: string;
  let links: { files: { path: string; url: string }[]; zip: { url: string } };

  before(async () => {
    world = await startStoreWorld();
    const table = await world.newTable("lan-links");
    const s3 = world.direct.s3;
    const put = (key: string, body: Buffer, type: string, name: string) =>
      s3.send(new PutObjectCommand({ Bucket: world.aws.bucket, Key: key, Body: body, ContentType: type, ContentDisposition: contentDisposition(name) }));
    await put(`${dataPrefix(id)}Movie (2026).mp4`, movie, "video/mp4", "Movie (2026).mp4");
    await put(`${dataPrefix(id)}notes.txt`, notes, "text/plain; charset=utf-8", "notes.txt");
    await put(zipKey(id), zip, "application/zip", "Movie night.zip");
    const now = new Date().toISOString();
    const rec = complete(null, {
      id, name: "Movie night",
      files: [{ path: "Movie (2026).mp4", key: `${dataPrefix(id)}Movie (2026).mp4`, size: movie.length }, { path: "notes.txt", key: `${dataPrefix(id)}notes.txt`, size: notes.length }],
      zip: { key: zipKey(id), size: zip.length },
    }, now, 7)!;
    await new JobTable({ client: world.direct.dynamodb, table, retentionDays: 7 }).put(rec, null);
    ({ url } = await world.ingest({ table }, { host: lan }));
    const res = await fetch(`${url}/api/jobs/${id}`, { headers: { authorization: `Bearer ${worldToken}` } });
    assert.equal(res.status, 200);
    links = ((await res.json()) as { job: typeof links }).job;
  });
  after(async () => {
    await world?.stop();
  });

  it("hands out links on the LAN address", () => {
    for (const l of [...links.files.map((f) => f.url), links.zip.url]) assert.equal(new URL(l).origin, url);
  });

  it("streams a whole file with its type, length and file name; no redirect to the loopback store", async () => {
    const r = await get(links.files.find((f) => f.path === "Movie (2026).mp4")!.url);
    assert.equal(r.status, 200);
    assert.equal(r.headers.location, undefined);
    assert.ok(r.body.equals(movie));
    assert.equal(r.headers["content-type"], "video/mp4");
    assert.equal(r.headers["content-length"], String(movie.length));
    assert.equal(r.headers["accept-ranges"], "bytes");
    assert.equal(r.headers["content-disposition"], contentDisposition("Movie (2026).mp4"));
  });

  it("streams a ranged part (206 with Content-Range), as players seek, and refuses a range past the end (416)", async () => {
    const link = links.files.find((f) => f.path === "Movie (2026).mp4")!.url;
    const part = await get(link, { range: "bytes=1000-1999" });
    assert.equal(part.status, 206);
    assert.equal(part.headers["content-range"], `bytes 1000-1999/${movie.length}`);
    assert.ok(part.body.equals(movie.subarray(1000, 2000)));
    const tail = await get(link, { range: "bytes=-100" });
    assert.equal(tail.status, 206);
    assert.ok(tail.body.equals(movie.subarray(movie.length - 100)));
    const past = await get(link, { range: `bytes=${movie.length + 10}-` });
    assert.equal(past.status, 416);
    assert.equal(past.headers["content-range"], `bytes */${movie.length}`);
  });

  it("streams the zip with its name", async () => {
    const r = await get(links.zip.url);
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(zip));
    assert.equal(r.headers["content-type"], "application/zip");
    assert.equal(r.headers["content-disposition"], contentDisposition("Movie night.zip"));
  });

  it("still refuses an unsigned link, and the page's CSP names no second origin", async () => {
    const signed = new URL(links.zip.url);
    assert.equal((await get(`${signed.origin}${signed.pathname}`)).status, 401);
    const page = await get(`${url}/`);
    assert.match(String(page.headers["content-security-policy"]), /img-src 'self' data:; media-src 'self'; /);
  });
});

describe("linkMode", () => {
  it("streams unless ingest listens on this machine's loopback only; T2S_LINKS decides when set", () => {
    for (const host of ["127.0.0.1", "localhost", "::1"]) assert.equal(linkMode({}, host), "redirect", host);
    for (const host of ["0.0.0.0", "192.168.1.20", "127.0.0.3", "::"]) assert.equal(linkMode({}, host), "stream", host);
    assert.equal(linkMode({ T2S_LINKS: "redirect" }, "0.0.0.0"), "redirect");
    assert.throws(() => linkMode({ T2S_LINKS: "proxy" }, "0.0.0.0"), /T2S_LINKS must be "stream" or "redirect"/);
  });
});
