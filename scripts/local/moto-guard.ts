// moto listens on a Unix socket, and this loopback front is the only way in. It does two things moto
// does not:
// - With the stack's keys (local mode), it forwards a request only if it is signed (AWS SigV4) with them:
//   moto takes any credentials, and its /moto-api (reset, the recorder, a dump of all state, the switch
//   for its own IAM checks) takes none. Other accounts on the machine can connect to the port, but not sign.
// - It shows every request and the status it got to an observer, if given: the rehearsal records each
//   role's calls there to judge them against the role's policies (scripts/rehearse/iam.ts).
// - It lets one DynamoDB write through at a time. moto checks a ConditionExpression and then writes, with
//   no lock between, on a threaded server: two conditional writes racing on one item could both pass,
//   which DynamoDB never allows (the job store's concurrent-writer tests lost an update to it).
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import { listenLoopback } from "./net.ts";
import { SignatureV4 } from "@smithy/signature-v4";

export interface Keys {
  accessKeyId: string;
  secretAccessKey: string;
}

/** SHA-256 and its HMAC, in the shape @smithy/signature-v4 takes. */
export class Sha256 {
  readonly #hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    const key = secret === undefined || typeof secret === "string" ? secret
      : ArrayBuffer.isView(secret) ? new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength) : new Uint8Array(secret);
    this.#hash = key === undefined ? createHash("sha256") : createHmac("sha256", key);
  }
  update(data: string | Uint8Array): void {
    this.#hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return this.#hash.digest();
  }
}

/** S3 alone signs the path as it is; other services encode it once more (SigV4's rule). */
const signer = (keys: Keys, region: string, service: string) =>
  new SignatureV4({ credentials: keys, region, service, sha256: Sha256, applyChecksum: false, uriEscapePath: service !== "s3" });

/** A request as it goes on the wire, for signing or checking: `path` holds the query too. */
export interface WireRequest {
  method: string;
  host: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** A query string as @smithy/signature-v4 takes it: values decoded ("+" stays), a repeated name as a list. */
export function parseQuery(query: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const pair of query.split("&")) {
    if (!pair) continue;
    const i = pair.indexOf("=");
    const [k, v] = (i < 0 ? [pair, ""] : [pair.slice(0, i), pair.slice(i + 1)]).map(decodeURIComponent) as [string, string];
    const had = out[k];
    out[k] = had === undefined ? v : [...(Array.isArray(had) ? had : [had]), v];
  }
  return out;
}

function smithyRequest(r: WireRequest) {
  const q = r.path.indexOf("?");
  return {
    method: r.method, protocol: "http:", hostname: r.host, path: q < 0 ? r.path : r.path.slice(0, q),
    query: q < 0 ? {} : parseQuery(r.path.slice(q + 1)), headers: { ...r.headers, host: r.host }, body: r.body,
  };
}

/** The request's headers with Authorization and X-Amz-Date added: signed with `keys` for `service`, at `at` (now). */
export async function signRequest(r: WireRequest, keys: Keys, service: string, region = "us-east-1", at = new Date()): Promise<Record<string, string>> {
  const signed = await signer(keys, region, service).sign(smithyRequest(r), { signingDate: at });
  const { host: _host, ...headers } = signed.headers;
  return headers;
}

const authHeader = /^AWS4-HMAC-SHA256 Credential=([^/,]+)\/(\d{8})\/([^/,]+)\/([^/,]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;
/** As AWS: a signature is good for 15 minutes either side of its X-Amz-Date. */
const maxSkewMs = 15 * 60_000;

function amzDate(s: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : null;
}

/** Why a request is not signed with `keys`, or null when it is. */
export async function refusal(method: string, path: string, headers: IncomingHttpHeaders, body: Buffer, keys: Keys, now = Date.now()): Promise<string | null> {
  if (headers.authorization === undefined && /[?&]X-Amz-Signature=/.test(path)) return presignedRefusal(method, path, headers, keys, now);
  const m = authHeader.exec(String(headers.authorization ?? ""));
  if (!m) return "no AWS Signature Version 4 Authorization header";
  const [, keyId, day, region, service, signedList, signature] = m as unknown as string[];
  if (keyId !== keys.accessKeyId) return "the access key is not the stack's";
  const date = String(headers["x-amz-date"] ?? "");
  const at = amzDate(date);
  if (at === null || !date.startsWith(day!) || Math.abs(now - at) > maxSkewMs) return "X-Amz-Date is missing or not within 15 minutes";
  const signedNames = signedList!.split(";");
  if (!signedNames.includes("host") || !signedNames.includes("x-amz-date")) return "Host and X-Amz-Date must be signed";
  const declared = headers["x-amz-content-sha256"];
  if (declared !== undefined && declared !== createHash("sha256").update(body).digest("hex")) return "X-Amz-Content-Sha256 does not match the body";
  const signedHeaders: Record<string, string> = {};
  for (const name of signedNames) {
    const v = headers[name];
    if (v === undefined) return `the signed header ${name} is missing`;
    signedHeaders[name] = Array.isArray(v) ? v.join(",") : v;
  }
  let expected: string;
  try {
    const req = smithyRequest({ method, host: signedHeaders.host!, path, headers: signedHeaders, body });
    const signed = await signer(keys, region!, service!).sign(req, { signingDate: new Date(at), signableHeaders: new Set(signedNames), signingRegion: region, signingService: service });
    expected = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization))?.[1] ?? "";
  } catch {
    return "the request cannot be parsed for signing";
  }
  return expected.length === signature!.length && timingSafeEqual(Buffer.from(expected), Buffer.from(signature!)) ? null : "the signature does not match";
}

/**
 * Why a presigned URL (SigV4 in the query, as S3 links are) is not signed with `keys`, or null. The
 * signature is made again from the URL without it, as the signer made it, and compared.
 */
async function presignedRefusal(method: string, path: string, headers: IncomingHttpHeaders, keys: Keys, now: number): Promise<string | null> {
  const url = new URL(path, "http://x");
  const q = url.searchParams;
  const scope = /^([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request$/.exec(q.get("X-Amz-Credential") ?? "");
  if (!scope || q.get("X-Amz-Algorithm") !== "AWS4-HMAC-SHA256") return "no AWS Signature Version 4 in the query";
  const [, keyId, day, region, service] = scope as unknown as string[];
  if (keyId !== keys.accessKeyId) return "the access key is not the stack's";
  const at = amzDate(q.get("X-Amz-Date") ?? "");
  const expires = Number(q.get("X-Amz-Expires"));
  if (at === null || !q.get("X-Amz-Date")!.startsWith(day!) || !(expires > 0 && expires <= 604_800)) return "X-Amz-Date or X-Amz-Expires is missing";
  if (now < at - maxSkewMs || now > at + expires * 1000) return "the presigned URL has expired";
  const signedNames = (q.get("X-Amz-SignedHeaders") ?? "").split(";");
  const signedHeaders: Record<string, string> = {};
  for (const name of signedNames) {
    const v = headers[name];
    if (v === undefined) return `the signed header ${name} is missing`;
    signedHeaders[name] = Array.isArray(v) ? v.join(",") : v;
  }
  const given = q.get("X-Amz-Signature")!;
  // The query as signed: everything but the signature, raw (the signer encodes it again).
  const rawQuery = path.slice(path.indexOf("?") + 1).split("&").filter((kv) => !kv.startsWith("X-Amz-Signature=")).join("&");
  const base = path.slice(0, path.indexOf("?"));
  let expected: string;
  try {
    // The payload hash goes in as the presigner had it: a header it hoists into the query, under this name.
    const req = smithyRequest({ method, host: signedHeaders.host ?? "", path: `${base}?${rawQuery}`, headers: { ...signedHeaders, "X-Amz-Content-Sha256": q.get("X-Amz-Content-Sha256") ?? "UNSIGNED-PAYLOAD" }, body: Buffer.alloc(0) });
    const signed = await signer(keys, region!, service!).presign(req, { signingDate: new Date(at), expiresIn: expires, signableHeaders: new Set(signedNames), signingRegion: region, signingService: service });
    expected = String(signed.query?.["X-Amz-Signature"] ?? "");
  } catch {
    return "the request cannot be parsed for signing";
  }
  return expected.length === given.length && timingSafeEqual(Buffer.from(expected), Buffer.from(given)) ? null : "the signature does not match";
}

/**
 * Looks at a request moto is about to get; returns a callback for moto's answer (status and body) when it
 * wants it. The rehearsal delivers what moto cannot this way (SNS to Lambda), from the real API call.
 */
export type Tap = (req: WireRequest) => ((status: number, body: Buffer) => void) | undefined;

/** A request the front saw, with the status it answered (its own refusals included). */
export interface ObservedRequest extends WireRequest {
  status: number;
}

export type Observer = (r: ObservedRequest) => void;

export interface MotoGuard {
  endpoint: string;
  port: number;
  /** Adds a tap on the requests forwarded to moto; the returned function removes it. */
  tap(tap: Tap): () => void;
  close(): Promise<void>;
}

/** moto's requests are API calls and queue messages (256 KiB at most); nothing legitimate comes near. */
const maxBody = 16 * 1024 * 1024;

function refuse(res: ServerResponse, status: number, message: string): void {
  const code = ({ 403: "AccessDenied", 413: "RequestEntityTooLarge", 502: "BadGateway" } as Record<number, string>)[status] ?? "BadRequest";
  const body = `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>local endpoint: ${message}</Message></Error></ErrorResponse>`;
  res.writeHead(status, { "content-type": "text/xml", "content-length": Buffer.byteLength(body), connection: "close" }).end(body);
}

async function readBody(req: IncomingMessage): Promise<Buffer | null> {
  if (Number(req.headers["content-length"] ?? 0) > maxBody) return null;
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBody) return null;
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

const dynamoWrite = /^DynamoDB_\d+\.(PutItem|UpdateItem|DeleteItem|BatchWriteItem|TransactWriteItems)$/;

/** Runs DynamoDB writes one at a time: each waits for the response to the one before to end. */
function writeTurns(): (headers: IncomingHttpHeaders, res: ServerResponse) => Promise<void> {
  let last = Promise.resolve();
  return (headers, res) => {
    if (!dynamoWrite.test(String(headers["x-amz-target"] ?? ""))) return Promise.resolve();
    const turn = last;
    last = new Promise<void>((done) => res.once("close", done));
    return turn;
  };
}

function tapsFor(taps: Set<Tap>, req: IncomingMessage, body: Buffer): ((status: number, body: Buffer) => void)[] {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(",") : v;
  const wire = { method: req.method ?? "GET", host: String(req.headers.host ?? ""), path: req.url ?? "/", headers, body };
  return [...taps].flatMap((t) => t(wire) ?? []);
}

/**
 * Listens on loopback (`port`, or a free one) and forwards requests to moto on `socketPath`: with `keys`,
 * only those signed with them, or with the keys `sessions` gives for the request's access key id (the
 * rehearsal's role sessions, which moto's STS issued). `observe` (which must not throw) sees each request
 * once its answer ends.
 */
export async function startMotoGuard(o: {
  socketPath: string;
  keys?: Keys;
  sessions?: (accessKeyId: string) => Keys | undefined;
  port?: number;
  observe?: Observer;
}): Promise<MotoGuard> {
  const agent = new Agent({ keepAlive: true });
  const myTurn = writeTurns();
  const taps = new Set<Tap>();
  const server = createServer(async (req, res) => {
    try {
      const body = await readBody(req);
      if (o.observe) {
        const [observe, method, path] = [o.observe, req.method ?? "GET", req.url ?? "/"];
        const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(",") : (v ?? "")]));
        res.once("close", () => observe({ method, host: headers.host ?? "", path, headers, body: body ?? Buffer.alloc(0), status: res.statusCode }));
      }
      if (body === null) return refuse(res, 413, "the body is too large");
      // The signer's key: from the Authorization header, or a presigned URL's X-Amz-Credential.
      const keyId = /Credential=([^/,\s&]+)/.exec(String(req.headers.authorization ?? ""))?.[1]
        ?? /[?&]X-Amz-Credential=([^%&/]+)(?:%2F|\/)/.exec(req.url ?? "")?.[1];
      // moto's own API (reset, state dump, the auth switch) stays the stack's alone.
      const session = keyId !== undefined && keyId !== o.keys?.accessKeyId && !(req.url ?? "").startsWith("/moto-api") && o.sessions?.(keyId);
      const keys = session || o.keys;
      const why = keys ? await refusal(req.method ?? "GET", req.url ?? "/", req.headers, body, keys) : null;
      if (why) return refuse(res, 403, why);
      await myTurn(req.headers, res);
      if (res.destroyed) return;
      const { "transfer-encoding": _te, ...headers } = req.headers;
      const watchers = taps.size ? tapsFor(taps, req, body) : [];
      const upstream = request({ socketPath: o.socketPath, agent, method: req.method, path: req.url, headers: { ...headers, "content-length": String(body.length) } }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.once("error", () => res.destroy());
        if (watchers.length) {
          const parts: Buffer[] = [];
          up.on("data", (d: Buffer) => parts.push(d));
          up.once("end", () => watchers.forEach((w) => w(up.statusCode ?? 502, Buffer.concat(parts))));
        }
        up.pipe(res);
      });
      // A client gone mid long-poll takes its upstream request with it.
      res.once("close", () => {
        if (!res.writableFinished) upstream.destroy();
      });
      upstream.once("error", () => (res.headersSent ? res.destroy() : refuse(res, 502, "moto is not answering")));
      upstream.end(body);
    } catch {
      if (!res.headersSent) refuse(res, 400, "unreadable request");
      else res.destroy();
    }
  });
  const listening = await listenLoopback(server, o.port, () => agent.destroy());
  return {
    endpoint: listening.url,
    port: listening.port,
    tap: (tap) => {
      taps.add(tap);
      return () => void taps.delete(tap);
    },
    close: listening.close,
  };
}
