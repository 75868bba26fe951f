// The page's CloudFront distribution as stacks/page-front.ts synthesizes it for AWS, in the SDK's shapes:
// what the tests' CloudFront stand-in routes by (so it follows the stack's behaviours), and where the
// rehearsal takes the response headers policy from (moto has none, so the stack applied there has none).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Testing } from "cdktf";
import type { DistributionConfig, OriginAccessControlConfig, ResponseHeadersPolicyConfig } from "@aws-sdk/client-cloudfront";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function/index.js";
import { LambdaFunctionUrl } from "@cdktf/provider-aws/lib/lambda-function-url/index.js";
import { pageFiles } from "../../ingest/public-paths.ts";
import { distributionConfigFromTerraform, headersPolicyFromTerraform } from "./cloudfront-routes.ts";
import { CoreResources } from "../../stacks/core.ts";
import { DownloadKeys, PageFront } from "../../stacks/page-front.ts";

export interface SynthesizedFront {
  /** Origins' domains and OAC ids are terraform references ("${aws_s3_bucket....bucket_regional_domain_name}"). */
  config: DistributionConfig;
  /** By reference to each OAC's id, as the origins name them. */
  accessControls: Record<string, OriginAccessControlConfig>;
  headersPolicy: ResponseHeadersPolicyConfig;
  /** The page bucket's, the API function URL's and the public qBittorrent function URL's origin domains (references). */
  pageDomain: string;
  ingestDomain: string;
  qbittorrentDomain: string;
  /** With a downloads key: the files bucket's origin domain, and the trusted key group and its one public key (references). */
  downloads?: { filesDomain: string; keyGroup: string; publicKey: string };
}

type Resources = Record<string, Record<string, Record<string, unknown>>>;

/** Synthesizes a PageFront (as AWS mode deploys it: with its headers policy; with downloads if given a public key) and reads its distribution. */
export function synthesizePageFront(storageOrigin: string, o: { downloadsPublicKey?: string } = {}): SynthesizedFront {
  // The page's files are an asset: synth wants them present, not built.
  const web = mkdtempSync(join(tmpdir(), "t2s-front-synth-"));
  try {
    for (const [key] of pageFiles) writeFileSync(join(web, key), "");
    const json = Testing.synthScope((scope) => {
      const ingest = new LambdaFunction(scope, "ingest", { functionName: "t2s-ingest", role: "arn:aws:iam::123456789012:role/t2s", filename: "ingest.zip", handler: "index.handler", runtime: "nodejs22.x" });
      const url = new LambdaFunctionUrl(scope, "url", { functionName: ingest.functionName, authorizationType: "AWS_IAM" });
      const qbt = new LambdaFunction(scope, "qbt", { functionName: "t2s-ingest-qbt", role: "arn:aws:iam::123456789012:role/t2s-qbt", filename: "ingest.zip", handler: "index.qbittorrentHandler", runtime: "nodejs22.x" });
      const qbtUrl = new LambdaFunctionUrl(scope, "qbt-url", { functionName: qbt.functionName, authorizationType: "NONE" });
      const downloads = o.downloadsPublicKey
        ? { core: new CoreResources(scope, "core", { name: "t2s", retentionDays: 7 }), keys: new DownloadKeys(scope, "downloads", { name: "t2s", publicKeyPem: o.downloadsPublicKey, privateKeyParam: "/t2s/cloudfront-private-key" }) }
        : undefined;
      new PageFront(scope, "front", { name: "t2s", webDir: web, ingest, ingestUrl: url, qbittorrentUrl: qbtUrl, storageOrigin, ...(downloads ? { downloads } : {}) });
    });
    const r = (JSON.parse(json) as { resource: Resources }).resource;
    const only = (type: string) => Object.values(r[type] ?? {})[0]!;
    const config = distributionConfigFromTerraform(only("aws_cloudfront_distribution"));
    const accessControls: Record<string, OriginAccessControlConfig> = {};
    for (const [name, o] of Object.entries(r.aws_cloudfront_origin_access_control ?? {})) {
      accessControls[`\${aws_cloudfront_origin_access_control.${name}.id}`] = {
        Name: String(o.name), OriginAccessControlOriginType: o.origin_access_control_origin_type as "s3" | "lambda",
        SigningBehavior: o.signing_behavior as "always", SigningProtocol: o.signing_protocol as "sigv4",
      };
    }
    const domainOf = (id: string) => config.Origins!.Items!.find((x) => x.Id === id)!.DomainName!;
    const files = config.CacheBehaviors!.Items!.find((b) => b.TrustedKeyGroups?.Enabled);
    const ref = (type: string) => `\${${type}.${Object.keys(r[type]!)[0]}.id}`;
    return {
      config, accessControls, headersPolicy: headersPolicyFromTerraform(only("aws_cloudfront_response_headers_policy")),
      pageDomain: domainOf(config.DefaultCacheBehavior!.TargetOriginId!), ingestDomain: domainOf("ingest"), qbittorrentDomain: domainOf("qbittorrent"),
      ...(files ? { downloads: { filesDomain: domainOf(files.TargetOriginId!), keyGroup: ref("aws_cloudfront_key_group"), publicKey: ref("aws_cloudfront_public_key") } } : {}),
    };
  } finally {
    rmSync(web, { recursive: true, force: true });
  }
}
