// What CloudFront decides for a viewer request, from a distribution's config in the shape
// GetDistributionConfig returns: which behaviour, whether the method is allowed, which origin, what
// reaches the origin, and which headers the response headers policy adds. Pure rules: the rehearsal's
// CloudFront stand-in (cloudfront.ts) and the tests' (test/support/cloudfront.ts) both route with these.
import type {
  CacheBehavior, DefaultCacheBehavior, DistributionConfig, Method, Origin, OriginAccessControlConfig, ReferrerPolicyList, ResponseHeadersPolicyConfig,
} from "@aws-sdk/client-cloudfront";
import { patternMatches } from "../../ingest/public-paths.ts";

export type Behavior = CacheBehavior | DefaultCacheBehavior;

/** AWS's managed origin request policies this stand-in knows (fixed ids, the same in every account). */
export const managedOriginRequestPolicies = {
  allViewer: "216adef6-5c7f-47e4-b989-5492eafa07d3",
  allViewerExceptHostHeader: "b689b0a8-53d0-40ab-baf2-68738e2966ac",
  corsS3Origin: "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf",
} as const;

/** AWS's managed cache policy that caches nothing (where AllViewer policies may forward Authorization). */
export const cachingDisabledPolicy = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";

/**
 * Whether a behaviour's path pattern matches a request path, as CloudFront does: case-sensitive, "*"
 * any run of characters ("/" included, or none), "?" exactly one, and a pattern without a leading "/"
 * as if it had one. `path` is the path alone, without the query string.
 */
export function pathPatternMatches(pattern: string, path: string): boolean {
  return patternMatches(pattern.startsWith("/") ? pattern : `/${pattern}`, path);
}

/** The behaviour for a request path: the first ordered behaviour whose pattern matches, else the default. */
export function behaviorFor(config: DistributionConfig, path: string): Behavior {
  const hit = (config.CacheBehaviors?.Items ?? []).find((b) => pathPatternMatches(b.PathPattern ?? "", path));
  if (hit) return hit;
  if (!config.DefaultCacheBehavior) throw new Error("the distribution has no default cache behaviour");
  return config.DefaultCacheBehavior;
}

/** What CloudFront does with a viewer request: forward it to an origin, or refuse it itself. */
export type Decision =
  | { kind: "forward"; behavior: Behavior; origin: Origin; path: string }
  | { kind: "refuse"; status: 403; reason: string };

/**
 * The decision for `method` on `target` (the viewer's path and query). `path` in a forward is the origin
 * path: the origin's OriginPath, then the request path, with DefaultRootObject for "/" (the behaviour
 * is still chosen by "/"). The query string is not part of it (see originRequestHeaders for what goes).
 */
export function decide(config: DistributionConfig, method: string, target: string): Decision {
  const path = target.split("?")[0]!;
  const behavior = behaviorFor(config, path);
  const allowed: string[] = behavior.AllowedMethods?.Items ?? ["GET", "HEAD"];
  if (!allowed.includes(method)) return { kind: "refuse", status: 403, reason: `${method} is not among the behaviour's allowed methods (${allowed.join(", ")})` };
  const origin = (config.Origins?.Items ?? []).find((o) => o.Id === behavior.TargetOriginId);
  if (!origin) throw new Error(`the behaviour's origin ${behavior.TargetOriginId} is not among the distribution's origins`);
  const root = config.DefaultRootObject;
  const originPath = (origin.OriginPath ?? "") + (path === "/" && root ? `/${root}` : path);
  return { kind: "forward", behavior, origin, path: originPath };
}

/** Parts of a distribution the stand-in does not model: it refuses to stand in for one that has them. */
export function unsupported(config: DistributionConfig, headersPolicy?: ResponseHeadersPolicyConfig): string[] {
  const out: string[] = [];
  if (config.CustomErrorResponses?.Quantity) out.push("custom error responses");
  if (config.OriginGroups?.Quantity) out.push("origin groups");
  for (const b of [config.DefaultCacheBehavior, ...(config.CacheBehaviors?.Items ?? [])]) {
    if (!b) continue;
    const where = "PathPattern" in b ? b.PathPattern : "the default behaviour";
    if (b.FunctionAssociations?.Quantity || b.LambdaFunctionAssociations?.Quantity) out.push(`functions on ${where}`);
    // Trusted key groups are modelled (cloudfront-signed.ts); an account's legacy key pairs are not.
    if (b.TrustedSigners?.Enabled) out.push(`trusted signers (an account's key pairs) on ${where}`);
    const policy = b.OriginRequestPolicyId;
    if (policy && !Object.values(managedOriginRequestPolicies).includes(policy as never)) out.push(`origin request policy ${policy} on ${where}`);
    if (b.ForwardedValues && !b.CachePolicyId) out.push(`legacy forwarded values on ${where}`);
  }
  if (headersPolicy?.CorsConfig) out.push("CORS in the response headers policy");
  return out;
}

/** Hop-by-hop headers (RFC 9110 7.6.1): never forwarded either way. */
export const hopByHop = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "proxy-authorization", "proxy-authenticate"]);

/** Viewer headers CloudFront passes whatever the policy says: range and conditional requests. */
const alwaysForwarded = ["range", "if-range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since"];

/**
 * The viewer headers (lower-case names) that reach the origin under the behaviour's origin request
 * policy, and whether the query string goes too. Without a policy (the managed cache policies here key on
 * no header, cookie or query string) only the headers CloudFront always passes go. Host is the origin's
 * (set by the caller). Authorization goes only under AllViewer or AllViewerExceptHostHeader on a
 * behaviour that caches nothing (CachingDisabled): else only a cache policy keying on it could forward it.
 * An origin access control that signs then replaces it (see signingOf).
 */
export function originRequestHeaders(behavior: Behavior, viewer: Record<string, string>): { headers: Record<string, string>; query: boolean } {
  const policy = behavior.OriginRequestPolicyId;
  const all = policy === managedOriginRequestPolicies.allViewer || policy === managedOriginRequestPolicies.allViewerExceptHostHeader;
  const named = policy === managedOriginRequestPolicies.corsS3Origin ? ["origin", "access-control-request-headers", "access-control-request-method"] : [];
  const authorization = all && behavior.CachePolicyId === cachingDisabledPolicy;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(viewer)) {
    if (name === "host" || (name === "authorization" && !authorization) || hopByHop.has(name)) continue;
    if (name === "authorization") {
      headers[name] = value;
      continue;
    }
    if (all || named.includes(name) || alwaysForwarded.includes(name)) headers[name] = value;
  }
  // The body's hash is the viewer's to give (a Lambda OAC signs with it): CloudFront passes it on.
  if (viewer["x-amz-content-sha256"] !== undefined) headers["x-amz-content-sha256"] = viewer["x-amz-content-sha256"];
  return { headers, query: all };
}

/** How CloudFront signs toward an origin: the service and region of the origin's domain. */
export interface Signing {
  service: "s3" | "lambda" | "mediastore" | "mediapackagev2";
  region: string;
  /** "no-override": a forwarded viewer Authorization goes as it is, unsigned. */
  yieldsToViewer?: true;
}

/**
 * The signing an origin gets from its origin access control, or null when it has none (or "never").
 * "always" replaces a forwarded viewer Authorization with its signature; "no-override" signs only when
 * none is forwarded.
 */
export function signingOf(origin: Origin, controls: Record<string, OriginAccessControlConfig>): Signing | null {
  const id = origin.OriginAccessControlId;
  if (!id) return null;
  const oac = controls[id];
  if (!oac) throw new Error(`the origin ${origin.Id} names the origin access control ${id}, which was not given`);
  if (oac.SigningBehavior === "never") return null;
  if (oac.SigningProtocol !== "sigv4") throw new Error(`origin access control ${id}: signing protocol ${oac.SigningProtocol} is not sigv4`);
  const service = oac.OriginAccessControlOriginType as Signing["service"];
  return { service, region: regionOf(origin.DomainName ?? "", service), ...(oac.SigningBehavior === "no-override" ? { yieldsToViewer: true as const } : {}) };
}

/** The region in an origin's domain: bucket.s3.<region>.amazonaws.com (bucket.s3.amazonaws.com is us-east-1), <id>.lambda-url.<region>.on.aws. */
export function regionOf(domain: string, service: string): string {
  const m = service === "lambda" ? /\.lambda-url\.([a-z0-9-]+)\.on\.aws$/.exec(domain)
    : /\.s3[.-]([a-z0-9-]+)\.amazonaws\.com$/.exec(domain) ?? /\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com$/.exec(domain);
  if (m) return m[1]!;
  if (service === "s3" && /\.s3\.amazonaws\.com$/.test(domain)) return "us-east-1";
  throw new Error(`no region in the ${service} origin domain ${domain}`);
}

/** A header a response headers policy sets: `override` replaces the origin's, else only fills its absence. */
export interface PolicyHeader {
  name: string;
  value: string;
  override: boolean;
}

/** The headers a response headers policy adds, and those it removes (lower-case names). */
export function policyHeaders(p: ResponseHeadersPolicyConfig): { set: PolicyHeader[]; remove: string[] } {
  const set: PolicyHeader[] = [];
  const s = p.SecurityHeadersConfig;
  const add = (name: string, value: string, override: boolean | undefined) => set.push({ name, value, override: override ?? false });
  if (s?.ContentSecurityPolicy) add("content-security-policy", s.ContentSecurityPolicy.ContentSecurityPolicy ?? "", s.ContentSecurityPolicy.Override);
  if (s?.ContentTypeOptions) add("x-content-type-options", "nosniff", s.ContentTypeOptions.Override);
  if (s?.FrameOptions) add("x-frame-options", s.FrameOptions.FrameOption ?? "", s.FrameOptions.Override);
  if (s?.ReferrerPolicy) add("referrer-policy", s.ReferrerPolicy.ReferrerPolicy ?? "", s.ReferrerPolicy.Override);
  const hsts = s?.StrictTransportSecurity;
  if (hsts) {
    add("strict-transport-security", [`max-age=${hsts.AccessControlMaxAgeSec}`, ...(hsts.IncludeSubdomains ? ["includeSubDomains"] : []), ...(hsts.Preload ? ["preload"] : [])].join("; "), hsts.Override);
  }
  const xss = s?.XSSProtection;
  if (xss) {
    const value = !xss.Protection ? "0" : ["1", ...(xss.ModeBlock ? ["mode=block"] : []), ...(xss.ReportUri ? [`report=${xss.ReportUri}`] : [])].join("; ");
    add("x-xss-protection", value, xss.Override);
  }
  for (const h of p.CustomHeadersConfig?.Items ?? []) add((h.Header ?? "").toLowerCase(), h.Value ?? "", h.Override);
  return { set, remove: (p.RemoveHeadersConfig?.Items ?? []).map((h) => (h.Header ?? "").toLowerCase()) };
}

/** The origin's response headers (lower-case names) with the policy applied. */
export function applyPolicy(headers: Record<string, string | string[]>, policy: { set: PolicyHeader[]; remove: string[] }): Record<string, string | string[]> {
  const out = { ...headers };
  for (const name of policy.remove) delete out[name];
  for (const h of policy.set) if (h.override || out[h.name] === undefined) out[h.name] = h.value;
  return out;
}

/** A terraform resource's attributes: synthesized (a nested block is an object) or in the state (a list). */
type Tf = Record<string, unknown>;
const list = (v: unknown): Tf[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v as Tf[] : [v as Tf]);
const one = (v: unknown): Tf | undefined => list(v)[0];
/** State records an unset id as "". */
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const items = <T>(xs: T[]) => ({ Quantity: xs.length, Items: xs });

function behaviorFromTerraform(b: Tf): CacheBehavior {
  const keyGroups = ((b.trusted_key_groups ?? []) as string[]);
  const signers = ((b.trusted_signers ?? []) as string[]);
  return {
    PathPattern: str(b.path_pattern),
    TargetOriginId: str(b.target_origin_id),
    ViewerProtocolPolicy: b.viewer_protocol_policy as CacheBehavior["ViewerProtocolPolicy"],
    AllowedMethods: { ...items((b.allowed_methods ?? []) as Method[]), CachedMethods: items((b.cached_methods ?? []) as Method[]) },
    CachePolicyId: str(b.cache_policy_id),
    OriginRequestPolicyId: str(b.origin_request_policy_id),
    ResponseHeadersPolicyId: str(b.response_headers_policy_id),
    TrustedKeyGroups: { Enabled: keyGroups.length > 0, ...items(keyGroups) },
    TrustedSigners: { Enabled: signers.length > 0, ...items(signers) },
    FunctionAssociations: { Quantity: list(b.function_association).length },
    LambdaFunctionAssociations: { Quantity: list(b.lambda_function_association).length },
    ...(list(b.forwarded_values).length ? { ForwardedValues: { QueryString: false, Cookies: { Forward: "none" } } } : {}),
  };
}

/**
 * An aws_cloudfront_distribution's terraform attributes (synthesized, or from the state) in
 * GetDistributionConfig's shape: the parts routing reads. Synthesized values may still be references
 * ("${aws_s3_bucket.x.bucket_regional_domain_name}"), which then stand for the domains and ids.
 */
export function distributionConfigFromTerraform(d: Tf): DistributionConfig {
  const { PathPattern: _default, ...defaultBehavior } = behaviorFromTerraform(one(d.default_cache_behavior) ?? {});
  const origins = list(d.origin).map((o): Origin => ({
    Id: str(o.origin_id), DomainName: str(o.domain_name), OriginPath: str(o.origin_path) ?? "",
    OriginAccessControlId: str(o.origin_access_control_id),
    CustomHeaders: items(list(o.custom_header).map((h) => ({ HeaderName: str(h.name), HeaderValue: String(h.value ?? "") }))),
  }));
  return {
    CallerReference: str(d.caller_reference) ?? "terraform", Comment: String(d.comment ?? ""), Enabled: d.enabled !== false,
    DefaultRootObject: str(d.default_root_object) ?? "",
    Origins: items(origins),
    DefaultCacheBehavior: defaultBehavior,
    CacheBehaviors: items(list(d.ordered_cache_behavior).map(behaviorFromTerraform)),
    CustomErrorResponses: { Quantity: list(d.custom_error_response).length },
    OriginGroups: { Quantity: list(d.origin_group).length },
  };
}

/** An aws_cloudfront_response_headers_policy's terraform attributes in GetResponseHeadersPolicy's shape. */
export function headersPolicyFromTerraform(p: Tf): ResponseHeadersPolicyConfig {
  const s = one(p.security_headers_config);
  const csp = one(s?.content_security_policy);
  const cto = one(s?.content_type_options);
  const fo = one(s?.frame_options);
  const rp = one(s?.referrer_policy);
  const hsts = one(s?.strict_transport_security);
  const xss = one(s?.xss_protection);
  const flag = (v: unknown) => v === true;
  return {
    Name: String(p.name ?? ""),
    SecurityHeadersConfig: {
      ...(csp ? { ContentSecurityPolicy: { ContentSecurityPolicy: String(csp.content_security_policy), Override: flag(csp.override) } } : {}),
      ...(cto ? { ContentTypeOptions: { Override: flag(cto.override) } } : {}),
      ...(fo ? { FrameOptions: { FrameOption: fo.frame_option as "DENY" | "SAMEORIGIN", Override: flag(fo.override) } } : {}),
      ...(rp ? { ReferrerPolicy: { ReferrerPolicy: rp.referrer_policy as ReferrerPolicyList, Override: flag(rp.override) } } : {}),
      ...(hsts ? { StrictTransportSecurity: {
        AccessControlMaxAgeSec: Number(hsts.access_control_max_age_sec), IncludeSubdomains: flag(hsts.include_subdomains), Preload: flag(hsts.preload), Override: flag(hsts.override),
      } } : {}),
      ...(xss ? { XSSProtection: { Protection: flag(xss.protection), ModeBlock: flag(xss.mode_block), ReportUri: str(xss.report_uri), Override: flag(xss.override) } } : {}),
    },
    CustomHeadersConfig: items(list(one(p.custom_headers_config)?.items).map((h) => ({ Header: String(h.header), Value: String(h.value), Override: flag(h.override) }))),
    RemoveHeadersConfig: items(list(one(p.remove_headers_config)?.items).map((h) => ({ Header: String(h.header) }))),
    ...(one(p.cors_config) ? { CorsConfig: {} as ResponseHeadersPolicyConfig["CorsConfig"] } : {}),
  };
}
