import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { createLogger } from "../../lib/log.ts";
import { checkSpot, spotNotice, watchSpot } from "../../seedbox/spot.ts";

describe("spot interruption notice", () => {
  it("reads a notice from a 200 with an action, and none from a 404 or an unreadable answer", () => {
    assert.deepEqual(spotNotice(200, '{"action": "terminate", "time": "2026-12-01T00:02:00Z"}'), { action: "terminate", time: "2026-12-01T00:02:00Z" });
    assert.deepEqual(spotNotice(200, '{"action": "stop"}'), { action: "stop", time: "" });
    assert.equal(spotNotice(404, "Not Found"), null);
    assert.equal(spotNotice(200, "<html>"), null);
    assert.equal(spotNotice(200, '{"action": "dance"}'), null);
    assert.equal(spotNotice(500, '{"action": "terminate"}'), null);
  });

  it("asks IMDSv2 with a session token, and reports a notice once it appears", async () => {
    let notice = false;
    const seen: string[] = [];
    const imds = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers["x-aws-ec2-metadata-token"] ?? req.headers["x-aws-ec2-metadata-token-ttl-seconds"] ?? ""}`);
      if (req.method === "PUT" && req.url === "/latest/api/token") return res.end("tok");
      if (req.url === "/latest/meta-data/spot/instance-action" && req.headers["x-aws-ec2-metadata-token"] === "tok") {
        if (!notice) return res.writeHead(404).end();
        return res.end(JSON.stringify({ action: "terminate", time: "2026-12-01T00:02:00Z" }));
      }
      res.writeHead(401).end();
    });
    await new Promise<void>((r) => imds.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(imds.address() as AddressInfo).port}`;
    try {
      assert.equal(await checkSpot(base, AbortSignal.timeout(5000)), null);
      assert.deepEqual(seen, ["PUT /latest/api/token 300", "GET /latest/meta-data/spot/instance-action tok"]);
      const got: unknown[] = [];
      const watching = watchSpot({ baseUrl: base, pollMs: 20, log: createLogger("test", { level: "error" }), signal: AbortSignal.timeout(5000), onNotice: async (n) => void got.push(n) });
      setTimeout(() => (notice = true), 100);
      await watching;
      assert.deepEqual(got, [{ action: "terminate", time: "2026-12-01T00:02:00Z" }]);
    } finally {
      imds.close();
    }
  });
});
