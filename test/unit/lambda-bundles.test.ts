// The Discord functions as built for Lambda (an ESM bundle split into chunks) read their secrets from SSM:
// their lazily loaded modules must come with the classes they use. A dynamic import of the SSM client
// package itself gave no SSMClient in the bundle, so every secret read failed in AWS mode (the rehearsal
// found it; the sources, which the other bot tests run, were fine).
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { buildDiscordLambda } from "../../scripts/build-lambda.ts";

describe("the Discord bundle", () => {
  it("reads its secrets through SSM (the request reaches the endpoint)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "t2s-bundle-"));
    const seen: string[] = [];
    const ssm = createServer((req, res) => {
      seen.push(String(req.headers["x-amz-target"]));
      res.writeHead(400, { "content-type": "application/x-amz-json-1.1" }).end(JSON.stringify({ __type: "ValidationException", message: "stand-in" }));
    });
    await new Promise<void>((r) => ssm.listen(0, "127.0.0.1", r));
    const saved = { ...process.env };
    try {
      await buildDiscordLambda(join(import.meta.dirname, "..", ".."), join(dir, "discord"));
      Object.assign(process.env, {
        DISCORD_PUBLIC_KEY: "a".repeat(64), T2S_API_URL: "http://127.0.0.1:9", T2S_API_TOKEN_PARAM: "/t2s/api-token", T2S_DISCORD_TOKEN_PARAM: "/t2s/discord-token",
        AWS_ENDPOINT_URL: `http://127.0.0.1:${(ssm.address() as AddressInfo).port}`, AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test",
      });
      const bundle = (await import(join(dir, "discord", "index.mjs"))) as typeof import("../../bot/lambda.ts");
      await assert.rejects(bundle.updatesHandler({ Records: [] }), (err: Error) => !/not a constructor/.test(err.message) && /stand-in/.test(err.message));
      assert.ok(seen.includes("AmazonSSM.GetParameters"), seen.join(", "));
    } finally {
      process.env = saved;
      ssm.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
