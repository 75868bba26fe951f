// The moto front's signature check on presigned URLs (S3 links the rehearsal's ingest hands out).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { refusal } from "../../scripts/local/moto-guard.ts";

const keys = { accessKeyId: "ASIATESTSESSION00001", secretAccessKey: "c2VjcmV0LXNlY3JldC1zZWNyZXQ" };

async function presigned(o: { expiresIn?: number; sessionToken?: string } = {}) {
  const s3 = new S3Client({ region: "us-east-1", endpoint: "http://127.0.0.1:4566", forcePathStyle: true, credentials: { ...keys, ...(o.sessionToken ? { sessionToken: o.sessionToken } : {}) } });
  const url = new URL(await getSignedUrl(s3, new GetObjectCommand({ Bucket: "b", Key: "files/abc/sub dir/a+b.bin", ResponseContentDisposition: 'attachment; filename="a b.bin"' }), { expiresIn: o.expiresIn ?? 300 }));
  s3.destroy();
  return { path: url.pathname + url.search, headers: { host: url.host } };
}

describe("moto front: presigned URLs", () => {
  it("takes a URL presigned with the keys, a session's token included", async () => {
    for (const u of [await presigned(), await presigned({ sessionToken: "FwoGZXIvYXdzEXAMPLE+token/=" })]) {
      assert.equal(await refusal("GET", u.path, u.headers, Buffer.alloc(0), keys), null);
    }
  });

  it("refuses one altered, signed by other keys, expired, or for another method", async () => {
    const u = await presigned({ expiresIn: 60 });
    assert.equal(await refusal("GET", u.path.replace("a%2Bb.bin", "a%2Bc.bin"), u.headers, Buffer.alloc(0), keys), "the signature does not match");
    assert.equal(await refusal("GET", u.path, u.headers, Buffer.alloc(0), { ...keys, secretAccessKey: "other" }), "the signature does not match");
    assert.equal(await refusal("GET", u.path, u.headers, Buffer.alloc(0), { ...keys, accessKeyId: "AKIAOTHER" }), "the access key is not the stack's");
    assert.equal(await refusal("GET", u.path, u.headers, Buffer.alloc(0), keys, Date.now() + 120_000), "the presigned URL has expired");
    assert.equal(await refusal("DELETE", u.path, u.headers, Buffer.alloc(0), keys), "the signature does not match");
  });
});
