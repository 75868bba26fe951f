// The IMDSv2 reader (seedbox/imds.ts) against a loopback stand-in that insists on the token.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { instanceId } from "../../seedbox/imds.ts";

describe("IMDSv2 instance id", () => {
  let base: string;
  let reply = "i-0abc1234def567890";
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.method === "PUT" && req.url === "/latest/api/token" && req.headers["x-aws-ec2-metadata-token-ttl-seconds"]) return res.end("tok-1");
    if (req.method === "GET" && req.url === "/latest/meta-data/instance-id") {
      // IMDSv2 only, as the launch template requires: no token, 401.
      if (req.headers["x-aws-ec2-metadata-token"] !== "tok-1") return (res.statusCode = 401), res.end();
      return res.end(reply);
    }
    res.statusCode = 404;
    res.end();
  });
  before(async () => {
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  it("takes a token with PUT, then reads the id with it", async () => {
    assert.equal(await instanceId({ baseUrl: base }), "i-0abc1234def567890");
    assert.deepEqual(seen.slice(-2), ["PUT /latest/api/token", "GET /latest/meta-data/instance-id"]);
  });

  it("refuses an answer that is not an instance id", async () => {
    reply = "<html>captive portal</html>";
    await assert.rejects(instanceId({ baseUrl: base }), /not one/);
    reply = "i-0abc1234def567890";
  });

  it("fails within its timeout where nothing answers", async () => {
    const silent = createServer(() => {});
    silent.listen(0, "127.0.0.1");
    await once(silent, "listening");
    const t0 = Date.now();
    await assert.rejects(instanceId({ baseUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, timeoutMs: 200 }));
    assert.ok(Date.now() - t0 < 2000);
    silent.closeAllConnections();
    silent.close();
  });
});
