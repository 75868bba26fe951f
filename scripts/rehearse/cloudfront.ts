// The CloudFront distribution as applied, on loopback: read back from the endpoint terraform applied to
// (moto), it routes each request by the applied behaviours (cloudfront-routes.ts) to the origin they
// name, mapped to a local server, and signs the origin request as the origin's access control says.
// An origin without one (the public qBittorrent function) gets the request unsigned, the viewer's
// Authorization with it where the behaviour forwards it. Bodies stream both ways: downloads can be large.
// A behaviour with trusted key groups takes signed URLs only, checked against the applied key groups'
// public keys (cloudfront-signed.ts). Not modelled: caching
// and compression (nothing ingest answers is cached), HTTPS and the viewer protocol policy (loopback is
// plain HTTP), and whatever `unsupported` names, which makes the stand-in refuse to start.
import { createHash, randomBytes } from "node:crypto";
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import { listenLoopback } from "../local/net.ts";
import { SignatureV4 } from "@smithy/signature-v4";
import {
  CloudFrontClient, GetDistributionCommand, GetDistributionConfigCommand, GetKeyGroupCommand, GetOriginAccessControlCommand, GetPublicKeyCommand, ListDistributionsCommand,
  type DistributionConfig, type OriginAccessControlConfig, type ResponseHeadersPolicyConfig,
} from "@aws-sdk/client-cloudfront";
import { parseQuery, Sha256, type Keys } from "../local/moto-guard.ts";
import { applyPolicy, decide, hopByHop, originRequestHeaders, policyHeaders, signingOf, unsupported, type Behavior, type Signing } from "./cloudfront-routes.ts";
import { checkSignedUrl, refusalXml } from "./cloudfront-signed.ts";

/** A distribution as applied: its config, the origin access controls its origins name and the key groups its behaviours trust (by id). */
export interface AppliedDistribution {
  id: string;
  domainName: string;
  config: DistributionConfig;
  accessControls: Record<string, OriginAccessControlConfig>;
  /** Key group id → its public keys (id → PEM). */
  keyGroups: Record<string, Record<string, string>>;
}

/**
 * Reads a distribution back from `endpoint` (moto): `id`, or the only one there. moto 5.2 keeps an
 * origin's OriginAccessControlId out of what it returns, so `originAccessControlIds` (origin id → OAC
 * id, from terraform's state: originAccessControlIdsFromState) fills in what the config lacks.
 */
export async function readDistribution(o: {
  endpoint: string; credentials: Keys; region?: string; id?: string; originAccessControlIds?: Record<string, string>;
}): Promise<AppliedDistribution> {
  const cf = new CloudFrontClient({ endpoint: o.endpoint, region: o.region ?? "us-east-1", credentials: o.credentials });
  try {
    let id = o.id;
    if (!id) {
      const items = (await cf.send(new ListDistributionsCommand({}))).DistributionList?.Items ?? [];
      if (items.length !== 1) throw new Error(`${items.length} distributions at ${o.endpoint}: name the one to stand in for`);
      id = items[0]!.Id!;
    }
    const { DistributionConfig: config } = await cf.send(new GetDistributionConfigCommand({ Id: id }));
    const { Distribution: d } = await cf.send(new GetDistributionCommand({ Id: id }));
    if (!config || !d?.DomainName) throw new Error(`distribution ${id} came back without its config or domain`);
    for (const origin of config.Origins?.Items ?? []) origin.OriginAccessControlId ||= o.originAccessControlIds?.[origin.Id ?? ""];
    const accessControls: Record<string, OriginAccessControlConfig> = {};
    for (const origin of config.Origins?.Items ?? []) {
      const oac = origin.OriginAccessControlId;
      if (!oac || accessControls[oac]) continue;
      const got = (await cf.send(new GetOriginAccessControlCommand({ Id: oac }))).OriginAccessControl?.OriginAccessControlConfig;
      if (!got) throw new Error(`origin access control ${oac} came back empty`);
      accessControls[oac] = got;
    }
    const keyGroups: AppliedDistribution["keyGroups"] = {};
    for (const group of [config.DefaultCacheBehavior, ...(config.CacheBehaviors?.Items ?? [])].flatMap((b) => b?.TrustedKeyGroups?.Items ?? [])) {
      if (keyGroups[group]) continue;
      const items = (await cf.send(new GetKeyGroupCommand({ Id: group }))).KeyGroup?.KeyGroupConfig?.Items ?? [];
      keyGroups[group] = {};
      for (const key of items) {
        const pem = (await cf.send(new GetPublicKeyCommand({ Id: key }))).PublicKey?.PublicKeyConfig?.EncodedKey;
        if (!pem) throw new Error(`public key ${key} of key group ${group} came back empty`);
        keyGroups[group][key] = pem;
      }
    }
    return { id, domainName: d.DomainName, config, accessControls, keyGroups };
  } finally {
    cf.destroy();
  }
}

/** Origin id → origin access control id of each distribution's origins, as terraform's state (format 4) records them. */
export function originAccessControlIdsFromState(state: { resources?: { type: string; instances: { attributes: Record<string, unknown> }[] }[] }, distributionId?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of state.resources ?? []) {
    if (r.type !== "aws_cloudfront_distribution") continue;
    for (const { attributes: a } of r.instances) {
      if (distributionId && a.id !== distributionId) continue;
      for (const origin of (a.origin ?? []) as { origin_id: string; origin_access_control_id?: string }[]) {
        if (origin.origin_access_control_id) out[origin.origin_id] = origin.origin_access_control_id;
      }
    }
  }
  return out;
}

export interface CloudFrontStandIn {
  /** The viewer's way in: http://127.0.0.1:<port>. */
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface CloudFrontOptions {
  /** keyGroups and domainName (what signed URLs name) are needed when a behaviour trusts key groups. */
  distribution: Pick<AppliedDistribution, "config" | "accessControls"> & Partial<Pick<AppliedDistribution, "keyGroups" | "domainName">>;
  /** Each origin's DomainName → the local base URL standing in for it (S3: path-style, with the bucket). */
  origins: Record<string, string>;
  /** What CloudFront signs origin requests with (the service principal's; a session token is signed too). */
  credentials: Keys & { sessionToken?: string };
  /**
   * The response headers policy: for the behaviours that name `id`, or every behaviour without an id
   * (moto has no such policies, so the stack applied there names none; take it from the synthesized stack).
   */
  headersPolicy?: { config: ResponseHeadersPolicyConfig; id?: string };
  port?: number;
}

/** SHA-256 of nothing: the payload hash of a request without a body. */
const emptyHash = createHash("sha256").digest("hex");

/** CloudFront's own answers (refusals, origin failures), with its wording. */
function answer(res: ServerResponse, status: number, message: string, headers: Record<string, string | string[]>): void {
  const body = `<html><body><h1>${status} ERROR</h1><h2>The request could not be satisfied.</h2>${message}</body></html>\n`;
  res.writeHead(status, { ...headers, "content-type": "text/html", "content-length": String(Buffer.byteLength(body)), "x-cache": "Error from cloudfront" }).end(body);
}

/** The viewer's headers, lower-case, a repeated one joined with commas (cookies with "; "). */
function viewerHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const k = req.rawHeaders[i]!.toLowerCase();
    const v = req.rawHeaders[i + 1]!;
    out[k] = k in out ? `${out[k]}${k === "cookie" ? "; " : ","}${v}` : v;
  }
  return out;
}

/** The Authorization and X-Amz-* headers CloudFront adds to sign an origin request with SigV4. */
async function sign(s: Signing, keys: Keys & { sessionToken?: string }, method: string, base: URL, path: string, query: string, payloadHash: string): Promise<Record<string, string>> {
  const signer = new SignatureV4({ credentials: keys, region: s.region, service: s.service, sha256: Sha256, applyChecksum: false, uriEscapePath: s.service !== "s3" });
  // Host, the date and the payload hash are signed (and the token): headers added on the way stay free to change.
  const signed = await signer.sign({ method, protocol: base.protocol, hostname: base.host, path, query: parseQuery(query), headers: { host: base.host, "x-amz-content-sha256": payloadHash } });
  const { host: _host, ...headers } = signed.headers;
  return headers;
}

/** Starts the stand-in on loopback. It throws if an origin has no local URL or the config uses what it does not model. */
export async function serveDistribution(o: CloudFrontOptions): Promise<CloudFrontStandIn> {
  const { config, accessControls, keyGroups = {}, domainName } = o.distribution;
  const originIds = new Set((config.Origins?.Items ?? []).map((x) => x.Id));
  const behaviors = [config.DefaultCacheBehavior, ...(config.CacheBehaviors?.Items ?? [])];
  const groups = behaviors.flatMap((b) => (b?.TrustedKeyGroups?.Enabled ? b.TrustedKeyGroups.Items ?? [] : []));
  const missing = [...unsupported(config, o.headersPolicy?.config),
    ...behaviors.filter((b) => !originIds.has(b?.TargetOriginId)).map((b) => `the origin ${b?.TargetOriginId}`),
    ...(config.Origins?.Items ?? []).filter((x) => !o.origins[x.DomainName ?? ""]).map((x) => `a local URL for the origin ${x.Id} (${x.DomainName})`),
    ...groups.filter((g) => !keyGroups[g]).map((g) => `the public keys of key group ${g}`),
    ...(groups.length && !domainName ? ["the distribution's domain name (signed URLs name it)"] : [])];
  if (missing.length) throw new Error(`the CloudFront stand-in cannot serve this distribution: ${missing.join("; ")}`);
  const signings = new Map((config.Origins?.Items ?? []).map((x) => [x.Id, signingOf(x, accessControls)]));
  const policy = o.headersPolicy && policyHeaders(o.headersPolicy.config);
  const policyFor = (b: Behavior) => (policy && (o.headersPolicy!.id === undefined || b.ResponseHeadersPolicyId === o.headersPolicy!.id) ? policy : undefined);
  const via = `1.1 ${randomBytes(16).toString("hex")}.cloudfront.net (CloudFront)`;
  const agent = new Agent({ keepAlive: true });

  const server = createServer((req, res) => {
    forward(req, res).catch(() => (res.headersSent ? res.destroy() : answer(res, 400, "Bad request.", { via })));
  });
  async function forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    let target = req.url ?? "/";
    const cfId = randomBytes(30).toString("base64url");
    const own = { via, "x-amz-cf-id": cfId, "x-amz-cf-pop": "LOCAL" };
    const decision = decide(config, method, target);
    if (decision.kind === "refuse") {
      req.resume();
      return answer(res, 403, "This distribution is not configured to allow the HTTP request method that was used for this request.", own);
    }
    const { behavior, origin } = decision;
    if (behavior.TrustedKeyGroups?.Enabled) {
      // The URL as the viewer asked the distribution for it; the signing parameters stop here.
      const keys = Object.assign({}, ...(behavior.TrustedKeyGroups.Items ?? []).map((g) => keyGroups[g])) as Record<string, string>;
      const verdict = checkSignedUrl({ url: `https://${domainName}${target}`, keys, now: Date.now(), ...(req.socket.remoteAddress ? { sourceIp: req.socket.remoteAddress } : {}) });
      if (!verdict.ok) {
        req.resume();
        const body = refusalXml(verdict);
        res.writeHead(403, { ...own, "content-type": "text/xml", "content-length": String(Buffer.byteLength(body)), "x-cache": "Error from cloudfront" }).end(body);
        return;
      }
      target = verdict.target;
    }
    const viewer = viewerHeaders(req);
    const forwarded = originRequestHeaders(behavior, viewer);
    const q = target.indexOf("?");
    const query = forwarded.query && q >= 0 ? target.slice(q + 1) : "";
    const base = new URL(o.origins[origin.DomainName!]!);
    const path = base.pathname.replace(/\/$/, "") + decision.path;
    const headers: Record<string, string> = { ...forwarded.headers };
    for (const h of origin.CustomHeaders?.Items ?? []) headers[h.HeaderName!.toLowerCase()] = h.HeaderValue ?? "";
    // The body's framing and type go whatever the policy (a chunked body is re-chunked on the way).
    for (const k of ["content-length", "content-type"]) if (viewer[k] !== undefined) headers[k] = viewer[k];
    headers.host = base.host;
    headers["x-forwarded-for"] = [viewer["x-forwarded-for"], req.socket.remoteAddress].filter(Boolean).join(", ");
    headers.via = via;
    headers["x-amz-cf-id"] = cfId;
    const s = signings.get(origin.Id);
    if (s && !(s.yieldsToViewer && headers.authorization !== undefined)) {
      // A Lambda function URL takes no unsigned payload: the viewer gives the body's hash (else it is the
      // empty body's, and a body fails the function's check). S3 takes UNSIGNED-PAYLOAD for a body.
      const bodyless = !viewer["content-length"] && !viewer["transfer-encoding"];
      const hash = viewer["x-amz-content-sha256"] ?? (s.service === "lambda" || bodyless ? emptyHash : "UNSIGNED-PAYLOAD");
      Object.assign(headers, await sign(s, o.credentials, method, base, path, query, hash));
    }
    const up = request({ agent, protocol: base.protocol, hostname: base.hostname, port: base.port, method, path: query ? `${path}?${query}` : path, headers }, (r) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(r.headers)) if (v !== undefined && !hopByHop.has(k)) out[k] = v;
      const p = policyFor(behavior);
      res.writeHead(r.statusCode ?? 502, { ...(p ? applyPolicy(out, p) : out), ...own, "x-cache": "Miss from cloudfront" });
      r.once("error", () => res.destroy());
      r.pipe(res);
    });
    // A viewer gone mid-download takes its origin request with it.
    res.once("close", () => {
      if (!res.writableFinished) up.destroy();
    });
    up.once("error", () => (res.headersSent ? res.destroy() : answer(res, 502, "CloudFront wasn't able to connect to the origin.", own)));
    req.pipe(up);
  }
  const listening = await listenLoopback(server, o.port, () => agent.destroy());
  return {
    url: listening.url,
    port: listening.port,
    close: listening.close,
  };
}
