// The SSRF guard. Non-loopback ranges are checked with an injected resolver: no test here connects
// anywhere but 127.0.0.1.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { AppError } from "../../lib/errors.ts";
import { blockedReason, FetchGuard, type Resolve } from "../../ingest/fetch-guard.ts";
import { startFileServer } from "../support/files.ts";

const files = await startFileServer();
files.put("/ok.torrent", Buffer.from("d4:infodee"));
after(() => files.close());

const guard = (o: { resolve?: Resolve; allow?: string[]; timeoutMs?: number } = {}) =>
  new FetchGuard({ allowHosts: new Set(o.allow ?? []), timeoutMs: o.timeoutMs ?? 3000, maxBytes: 10 * 1024 * 1024, maxRedirects: 3, ...(o.resolve ? { resolve: o.resolve } : {}) });

async function code(g: FetchGuard, url: string): Promise<string> {
  try {
    await g.fetch(url);
  } catch (err) {
    assert.ok(err instanceof AppError, `expected AppError, got ${err}`);
    return err.code;
  } finally {
    await g.close();
  }
  assert.fail(`expected ${url} to be refused`);
}

describe("blockedReason", () => {
  const cases: [string, string | null][] = [
    ["10.1.2.3", "private"], ["172.16.0.1", "private"], ["172.31.255.254", "private"], ["192.168.1.1", "private"],
    ["169.254.169.254", "linkLocal"], ["127.0.0.1", "loopback"], ["0.0.0.0", "unspecified"], ["100.64.0.1", "carrierGradeNat"],
    ["224.0.0.1", "multicast"], ["255.255.255.255", "broadcast"], ["::1", "loopback"], ["fc00::1", "uniqueLocal"],
    ["fd12:3456::1", "uniqueLocal"], ["fe80::1", "linkLocal"], ["ff02::1", "multicast"], ["::ffff:10.0.0.1", "private"],
    ["::ffff:127.0.0.1", "loopback"], ["::ffff:169.254.169.254", "linkLocal"], ["8.8.8.8", null], ["2606:4700::1111", null],
  ];
  for (const [ip, why] of cases) it(`${ip} → ${why ?? "public"}`, () => assert.equal(blockedReason(ip), why));
});

describe("FetchGuard", () => {
  for (const [ip, family] of [["10.0.0.5", 4], ["172.20.1.1", 4], ["192.168.0.10", 4], ["169.254.169.254", 4], ["fc00::5", 6], ["::ffff:192.168.1.1", 6]] as const) {
    it(`refuses a name that resolves to ${ip}, before connecting`, async () => {
      const g = guard({ resolve: async () => [{ address: ip, family }] });
      assert.equal(await code(g, "http://torrents.example/x.torrent"), "url_blocked");
    });
  }

  it("refuses a name with one private address among public ones", async () => {
    const g = guard({ resolve: async () => [{ address: "93.184.216.34", family: 4 }, { address: "10.0.0.1", family: 4 }] });
    assert.equal(await code(g, "http://mixed.example/x.torrent"), "url_blocked");
  });

  for (const host of ["localhost", "127.1", "2130706433", "0x7f000001", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0", "sub.localhost"]) {
    it(`refuses loopback in disguise: ${host}`, async () => assert.equal(await code(guard(), `http://${host}:${files.host.split(":")[1]}/ok.torrent`), "url_blocked"));
  }

  it("refuses a DNS name that resolves to loopback", async () => {
    const g = guard({ resolve: async () => [{ address: "127.0.0.1", family: 4 }] });
    assert.equal(await code(g, `http://evil.example:${files.host.split(":")[1]}/ok.torrent`), "url_blocked");
  });

  for (const url of ["ftp://example.com/x.torrent", "file:///etc/passwd", "javascript:alert(1)", "not a url", "http://user:pw@example.com/x"]) {
    it(`refuses ${url} as invalid_url`, async () => assert.equal(await code(guard(), url), "invalid_url"));
  }

  it("fetches from an allow-listed loopback host", async () => {
    const g = guard({ allow: [files.host] });
    assert.equal((await g.fetch(`${files.base}/ok.torrent`)).toString(), "d4:infodee");
    await g.close();
  });

  it("refuses a redirect from an allowed host to loopback", async () => {
    const g = guard({ allow: [files.host] });
    assert.equal(await code(g, `${files.base}/redirect?to=${encodeURIComponent("http://127.0.0.1:9/x.torrent")}`), "url_blocked");
  });

  it("refuses a redirect to a name that resolves to a private address", async () => {
    const g = guard({ allow: [files.host], resolve: async () => [{ address: "192.168.1.1", family: 4 }] });
    assert.equal(await code(g, `${files.base}/redirect?to=${encodeURIComponent("http://router.example/x.torrent")}`), "url_blocked");
  });

  it("stops a body over 10 MiB", async () => assert.equal(await code(guard({ allow: [files.host] }), `${files.base}/huge`), "too_large"));
  it("gives up on a server that is too slow", async () => assert.equal(await code(guard({ allow: [files.host], timeoutMs: 1500 }), `${files.base}/slow`), "fetch_failed"));
  it("reports a 404 as fetch_failed", async () => assert.equal(await code(guard({ allow: [files.host] }), `${files.base}/missing`), "fetch_failed"));
  it("follows at most the allowed redirects", async () => {
    let url = `${files.base}/ok.torrent`;
    for (let i = 0; i < 5; i++) url = `${files.base}/redirect?to=${encodeURIComponent(url)}`;
    assert.equal(await code(guard({ allow: [files.host] }), url), "fetch_failed");
  });
});

describe("webhook targets and deliveries", () => {
  async function targetCode(g: FetchGuard, url: string): Promise<string> {
    try {
      await g.checkTarget(url);
    } catch (err) {
      assert.ok(err instanceof AppError, `expected AppError, got ${err}`);
      return err.code;
    } finally {
      await g.close();
    }
    assert.fail(`expected ${url} to be refused`);
  }
  const cases: [string, string, Resolve | undefined][] = [
    ["file:///etc/passwd", "invalid_url", undefined],
    ["javascript:alert(1)", "invalid_url", undefined],
    ["http://user:pw@example.com/", "invalid_url", undefined],
    ["http://127.0.0.1:9/hook", "url_blocked", undefined],
    ["http://[::1]/hook", "url_blocked", undefined],
    ["http://localhost/hook", "url_blocked", undefined],
    ["https://hooks.example/h", "url_blocked", async () => [{ address: "10.0.0.7", family: 4 }]],
    ["https://hooks.example/h", "url_blocked", async () => [{ address: "93.184.216.34", family: 4 }, { address: "fd00::1", family: 6 }]],
    ["https://nowhere.example/h", "invalid_url", async () => { throw new Error("ENOTFOUND"); }],
  ];
  for (const [url, want, resolve] of cases) {
    it(`refuses ${url}${resolve ? " (injected resolver)" : ""} with ${want}`, async () => assert.equal(await targetCode(guard(resolve ? { resolve } : {}), url), want));
  }

  it("accepts a public name and an allow-listed loopback host", async () => {
    const g = guard({ allow: [files.host], resolve: async () => [{ address: "93.184.216.34", family: 4 }] });
    assert.equal((await g.checkTarget("https://hooks.example/h?x=1")).hostname, "hooks.example");
    assert.equal((await g.checkTarget(`${files.base}/hook/a`)).host, files.host);
    await g.close();
  });

  it("POSTs through a 307 on an allowed host, and refuses one to loopback", async () => {
    const g = guard({ allow: [files.host] });
    const before = files.hooks.length;
    assert.equal(await g.post(`${files.base}/redirect307?to=${encodeURIComponent(`${files.base}/hook/guard`)}`, '{"x":1}', { "content-type": "application/json" }), 200);
    assert.deepEqual(files.hooks.slice(before).map((h) => [h.path, h.body]), [["/hook/guard", '{"x":1}']]);
    await assert.rejects(g.post(`${files.base}/redirect307?to=${encodeURIComponent("http://127.0.0.1:9/")}`, "{}", {}), { code: "url_blocked" });
    await g.close();
  });
});
