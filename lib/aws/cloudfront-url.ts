// Download links through CloudFront (AWS mode): a short-lived signed URL for an object of the files
// bucket, which the distribution serves as a second origin (stacks/page-front.ts). S3 → CloudFront
// transfer is free and CloudFront's first TB out a month is too, where S3 bills each GB out.
import { getSignedUrl } from "@aws-sdk/cloudfront-signer";
import { encodeKeyPath } from "../layout.ts";

/**
 * CloudFront's "maximum cacheable file size per HTTP GET response" (Quotas, CloudFront Developer Guide):
 * 50 GB. Larger objects get the S3 presigned URL instead.
 */
export const cloudfrontMaxBytes = 50 * 1024 ** 3;

export interface CloudfrontKey {
  /** The CloudFront public key's id (aws_cloudfront_public_key), in the distribution's trusted key group. */
  keyPairId: string;
  /** Its RSA private key (PEM), from an SSM SecureString only the API function can read. */
  privateKey: string;
}

/**
 * Signs `${base}/${key}` (the object's key is its path on the distribution) until now + ttlS; null for an
 * object too large for CloudFront. Range requests and the object's own Content-Disposition pass through.
 */
export function cloudfrontSigner(o: { base: string; key: CloudfrontKey; now?: () => number }): (key: string, size: number, ttlS: number) => string | null {
  const now = o.now ?? Date.now;
  return (key, size, ttlS) => {
    if (size > cloudfrontMaxBytes) return null;
    const url = `${o.base.replace(/\/+$/, "")}/${encodeKeyPath(key)}`;
    return getSignedUrl({ url, keyPairId: o.key.keyPairId, privateKey: o.key.privateKey, dateLessThan: new Date(now() + ttlS * 1000) });
  };
}
