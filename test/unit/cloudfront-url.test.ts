// CloudFront signed download URLs, checked against the public key the way CloudFront checks them: the
// canned policy for the exact URL and expiry, signed with the private key (scripts/rehearse/cloudfront-signed.ts).
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, it } from "node:test";
import { cloudfrontMaxBytes, cloudfrontSigner } from "../../lib/aws/cloudfront-url.ts";
import { checkSignedUrl } from "../../scripts/rehearse/cloudfront-signed.ts";

const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const pem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
const now = Date.UTC(2026, 11, 7, 12, 0, 0);
const sign = cloudfrontSigner({ base: "https://d111.cloudfront.net/", key: { keyPairId: "K2JCJMDEHXQW5F", privateKey: pem }, now: () => now });

/** What CloudFront does with a signed URL: its check (the rehearsal's stand-in applies the same). */
const cloudfrontAccepts = (signed: string, at: number): boolean => checkSignedUrl({ url: signed, keys: { K2JCJMDEHXQW5F: publicKey }, now: at }).ok;

describe("CloudFront signed URLs", () => {
  it("sign the object's key as its path, for the link's lifetime, with the key pair's id", () => {
    const url = sign("files/abc/data/Album ü/01 #1.flac", 1000, 300)!;
    const u = new URL(url);
    assert.equal(u.origin + u.pathname, "https://d111.cloudfront.net/files/abc/data/Album%20%C3%BC/01%20%231.flac");
    assert.equal(u.searchParams.get("Key-Pair-Id"), "K2JCJMDEHXQW5F");
    assert.equal(Number(u.searchParams.get("Expires")), now / 1000 + 300);
    assert.equal(cloudfrontAccepts(url, now), true);
  });

  it("are refused once expired, or with another path or another expiry", () => {
    const url = sign("files/abc/data/a.bin", 10, 300)!;
    assert.equal(cloudfrontAccepts(url, now + 301_000), false, "expired");
    assert.equal(cloudfrontAccepts(url.replace("a.bin", "b.bin"), now), false, "another object");
    const later = new URL(url);
    later.searchParams.set("Expires", String(now / 1000 + 86_400));
    assert.equal(cloudfrontAccepts(later.toString(), now), false, "a longer expiry");
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();
    const forged = cloudfrontSigner({ base: "https://d111.cloudfront.net", key: { keyPairId: "K2JCJMDEHXQW5F", privateKey: other }, now: () => now })("files/abc/data/a.bin", 10, 300)!;
    assert.equal(cloudfrontAccepts(forged, now), false, "signed with another key");
  });

  it("leave objects over CloudFront's largest file to the S3 presigned URL", () => {
    assert.notEqual(sign("files/abc/data/big", cloudfrontMaxBytes, 300), null);
    assert.equal(sign("files/abc/data/big", cloudfrontMaxBytes + 1, 300), null);
  });
});
