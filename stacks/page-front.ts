// The front door of AWS mode: one CloudFront distribution, HTTPS only, serving
// - the page's static files from a private bucket (Block Public Access; read only by this
//   distribution, through origin access control), and
// - ingest's public paths (ingest/public-paths.ts) from the ingest function URL, whose auth is AWS_IAM: only this
//   distribution may call it (OAC of origin type "lambda", which SigV4-signs each origin request),
// - but /qbittorrent/* from the public qBittorrent function's URL (auth NONE), with no OAC: Sonarr and
//   Radarr send neither a body hash nor anything but their own Authorization, which reaches the function
//   (AllViewerExceptHostHeader forwards it where caching is disabled). That function answers the
//   qBittorrent API alone, each call but auth/login behind its SID cookie or the token.
// - with a downloads key (DownloadKeys), the files bucket's files/ under /files/*, for signed URLs only
//   (a trusted key group), through its own OAC: /d/ and /zip/ redirect there, so downloads leave AWS
//   through CloudFront (its first TB a month is free; S3 → CloudFront is free).
// One origin for page and API, so the SameSite=Strict session cookie just works. Nothing ingest
// answers is cached. A response headers policy adds the page's CSP and the other security headers.
//
// What OAC for Lambda means for clients: CloudFront signs with the Authorization header, so a viewer's
// `Authorization: Bearer` cannot reach the function; API clients send the token in X-T2S-Token, and a
// PUT/POST/PATCH body must come with its SHA-256 in x-amz-content-sha256 (the page computes it with
// WebCrypto; the bot's ingest client with node:crypto).
import { AssetType, Fn, TerraformAsset } from "cdktf";
import { Construct } from "constructs";
import { CloudfrontDistribution } from "@cdktf/provider-aws/lib/cloudfront-distribution/index.js";
import { CloudfrontKeyGroup } from "@cdktf/provider-aws/lib/cloudfront-key-group/index.js";
import { CloudfrontPublicKey } from "@cdktf/provider-aws/lib/cloudfront-public-key/index.js";
import type { CoreResources } from "./core.ts";
import { CloudfrontOriginAccessControl } from "@cdktf/provider-aws/lib/cloudfront-origin-access-control/index.js";
import { CloudfrontResponseHeadersPolicy } from "@cdktf/provider-aws/lib/cloudfront-response-headers-policy/index.js";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission/index.js";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket/index.js";
import { S3BucketOwnershipControls } from "@cdktf/provider-aws/lib/s3-bucket-ownership-controls/index.js";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy/index.js";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block/index.js";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration/index.js";
import { S3Object } from "@cdktf/provider-aws/lib/s3-object/index.js";
import type { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function/index.js";
import type { LambdaFunctionUrl } from "@cdktf/provider-aws/lib/lambda-function-url/index.js";
import { hstsMaxAgeS, pageCsp, permissionsPolicy, referrerPolicy } from "../lib/page-headers.ts";
import { ingestPaths, methodsOf, pageFiles, type PublicPath } from "../ingest/public-paths.ts";

/** A function URL (https://<id>.lambda-url.<region>.on.aws/) → its host name, an origin's domain. */
const urlHost = (u: LambdaFunctionUrl) => Fn.replace(Fn.replace(u.functionUrl, "https://", ""), "/", "");
const lambdaOrigin = { httpPort: 80, httpsPort: 443, originProtocolPolicy: "https-only", originSslProtocols: ["TLSv1.2"], originReadTimeout: 30 };

/** AWS's managed CloudFront policies (fixed ids, the same in every account). */
export const managedPolicies = {
  cachingOptimized: "658327ea-f89d-4fab-a63d-7e88639e58f6",
  cachingDisabled: "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
  /**
   * Every viewer header but Host, cookie and query string. Authorization too where the cache policy is
   * CachingDisabled (else only a cache policy can forward it); an OAC that signs replaces it.
   */
  allViewerExceptHostHeader: "b689b0a8-53d0-40ab-baf2-68738e2966ac",
} as const;

/**
 * The key pair that signs download URLs: the public key and its key group here; the private key is an SSM
 * SecureString the owner puts (never through terraform), which only the API function may read.
 */
export class DownloadKeys extends Construct {
  readonly publicKey: CloudfrontPublicKey;
  readonly keyGroup: CloudfrontKeyGroup;
  readonly privateKeyParam: string;

  constructor(scope: Construct, id: string, p: { name: string; publicKeyPem: string; privateKeyParam: string }) {
    super(scope, id);
    // namePrefix: a rotated key is a new resource, created before the old one goes.
    this.publicKey = new CloudfrontPublicKey(this, "public-key", {
      namePrefix: `${p.name}-downloads-`, comment: "Signs /d/ and /zip/ download URLs", encodedKey: p.publicKeyPem,
      lifecycle: { createBeforeDestroy: true },
    });
    this.keyGroup = new CloudfrontKeyGroup(this, "key-group", { name: `${p.name}-downloads`, items: [this.publicKey.id], comment: "Download URLs' signers" });
    this.privateKeyParam = p.privateKeyParam;
  }
}

export interface PageFrontProps {
  name: string;
  /** The built page (index.html, app.js, app.css). */
  webDir: string;
  ingest: LambdaFunction;
  ingestUrl: LambdaFunctionUrl;
  /** The public qBittorrent function's URL (auth NONE): the origin of the paths whose origin is "qbittorrent". */
  qbittorrentUrl: LambdaFunctionUrl;
  /** Where presigned download links point (the files bucket's endpoint): the CSP lets media load from it. */
  storageOrigin: string;
  /** Against moto only: no TLS-only bucket policy (moto cannot evaluate aws:SecureTransport). */
  tlsOnly?: boolean;
  /** Against moto only: no response headers policy (moto 5.2 has no CreateResponseHeadersPolicy). */
  headersPolicy?: boolean;
  /** Downloads through this distribution: the files bucket (the core's) as an origin for signed URLs. */
  downloads?: { core: CoreResources; keys: DownloadKeys };
}

export class PageFront extends Construct {
  readonly bucket: S3Bucket;
  readonly distribution: CloudfrontDistribution;
  readonly headers: CloudfrontResponseHeadersPolicy | undefined;
  readonly s3Access: CloudfrontOriginAccessControl;
  readonly lambdaAccess: CloudfrontOriginAccessControl;
  readonly filesAccess: CloudfrontOriginAccessControl | undefined;
  readonly url: string;

  constructor(scope: Construct, id: string, p: PageFrontProps) {
    super(scope, id);
    this.bucket = new S3Bucket(this, "bucket", { bucketPrefix: `${p.name}-page-`, forceDestroy: true });
    new S3BucketPublicAccessBlock(this, "public-access", {
      bucket: this.bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true,
    });
    new S3BucketOwnershipControls(this, "ownership", { bucket: this.bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } });
    new S3BucketServerSideEncryptionConfigurationA(this, "encryption", {
      bucket: this.bucket.id, rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }],
    });
    const web = new TerraformAsset(this, "web", { path: p.webDir, type: AssetType.DIRECTORY });
    for (const [key, contentType] of pageFiles) {
      new S3Object(this, `file-${key.replace(/\W/g, "-")}`, {
        bucket: this.bucket.id, key, source: `${web.path}/${key}`, etag: Fn.filemd5(`${web.path}/${key}`),
        contentType,
        // CloudFront revalidates with the bucket, so a deploy shows at once.
        cacheControl: "no-cache",
      });
    }

    this.s3Access = new CloudfrontOriginAccessControl(this, "s3-access", {
      name: `${p.name}-page`, description: "The page bucket, read by CloudFront only",
      originAccessControlOriginType: "s3", signingBehavior: "always", signingProtocol: "sigv4",
    });
    this.lambdaAccess = new CloudfrontOriginAccessControl(this, "lambda-access", {
      name: `${p.name}-ingest`, description: "The ingest function URL (AWS_IAM), called by CloudFront only",
      originAccessControlOriginType: "lambda", signingBehavior: "always", signingProtocol: "sigv4",
    });

    const dl = p.downloads;
    this.filesAccess = dl && new CloudfrontOriginAccessControl(this, "files-access", {
      name: `${p.name}-files`, description: "The files bucket's files/, read by CloudFront only, for signed download URLs",
      originAccessControlOriginType: "s3", signingBehavior: "always", signingProtocol: "sigv4",
    });

    this.headers = p.headersPolicy === false ? undefined : new CloudfrontResponseHeadersPolicy(this, "headers", {
      name: `${p.name}-security-headers`,
      comment: "The page's CSP and security headers (the same ingest sends in local mode)",
      securityHeadersConfig: {
        // Downloads through CloudFront come from this origin ('self'); else from the bucket's endpoint.
        contentSecurityPolicy: { contentSecurityPolicy: pageCsp(dl ? null : p.storageOrigin), override: true },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: "DENY", override: true },
        referrerPolicy: { referrerPolicy, override: true },
        strictTransportSecurity: { accessControlMaxAgeSec: hstsMaxAgeS, includeSubdomains: true, preload: false, override: true },
      },
      customHeadersConfig: { items: [{ header: "Permissions-Policy", value: permissionsPolicy, override: true }] },
    });

    const headers = this.headers ? { responseHeadersPolicyId: this.headers.id } : {};
    const pageOrigin = "page";
    const apiOrigin = "ingest";
    const filesOrigin = "files";
    const qbtOrigin = "qbittorrent";
    const apiBehavior = ({ pattern, methods, origin }: PublicPath) => ({
      pathPattern: pattern,
      targetOriginId: origin === "qbittorrent" ? qbtOrigin : apiOrigin,
      viewerProtocolPolicy: "redirect-to-https",
      allowedMethods: methodsOf[methods],
      cachedMethods: ["GET", "HEAD"],
      cachePolicyId: managedPolicies.cachingDisabled,
      originRequestPolicyId: managedPolicies.allViewerExceptHostHeader,
      ...headers,
      compress: true,
    });
    this.distribution = new CloudfrontDistribution(this, "distribution", {
      enabled: true,
      comment: `${p.name}: the page and the API`,
      defaultRootObject: "index.html",
      isIpv6Enabled: true,
      httpVersion: "http2and3",
      priceClass: "PriceClass_100",
      origin: [
        { originId: pageOrigin, domainName: this.bucket.bucketRegionalDomainName, originAccessControlId: this.s3Access.id },
        {
          originId: apiOrigin,
          domainName: urlHost(p.ingestUrl),
          originAccessControlId: this.lambdaAccess.id,
          customOriginConfig: lambdaOrigin,
        },
        // No origin access control: the function URL's auth is NONE, and the viewer's Authorization must get through.
        { originId: qbtOrigin, domainName: urlHost(p.qbittorrentUrl), customOriginConfig: lambdaOrigin },
        ...(dl ? [{ originId: filesOrigin, domainName: dl.core.bucket.bucketRegionalDomainName, originAccessControlId: this.filesAccess!.id }] : []),
      ],
      defaultCacheBehavior: {
        targetOriginId: pageOrigin,
        viewerProtocolPolicy: "redirect-to-https",
        allowedMethods: ["GET", "HEAD"],
        cachedMethods: ["GET", "HEAD"],
        cachePolicyId: managedPolicies.cachingOptimized,
        ...headers,
        compress: true,
      },
      orderedCacheBehavior: [
        // The path is the object's key. Signed URLs only; not cached (a deleted job's files must not
        // outlive it at an edge), so Range requests go to S3 as they are; the object's own
        // Content-Disposition (the original name) comes with it.
        ...(dl ? [{
          pathPattern: "/files/*",
          targetOriginId: filesOrigin,
          viewerProtocolPolicy: "https-only",
          allowedMethods: ["GET", "HEAD"],
          cachedMethods: ["GET", "HEAD"],
          cachePolicyId: managedPolicies.cachingDisabled,
          trustedKeyGroups: [dl.keys.keyGroup.id],
          compress: false,
        }] : []),
        ...ingestPaths.map(apiBehavior),
      ],
      restrictions: { geoRestriction: { restrictionType: "none" } },
      viewerCertificate: { cloudfrontDefaultCertificate: true },
    });
    this.url = `https://${this.distribution.domainName}`;
    dl?.core.allowInBucketPolicy({
      Sid: "CloudFrontReadsFiles", Effect: "Allow", Principal: { Service: "cloudfront.amazonaws.com" },
      Action: "s3:GetObject", Resource: `${dl.core.bucket.arn}/files/*`,
      Condition: { StringEquals: { "AWS:SourceArn": this.distribution.arn } },
    });

    // The page bucket: objects readable by this distribution only, and by TLS only.
    new S3BucketPolicy(this, "policy", {
      bucket: this.bucket.id,
      policy: Fn.jsonencode({
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "CloudFrontReadsThePage", Effect: "Allow", Principal: { Service: "cloudfront.amazonaws.com" },
            Action: "s3:GetObject", Resource: `${this.bucket.arn}/*`,
            Condition: { StringEquals: { "AWS:SourceArn": this.distribution.arn } },
          },
          ...(p.tlsOnly ?? true ? [{
            Sid: "TlsOnly", Effect: "Deny", Principal: "*", Action: "s3:*", Resource: [this.bucket.arn, `${this.bucket.arn}/*`],
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          }] : []),
        ],
      }),
    });

    // The ingest URL (AWS_IAM) may be called by this distribution only: no public grant.
    // Since October 2025 a function URL needs lambda:InvokeFunction beside lambda:InvokeFunctionUrl.
    new LambdaPermission(this, "cloudfront-invoke-url", {
      statementId: "CloudFrontInvokeFunctionUrl", action: "lambda:InvokeFunctionUrl", functionName: p.ingest.functionName,
      principal: "cloudfront.amazonaws.com", sourceArn: this.distribution.arn, functionUrlAuthType: "AWS_IAM",
    });
    new LambdaPermission(this, "cloudfront-invoke", {
      statementId: "CloudFrontInvokeFunction", action: "lambda:InvokeFunction", functionName: p.ingest.functionName,
      principal: "cloudfront.amazonaws.com", sourceArn: this.distribution.arn,
    });
  }
}
