import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { describe, it } from "node:test";
import { ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { clientDefaults } from "../../lib/aws/clients.ts";

describe("AWS clients", () => {
  it("give up on an endpoint that accepts the connection and never answers", async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const { port } = silent.address() as { port: number };
    const keys = { accessKeyId: "test", secretAccessKey: "test" };
    const sqs = new SQSClient({ ...clientDefaults({ region: "us-east-1", endpoint: `http://127.0.0.1:${port}` }, keys, { connectMs: 500, silenceMs: 300 }), maxAttempts: 1 });
    try {
      // The guard only keeps a hanging client from hanging the test run; without the timeouts it fires.
      const guard = AbortSignal.timeout(10_000);
      const err = await sqs.send(new ReceiveMessageCommand({ QueueUrl: `http://127.0.0.1:${port}/123456789012/q`, WaitTimeSeconds: 0 }), { abortSignal: guard }).then(() => null, (e: Error) => e);
      assert.ok(err, "the call failed");
      assert.equal(guard.aborted, false, "the client's own timeout ended the call, not the test's guard");
      assert.match(`${err.name} ${err.message}`, /timeout|timed out/i);
    } finally {
      sqs.destroy();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
  it("default to a silence above SQS's 20 s long poll", () => {
    const d = clientDefaults({ region: "us-east-1" });
    assert.ok(d.requestHandler.socketTimeout > 20_000);
    assert.ok(d.requestHandler.connectionTimeout > 0);
  });
});
