// CloudFront's routing rules as the stand-ins apply them (scripts/rehearse/cloudfront-routes.ts): which
// behaviour a path takes, which methods it refuses, which origin, and what the origin sees.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CacheBehavior, DistributionConfig, Method } from "@aws-sdk/client-cloudfront";
import {
  applyPolicy, behaviorFor, cachingDisabledPolicy, decide, distributionConfigFromTerraform, headersPolicyFromTerraform, managedOriginRequestPolicies, originRequestHeaders, pathPatternMatches, policyHeaders, regionOf, signingOf, unsupported,
} from "../../scripts/rehearse/cloudfront-routes.ts";

const methods = (...items: Method[]) => ({ Quantity: items.length, Items: items });
const behavior = (PathPattern: string, TargetOriginId: string, ...allowed: Method[]): CacheBehavior => ({
  PathPattern, TargetOriginId, ViewerProtocolPolicy: "redirect-to-https", AllowedMethods: methods(...(allowed.length ? allowed : ["GET", "HEAD"] as Method[])),
});
const config = (behaviors: CacheBehavior[], extra: Partial<DistributionConfig> = {}): DistributionConfig => ({
  CallerReference: "r", Comment: "", Enabled: true, DefaultRootObject: "index.html",
  Origins: { Quantity: 3, Items: [
    { Id: "page", DomainName: "page.s3.us-east-1.amazonaws.com", OriginAccessControlId: "OAC-S3" },
    { Id: "ingest", DomainName: "abc.lambda-url.eu-west-3.on.aws", OriginAccessControlId: "OAC-L" },
    { Id: "other", DomainName: "other.example.com", OriginPath: "/base" },
  ] },
  DefaultCacheBehavior: { TargetOriginId: "page", ViewerProtocolPolicy: "redirect-to-https", AllowedMethods: methods("GET", "HEAD") },
  CacheBehaviors: { Quantity: behaviors.length, Items: behaviors },
  ...extra,
});
const originOf = (c: DistributionConfig, target: string, method = "GET") => {
  const d = decide(c, method, target);
  return d.kind === "forward" ? `${d.origin.Id} ${d.path}` : `${d.status}`;
};

describe("CloudFront path patterns", () => {
  it("take '*' as any run of characters, '/' and nothing included", () => {
    assert.ok(pathPatternMatches("/zip/*", "/zip/abc"));
    assert.ok(pathPatternMatches("/zip/*", "/zip/"));
    assert.ok(pathPatternMatches("/zip/*", "/zip/a/b/c.zip"));
    assert.ok(pathPatternMatches("*.jpg", "/a/b.jpg"));
    assert.ok(pathPatternMatches("/a*b", "/ab"));
    assert.ok(!pathPatternMatches("/zip/*", "/zip"));
    assert.ok(!pathPatternMatches("/zip/*", "/zipper"));
  });
  it("take '?' as exactly one character", () => {
    assert.ok(pathPatternMatches("/d?", "/d1"));
    assert.ok(pathPatternMatches("/d?", "/d/"));
    assert.ok(!pathPatternMatches("/d?", "/d"));
    assert.ok(!pathPatternMatches("/d?", "/d12"));
  });
  it("are case-sensitive", () => {
    assert.ok(!pathPatternMatches("/api/*", "/API/jobs"));
    assert.ok(!pathPatternMatches("/healthz", "/Healthz"));
  });
  it("read a pattern without a leading '/' as if it had one", () => {
    assert.ok(pathPatternMatches("api/*", "/api/jobs"));
    assert.ok(pathPatternMatches("healthz", "/healthz"));
  });
  it("match the rest of the pattern literally", () => {
    assert.ok(pathPatternMatches("/a.b+(c)", "/a.b+(c)"));
    assert.ok(!pathPatternMatches("/a.b", "/axb"));
  });
});

describe("CloudFront behaviours", () => {
  it("go to the first ordered behaviour that matches, in order, else the default", () => {
    const first = behavior("/api/special", "other");
    const second = behavior("/api/*", "ingest");
    const c = config([first, second]);
    assert.equal(behaviorFor(c, "/api/special"), first);
    assert.equal(behaviorFor(c, "/api/jobs"), second);
    assert.equal(behaviorFor(config([second, first]), "/api/special"), second, "order, not specificity, decides");
    assert.equal(behaviorFor(c, "/app.js"), c.DefaultCacheBehavior);
  });
  it("leave the query string out of the match", () => {
    const c = config([behavior("/healthz", "ingest")]);
    assert.equal(originOf(c, "/healthz?x=/api/1"), "ingest /healthz");
    assert.equal(originOf(config([behavior("*.js", "other")]), "/a?b=c.js"), "page /a", "a pattern never sees the query");
  });
  it("serve the default root object for '/' only, from the behaviour '/' takes", () => {
    const c = config([behavior("/api/*", "ingest")]);
    assert.equal(originOf(c, "/"), "page /index.html");
    assert.equal(originOf(c, "/?a=1"), "page /index.html");
    assert.equal(originOf(c, "/api/"), "ingest /api/", "not for a folder");
    assert.equal(originOf(config([], { DefaultRootObject: "" }), "/"), "page /");
  });
  it("put the origin's path first", () => {
    assert.equal(originOf(config([behavior("/x/*", "other")]), "/x/1"), "other /base/x/1");
  });
  it("refuse a method the behaviour does not allow with 403", () => {
    const c = config([behavior("/api/*", "ingest", "GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"), behavior("/zip/*", "ingest")]);
    assert.equal(originOf(c, "/api/jobs", "POST"), "ingest /api/jobs");
    assert.equal(originOf(c, "/zip/1", "HEAD"), "ingest /zip/1");
    assert.equal(originOf(c, "/zip/1", "POST"), "403");
    assert.equal(originOf(c, "/index.html", "PUT"), "403");
    assert.equal(originOf(c, "/index.html", "DELETE"), "403");
    const refused = decide(c, "POST", "/zip/1");
    assert.ok(refused.kind === "refuse" && /GET, HEAD/.test(refused.reason));
  });
  it("fail loudly on a behaviour whose origin is missing", () => {
    assert.throws(() => decide(config([behavior("/x", "gone")]), "GET", "/x"), /gone/);
  });
});

describe("what reaches the origin", () => {
  const viewer = {
    host: "d1.cloudfront.net", authorization: "Bearer t", cookie: "s=1", "x-t2s-token": "t", connection: "keep-alive",
    range: "bytes=0-1", "x-amz-content-sha256": "ab", "user-agent": "ua",
  };
  it("is every viewer header but Host, Authorization and hop-by-hop ones, and the query, under AllViewerExceptHostHeader", () => {
    const b = { ...behavior("/api/*", "ingest"), OriginRequestPolicyId: managedOriginRequestPolicies.allViewerExceptHostHeader };
    assert.deepEqual(originRequestHeaders(b, viewer), {
      headers: { cookie: "s=1", "x-t2s-token": "t", range: "bytes=0-1", "x-amz-content-sha256": "ab", "user-agent": "ua" }, query: true,
    });
  });
  it("is the viewer's Authorization too under AllViewerExceptHostHeader where the behaviour caches nothing, and not where it caches", () => {
    const b = { ...behavior("/qbittorrent/*", "other"), OriginRequestPolicyId: managedOriginRequestPolicies.allViewerExceptHostHeader };
    assert.equal(originRequestHeaders({ ...b, CachePolicyId: cachingDisabledPolicy }, viewer).headers.authorization, "Bearer t");
    assert.equal(originRequestHeaders({ ...b, OriginRequestPolicyId: managedOriginRequestPolicies.allViewer, CachePolicyId: cachingDisabledPolicy }, viewer).headers.authorization, "Bearer t");
    assert.equal(originRequestHeaders({ ...b, CachePolicyId: "658327ea-f89d-4fab-a63d-7e88639e58f6" }, viewer).headers.authorization, undefined, "CachingOptimized");
    assert.equal(originRequestHeaders({ ...behavior("/x", "other"), CachePolicyId: cachingDisabledPolicy }, viewer).headers.authorization, undefined, "no origin request policy");
  });
  it("is only range, conditionals and the body hash without an origin request policy", () => {
    assert.deepEqual(originRequestHeaders(behavior("/x", "page"), viewer), { headers: { range: "bytes=0-1", "x-amz-content-sha256": "ab" }, query: false });
  });
  it("is signed for the origin's service and region when it has an origin access control", () => {
    const controls = {
      "OAC-S3": { Name: "s3", OriginAccessControlOriginType: "s3" as const, SigningBehavior: "always" as const, SigningProtocol: "sigv4" as const },
      "OAC-L": { Name: "l", OriginAccessControlOriginType: "lambda" as const, SigningBehavior: "no-override" as const, SigningProtocol: "sigv4" as const },
    };
    const [page, ingest, other] = config([]).Origins!.Items!;
    assert.deepEqual(signingOf(page!, controls), { service: "s3", region: "us-east-1" });
    assert.deepEqual(signingOf(ingest!, controls), { service: "lambda", region: "eu-west-3", yieldsToViewer: true });
    assert.deepEqual(signingOf(ingest!, { "OAC-L": { ...controls["OAC-L"], SigningBehavior: "always" } }), { service: "lambda", region: "eu-west-3" });
    assert.equal(signingOf(other!, controls), null);
    assert.equal(signingOf(page!, { "OAC-S3": { ...controls["OAC-S3"], SigningBehavior: "never" } }), null);
    assert.throws(() => signingOf(page!, {}), /OAC-S3/);
  });
  it("names the region of S3 and function URL domains", () => {
    assert.equal(regionOf("b.s3.eu-central-1.amazonaws.com", "s3"), "eu-central-1");
    assert.equal(regionOf("b.s3.amazonaws.com", "s3"), "us-east-1");
    assert.equal(regionOf("b.s3-us-west-2.amazonaws.com", "s3"), "us-west-2");
    assert.equal(regionOf("x.lambda-url.ap-southeast-2.on.aws", "lambda"), "ap-southeast-2");
    assert.throws(() => regionOf("example.com", "s3"));
  });
});

describe("the response headers policy", () => {
  const policy = policyHeaders({
    Name: "p",
    SecurityHeadersConfig: {
      ContentSecurityPolicy: { ContentSecurityPolicy: "default-src 'none'", Override: true },
      ContentTypeOptions: { Override: true },
      FrameOptions: { FrameOption: "DENY", Override: false },
      ReferrerPolicy: { ReferrerPolicy: "no-referrer", Override: true },
      StrictTransportSecurity: { AccessControlMaxAgeSec: 63072000, IncludeSubdomains: true, Preload: false, Override: true },
    },
    CustomHeadersConfig: { Quantity: 1, Items: [{ Header: "Permissions-Policy", Value: "camera=()", Override: true }] },
    RemoveHeadersConfig: { Quantity: 1, Items: [{ Header: "Server" }] },
  });
  it("overrides the origin's headers where it says so, and fills in the others", () => {
    const out = applyPolicy({ "content-security-policy": "x", "x-frame-options": "SAMEORIGIN", server: "AmazonS3", etag: "e" }, policy);
    assert.deepEqual(out, {
      "content-security-policy": "default-src 'none'", "x-content-type-options": "nosniff", "x-frame-options": "SAMEORIGIN", "referrer-policy": "no-referrer",
      "strict-transport-security": "max-age=63072000; includeSubDomains", "permissions-policy": "camera=()", etag: "e",
    });
    assert.equal(applyPolicy({}, policy)["x-frame-options"], "DENY");
  });
});

describe("what the stand-in does not model", () => {
  it("is named, so a rehearsal never passes on a distribution it does not understand", () => {
    assert.deepEqual(unsupported(config([behavior("/api/*", "ingest")])), []);
    const keyGroups = { ...behavior("/files/*", "page"), TrustedKeyGroups: { Enabled: true, Quantity: 1, Items: ["k"] } };
    const signers = { ...behavior("/old/*", "page"), TrustedSigners: { Enabled: true, Quantity: 1, Items: ["self"] } };
    const custom = { ...behavior("/x", "page"), OriginRequestPolicyId: "custom-id" };
    assert.deepEqual(unsupported(config([keyGroups, signers, custom], { CustomErrorResponses: { Quantity: 1, Items: [{ ErrorCode: 404 }] } })),
      ["custom error responses", "trusted signers (an account's key pairs) on /old/*", "origin request policy custom-id on /x"]);
  });
});

describe("a distribution from terraform's state", () => {
  // The state's shape: nested blocks as lists, unset ids as "".
  const attributes = {
    default_root_object: "index.html",
    origin: [
      { origin_id: "page", domain_name: "p.s3.us-east-1.amazonaws.com", origin_access_control_id: "E1", origin_path: "", custom_header: [] },
      { origin_id: "ingest", domain_name: "x.lambda-url.us-east-1.on.aws", origin_access_control_id: "E2", origin_path: "", custom_header: [{ name: "X-Origin", value: "1" }] },
    ],
    default_cache_behavior: [{ target_origin_id: "page", allowed_methods: ["HEAD", "GET"], cached_methods: ["HEAD", "GET"], origin_request_policy_id: "", forwarded_values: [], trusted_key_groups: [] }],
    ordered_cache_behavior: [
      { path_pattern: "/zip/*", target_origin_id: "ingest", allowed_methods: ["HEAD", "GET"], origin_request_policy_id: managedOriginRequestPolicies.allViewerExceptHostHeader, forwarded_values: [] },
      { path_pattern: "/api/*", target_origin_id: "ingest", allowed_methods: ["GET", "POST"], origin_request_policy_id: managedOriginRequestPolicies.allViewerExceptHostHeader, forwarded_values: [] },
    ],
    custom_error_response: [],
  };
  const c = distributionConfigFromTerraform(attributes);
  it("routes as the config it records", () => {
    assert.equal(originOf(c, "/"), "page /index.html");
    assert.equal(originOf(c, "/zip/1"), "ingest /zip/1");
    assert.equal(originOf(c, "/zip/1", "POST"), "403");
    assert.equal(originOf(c, "/api/jobs", "POST"), "ingest /api/jobs");
    assert.equal(c.DefaultCacheBehavior!.OriginRequestPolicyId, undefined);
    assert.deepEqual(c.Origins!.Items![1]!.CustomHeaders!.Items, [{ HeaderName: "X-Origin", HeaderValue: "1" }]);
    assert.deepEqual(unsupported(c), []);
  });
  it("keeps each origin's access control", () => {
    assert.deepEqual(c.Origins!.Items!.map((o) => o.OriginAccessControlId), ["E1", "E2"]);
  });
  it("reads a response headers policy too", () => {
    const p = headersPolicyFromTerraform({
      name: "h",
      security_headers_config: [{ frame_options: [{ frame_option: "DENY", override: true }], strict_transport_security: [{ access_control_max_age_sec: 10, include_subdomains: true, preload: true, override: true }] }],
      custom_headers_config: [{ items: [{ header: "Permissions-Policy", value: "x", override: false }] }],
      cors_config: [],
    });
    assert.deepEqual(policyHeaders(p).set, [
      { name: "x-frame-options", value: "DENY", override: true },
      { name: "strict-transport-security", value: "max-age=10; includeSubDomains; preload", override: true },
      { name: "permissions-policy", value: "x", override: false },
    ]);
    assert.equal(p.CorsConfig, undefined);
  });
});
