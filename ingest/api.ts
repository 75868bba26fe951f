// The HTTP API (docs/api.md "HTTP API (v1)") as one request handler, independent of node:http or Lambda.
import { cancel, deleteFiles, placeRequester, type JobRecord } from "../lib/job-record.ts";
import { monthOf, monthPattern, served, type Pricing } from "../lib/cost.ts";
import type { Costs } from "./costs.ts";
import type { Bucket } from "../lib/aws/bucket.ts";
import type { Publish } from "../lib/aws/topic.ts";
import { AppError, errorBody } from "../lib/errors.ts";
import { filesExpired, isJobId, isTerminal, type Job, type Requester } from "../lib/job.ts";
import { pageLimits } from "../lib/job-store.ts";
import { dataPrefix, filesPrefix, manifestKey, zipKey } from "../lib/layout.ts";
import type { Logger } from "../lib/log.ts";
import { expired } from "../lib/lease.ts";
import type { Auth } from "./auth.ts";
import type { LiveStreams } from "./events.ts";
import type { FetchGuard } from "./fetch-guard.ts";
import { presentJob, runOf, zipLinkKey } from "./present.ts";
import type { RateLimiter } from "./rate-limit.ts";
import type { JobRegistry } from "./registry.ts";
import { submit, type Submission } from "./submit.ts";
import type { WebFiles } from "./web.ts";
import type { ScaleUp } from "./scale-up.ts";
import { pageCsp, referrerPolicy } from "../lib/page-headers.ts";

export const maxBodyBytes = 16 * 1024 * 1024;

export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | undefined>;
  /** The client's address, where the host knows it (node:http). */
  remote?: string;
  body: Buffer;
  signal: AbortSignal;
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** A text/event-stream body, written as it comes. */
  events?: AsyncIterable<string>;
  /** A download streamed from the store (node:http only: Lambda never streams). */
  stream?: AsyncIterable<Uint8Array>;
}

export interface ApiDeps {
  registry: JobRegistry;
  bucket: Bucket;
  auth: Auth;
  guard: FetchGuard;
  publishRequest: Publish;
  publicUrl: string;
  linkTtlS: number;
  /** How many days a handed-out link works (never past the files' expiry). */
  linkDays: number;
  web: WebFiles;
  limiter: RateLimiter;
  log: Logger;
  now: () => string;
  /** How the page follows changes: an event stream (node:http), or polling /api/changes (Lambda). */
  live: "events" | "changes";
  /** The event streams, where `live` is "events". */
  streams: LiveStreams;
  /** The origin presigned URLs point at (the S3 endpoint), for the page's CSP; null: none. */
  storageOrigin?: string | null;
  /** Whether webhooks are configured (callback_url is refused without them). */
  webhooks: boolean;
  /** AWS mode: raises the fleet's desired capacity after a download was requested. */
  scaleUp?: ScaleUp;
  /** How a job's cost is estimated; the month's totals and the budget guard. */
  pricing: Pricing;
  costs: Costs;
  /** AWS mode with a downloads key: a CloudFront signed URL for an object, or null (too large: S3's URL). */
  signDownload?: (key: string, size: number, ttlS: number) => string | null;
  /**
   * How /d/ and /zip/ answer: "redirect" to a presigned URL (default; AWS mode), or "stream" the object
   * through ingest (local mode reached from other machines: the store listens on loopback only).
   */
  links?: "redirect" | "stream";
}

/** public: anyone; caller: token or session; link: caller or a signed link. */
export type Access = "public" | "caller" | "link";

interface Ctx {
  req: ApiRequest;
  params: string[];
  caller: Requester | null;
}

export interface Route {
  method: string;
  /** "/api/jobs/:id": ":name" is one path segment, "*" the rest of the path. */
  path: string;
  access: Access;
  run: (ctx: Ctx) => Promise<ApiResponse>;
  /** The largest body it takes (default: 64 KiB for public routes, 16 MiB for the rest). */
  maxBody?: number;
  /** A public route's own check on the headers, before the body is read: the answer that refuses, or null. */
  admit?: (req: RequestHead) => ApiResponse | null;
}

export function routePattern(path: string): RegExp {
  const body = path.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/:[a-z]+/g, "([^/]+)").replace(/\*/g, "(.+)");
  return new RegExp(`^${body}$`);
}

/** The origin of presigned URLs, found by presigning one (no network call); null if it cannot sign yet. */
export async function storageOrigin(bucket: Pick<Bucket, "presignGet">): Promise<string | null> {
  try {
    return new URL(await bucket.presignGet("files/origin-probe", 60)).origin;
  } catch {
    return null; // no credentials yet: the page works, media waits for the next start
  }
}

/** How much of a file "view as text" shows. */
export const textViewBytes = 256 * 1024;

const baseHeaders = { "x-content-type-options": "nosniff", "referrer-policy": referrerPolicy };

export function json(status: number, value: unknown, headers: Record<string, string> = {}): ApiResponse {
  return { status, headers: { ...baseHeaders, "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers }, body: JSON.stringify(value) };
}

function errorResponse(err: AppError): ApiResponse {
  const extra: Record<string, string> = err.code === "unauthorized" ? { "www-authenticate": 'Bearer realm="torrent2s3"' } : {};
  return json(err.status, errorBody(err), extra);
}

/** `limit` of a paged call: absent for the default, else a whole number from 1 to the maximum. */
export function parseLimit(query: URLSearchParams): number {
  const raw = query.get("limit");
  if (raw === null) return pageLimits.default;
  if (!/^\d{1,4}$/.test(raw) || Number(raw) < 1 || Number(raw) > pageLimits.max) {
    throw new AppError("invalid_request", `"limit" must be a whole number from 1 to ${pageLimits.max}.`);
  }
  return Number(raw);
}

/** An optional opaque cursor parameter, given at most once and not empty. */
function cursorParam(query: URLSearchParams, name: string): string | null {
  const all = query.getAll(name);
  if (all.length === 0) return null;
  if (all.length > 1 || all[0] === "") throw new AppError("invalid_request", `Send "${name}" once, as the API handed it out.`);
  return all[0]!;
}

function parseBody(req: ApiRequest): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(req.body.toString("utf8"));
  } catch {
    throw new AppError("invalid_request", "The request body is not valid JSON.");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new AppError("invalid_request", "The request body must be a JSON object.");
  return v as Record<string, unknown>;
}

const snowflake = /^\d{1,25}$/;

/** A token holder (a service such as the bot) may name the person it acts for, and where it shows the job. */
function requesterFor(caller: Requester, body: Record<string, unknown>): Requester {
  const r = body.requester as Partial<Requester> | undefined;
  if (caller.via !== "api" || r === undefined) return caller;
  const ok = typeof r === "object" && r !== null && ["api", "web", "discord"].includes(r.via as string) &&
    typeof r.user === "string" && r.user.length > 0 && r.user.length <= 200 &&
    (r.channelId === undefined || (typeof r.channelId === "string" && snowflake.test(r.channelId))) &&
    (r.messageId === undefined || (typeof r.messageId === "string" && snowflake.test(r.messageId))) &&
    (r.pinged === undefined || typeof r.pinged === "boolean");
  if (!ok) throw new AppError("invalid_request", '"requester" must be {"via": "api"|"web"|"discord", "user": "<id>"}, with optional numeric "channelId" and "messageId", and boolean "pinged".');
  return {
    via: r.via as Requester["via"], user: r.user as string,
    ...(r.channelId ? { channelId: r.channelId } : {}), ...(r.messageId ? { messageId: r.messageId } : {}), ...(r.pinged ? { pinged: true } : {}),
  };
}

/** What the handlers share: the deps, how a record is shown, and the lookup of a job by its id. */
interface Kit {
  d: ApiDeps;
  present: (rec: JobRecord) => Job;
  findJob: (id: string | undefined) => Promise<JobRecord>;
}

export interface Api {
  routes: Route[];
  handle: (req: ApiRequest) => Promise<ApiResponse>;
  admit: (req: RequestHead) => { maxBody: number } | ApiResponse;
}

/** `more`: routes of other front doors over the same deps (the qBittorrent API), added by the wiring. */
export function createApi(d: ApiDeps, more: (d: ApiDeps) => Route[] = () => []): Api {
  const present = (rec: JobRecord) => presentJob(rec, d, d.now());
  const findJob = async (id: string | undefined) => {
    const rec = id && isJobId(id) ? await d.registry.record(id) : null;
    if (!rec) throw new AppError("not_found", "No job has that id.");
    return rec;
  };
  const kit: Kit = { d, present, findJob };
  const csp = pageCsp(d.storageOrigin ?? null);
  const page = (route: string): Route["run"] => async () => {
    const f = d.web.get(route)!;
    return { status: 200, headers: { ...baseHeaders, "content-type": f.type, "cache-control": "no-cache", "content-security-policy": csp }, body: f.body };
  };
  const session = sessionHandlers(d);
  const jobs = jobHandlers(kit);
  const change = jobChangeHandlers(kit);
  const links = linkHandlers(kit);

  const routes: Route[] = [
    { method: "GET", path: "/healthz", access: "public", run: async () => json(200, { ok: true }) },
    ...[...d.web.keys()].map((r): Route => ({ method: "GET", path: r, access: "public", run: page(r) })),
    { method: "POST", path: "/api/session", access: "public", run: session.signIn },
    { method: "DELETE", path: "/api/session", access: "public", run: session.signOut },
    // Public so the page can ask without a 401 (browsers log those as errors); it tells nothing else.
    { method: "GET", path: "/api/session", access: "public", run: session.status },
    { method: "POST", path: "/api/jobs", access: "caller", run: jobs.submit },
    { method: "GET", path: "/api/jobs", access: "caller", run: jobs.list },
    // The change feed, for pages that cannot hold an event stream open (Lambda): poll with the cursor.
    { method: "GET", path: "/api/changes", access: "caller", run: jobs.changes },
    { method: "GET", path: "/api/jobs/:id", access: "caller", run: async ({ params }) => json(200, { job: present(await findJob(params[0])) }) },
    { method: "DELETE", path: "/api/jobs/:id", access: "caller", run: change.cancel },
    { method: "DELETE", path: "/api/jobs/:id/files", access: "caller", run: change.deleteFiles },
    { method: "PATCH", path: "/api/jobs/:id/requester", access: "caller", run: change.placeRequester },
    // Receivers verify webhook signatures with this key; it cannot call the API.
    { method: "GET", path: "/api/webhook-secret", access: "caller", run: async () => json(200, { secret: d.auth.webhookSecret }) },
    { method: "GET", path: "/api/events", access: "caller", run: jobs.events },
    // A month's estimated cost, from the store's monthly totals (one read, however many jobs ran).
    { method: "GET", path: "/api/costs", access: "caller", run: async ({ req }) => {
      const month = req.query.get("month") ?? monthOf(d.now());
      if (!monthPattern.test(month)) throw new AppError("invalid_request", '"month" must be a month such as "2026-12".');
      return json(200, await d.costs.month(month));
    } },
    { method: "GET", path: "/d/:id/*", access: "link", run: links.file },
    // The zip of all a job's files: signed and expiring as the /d/ links are.
    { method: "GET", path: "/zip/:id", access: "link", run: links.zip },
    ...more(d),
  ];
  return { routes, ...router(routes, d) };
}

function sessionHandlers(d: ApiDeps) {
  return {
    signIn: async ({ req }: Ctx) => {
      const token = parseBody(req).token;
      if (typeof token !== "string" || !d.auth.tokenValid(token)) throw new AppError("unauthorized", "That API token is not valid.");
      return json(200, { ok: true }, { "set-cookie": d.auth.newSessionCookie() });
    },
    signOut: async () => json(200, { ok: true }, { "set-cookie": d.auth.clearedSessionCookie() }),
    status: async ({ req }: Ctx) => json(200, { signedIn: d.auth.caller(req.headers) !== null, live: d.live }),
  };
}

/** Handing in, listing and following jobs. */
function jobHandlers({ d, present, findJob }: Kit) {
  return {
    submit: async ({ req, caller }: Ctx) => {
      const body = parseBody(req);
      const requester = requesterFor(caller!, body);
      // Per person: the bot submits for many Discord users with one token.
      const slot = d.limiter.take(`${requester.via}:${requester.user}`);
      if (!slot.ok) {
        const e = new AppError("rate_limited", `Too many submissions; try again in ${slot.retryAfterS} s.`);
        return json(e.status, errorBody(e), { "retry-after": String(slot.retryAfterS) });
      }
      const { rec, created } = await submit(body as Submission, requester, d, req.signal);
      d.log.info(created ? "job created" : "job submitted again", { job: rec.job.id, via: caller!.via });
      return json(created ? 202 : 200, { job: present(rec) });
    },
    list: async ({ req }: Ctx) => {
      const limit = parseLimit(req.query);
      const page = await d.registry.list({ limit, cursor: cursorParam(req.query, "cursor") });
      return json(200, { jobs: page.records.map(present), next: page.next });
    },
    changes: async ({ req }: Ctx) => {
      const limit = parseLimit(req.query);
      const feed = await d.registry.changes({ since: cursorParam(req.query, "since"), limit });
      return json(200, { jobs: feed.records.map(present), cursor: feed.cursor });
    },
    events: async ({ req }: Ctx): Promise<ApiResponse> => ({
      status: 200,
      headers: { ...baseHeaders, "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" },
      events: d.streams.stream(req.remote ?? "unknown", req.signal),
    }),
  };
}

/** Changes to a job by hand; each is a named change of lib/job-record.ts. */
function jobChangeHandlers({ d, present, findJob }: Kit) {
  return {
    cancel: async ({ params }: Ctx) => {
      const id = (await findJob(params[0])).job.id;
      const rec = await d.registry.update(id, (r) => (r ? cancel(r, d.now()) : null));
      if (rec) {
        // The cancel reaches the seedbox holding the job through its lease: it sees the status at its
        // next renewal, removes the torrent and the job's files. Nobody holds it: nothing will write
        // there any more, and what an earlier holder left (open uploads, parts) goes now.
        const held = rec.lease && !expired(rec.lease, Date.parse(d.now())) ? rec.lease.seedbox : null;
        if (held === null) {
          await d.bucket.abortUploads(filesPrefix(id));
          await d.bucket.deletePrefix(filesPrefix(id));
        }
        d.log.info("job cancelled", { job: id, seedbox: held });
      }
      return json(200, { job: present(rec ?? (await findJob(id))) });
    },
    // The person's own "delete now": the links answer 410 at once (the job shows expired), then the
    // objects go. Repeating it is harmless, so a call that failed halfway can simply be made again.
    deleteFiles: async ({ params }: Ctx) => {
      const cur = await findJob(params[0]);
      const id = cur.job.id;
      if (cur.job.status !== "completed") {
        throw new AppError("conflict", isTerminal(cur.job.status)
          ? `This job is ${cur.job.status}; it has no files to delete.`
          : "This job is still running; cancel it instead (DELETE /api/jobs/:id), which also removes its files.");
      }
      // The manifest first: if the rest fails halfway, no later run can complete on what is left.
      await d.bucket.delete(manifestKey(id));
      const rec = await d.registry.update(id, (r) => (r ? deleteFiles(r, d.now()) : null));
      const removed = await d.bucket.deletePrefix(filesPrefix(id));
      d.log.info("job files deleted", { job: id, objects: removed });
      return json(200, { job: present(rec ?? (await findJob(id))) });
    },
    // The bot keeps where it shows a job (channel and message ids) in the job's requester entry.
    placeRequester: async ({ req, params, caller }: Ctx) => {
      const body = parseBody(req);
      if (caller!.via !== "api" || body.requester === undefined) throw new AppError("invalid_request", 'Send {"requester": {...}} with the API token.');
      const r = requesterFor(caller!, body);
      const cur = await findJob(params[0]);
      const rec = await d.registry.update(cur.job.id, (x) => {
        if (!x) return null;
        const next = placeRequester(x, r, d.now());
        if (!next) throw new AppError("not_found", "That requester has not asked for this job.");
        return next;
      });
      return json(200, { job: present(rec ?? cur) });
    },
  };
}

/** Signed links: a file (or its start, as text) and the zip of a completed job, until its files expire. */
function linkHandlers({ d }: Kit) {
  const unsigned = () => new AppError("unauthorized", "This link is not signed correctly; sign in or ask for a new link.");
  /** A signed link's record: the signature covers the job's current run and the link's own expiry. */
  const signedRecord = async (req: ApiRequest, id: string, key: string, caller: Requester | null) => {
    if (caller) return d.registry.record(id);
    const sig = req.query.get("sig");
    const exp = req.query.get("exp");
    if (!sig || !exp || !/^\d{1,12}$/.test(exp)) throw unsigned();
    const rec = await d.registry.record(id);
    if (!rec) throw unsigned();
    const scope = { run: runOf(rec), exp: Number(exp) };
    // Signed for this run (0: the expiry is checked next, to say so plainly).
    if (!d.auth.linkValid(id, key, sig, scope, 0)) throw unsigned();
    if (scope.exp * 1000 <= Date.parse(d.now())) {
      throw new AppError("expired", `This link expired on ${new Date(scope.exp * 1000).toISOString().slice(0, 10)}; open the job on the page, in the bot or with t2s show for a fresh one.`);
    }
    return rec;
  };
  const gone = (job: Job) => new AppError("expired", `This job's files expired on ${job.expiresAt!.slice(0, 10)}; hand the torrent in again to fetch them anew.`);
  const send = async (req: ApiRequest, id: string, key: string, size: number): Promise<ApiResponse> => {
    // Each download counts the whole file as served (an upper bound); a HEAD serves nothing. The
    // download does not wait on the count failing.
    if (req.method !== "HEAD") {
      await d.registry.update(id, (r) => (r ? served(r, size) : null))
        .catch((err) => d.log.warn("could not count a download towards the job's cost", { job: id, err }));
    }
    if (d.links !== "stream") {
      const location = d.signDownload?.(key, size, d.linkTtlS) ?? await d.bucket.presignGet(key, d.linkTtlS);
      return { status: 302, headers: { ...baseHeaders, location, "cache-control": "no-store" } };
    }
    // One byte range, as players and download managers ask; anything else gets the whole object.
    const range = req.headers["range"];
    const got = await d.bucket.download(key, range && /^bytes=(\d+-\d*|-\d+)$/.test(range) ? range : undefined, req.signal);
    if (!got) throw new AppError("not_found", "No such file.");
    if (!got.body) return { status: 416, headers: { ...baseHeaders, ...got.headers, "content-range": `bytes */${size}` } };
    return { status: got.status, headers: { ...baseHeaders, ...got.headers, "cache-control": "private, no-store" }, stream: got.body };
  };
  return {
    file: async ({ req, params, caller }: Ctx): Promise<ApiResponse> => {
      const id = params[0]!;
      if (!isJobId(id)) throw new AppError("not_found", "No such file.");
      let key: string;
      try {
        key = params[1]!.split("/").map(decodeURIComponent).join("/");
      } catch {
        throw new AppError("not_found", "No such file.");
      }
      const rec = await signedRecord(req, id, key, caller);
      const file = rec?.job.status === "completed" ? rec.files.find((f) => f.key === key) : undefined;
      if (!file) throw new AppError("not_found", "No such file in a completed job.");
      if (filesExpired(rec!.job, d.now())) throw gone(rec!.job);
      if (req.query.get("view") !== "text") return send(req, id, dataPrefix(id) + file.key, file.size);
      // The page shows text files in place: the start of the file, as plain text, never as HTML.
      const part = await d.bucket.getStart(dataPrefix(id) + file.key, textViewBytes);
      return {
        status: 200,
        headers: {
          ...baseHeaders, "content-type": "text/plain; charset=utf-8", "cache-control": "private, no-store",
          "content-security-policy": "default-src 'none'; sandbox", "x-t2s-truncated": part.length < file.size ? "1" : "0",
        },
        body: part,
      };
    },
    zip: async ({ req, params, caller }: Ctx) => {
      const id = params[0]!;
      if (!isJobId(id)) throw new AppError("not_found", "No such zip.");
      const rec = await signedRecord(req, id, zipLinkKey, caller);
      if (rec?.job.status !== "completed" || !rec.zip) throw new AppError("not_found", "No zip for this job.");
      if (filesExpired(rec.job, d.now())) throw gone(rec.job);
      return send(req, id, zipKey(id), rec.zip.size);
    },
  };
}

const safeMethods = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * A change made with the page's session cookie must come from the page itself. SameSite ignores ports, so
 * a page on any other port of this host would otherwise send the cookie with a form or a text/plain fetch.
 * Browsers send Sec-Fetch-Site (or at least Origin) with every such request; bearer calls need neither.
 */
export function checkSameOrigin(req: ApiRequest, publicUrl: string): void {
  const told = req.headers["sec-fetch-site"] !== undefined || req.headers["origin"] !== undefined;
  if (!told || crossSite(req, publicUrl)) throw new AppError("forbidden", "This change must come from the page itself: the session cookie is not accepted from another site or port.");
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (req.body.length > 0 && type !== "application/json") throw new AppError("invalid_request", "Send the request body as application/json.");
}

/** Whether a browser says the request comes from another origin (a client that is no browser says nothing). */
export function crossSite(req: RequestHead, publicUrl: string): boolean {
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined) return site !== "same-origin" && site !== "none";
  const origin = req.headers["origin"];
  const own = [new URL(publicUrl).origin, ...(req.headers["host"] ? [`http://${req.headers["host"]}`, `https://${req.headers["host"]}`] : [])];
  return origin !== undefined && !own.includes(origin);
}

/** A request before its body is read: enough to find its route and check its access. */
export type RequestHead = Omit<ApiRequest, "body" | "signal">;

/** What a route that anyone may call takes as a body (a sign-in): no stranger sends megabytes. */
export const publicBodyBytes = 64 * 1024;

type Compiled = Route & { pattern: RegExp };

/** Finds the route by path, then method, and checks access: a stranger is refused on the headers alone. */
function matchRoute(compiled: Compiled[], d: ApiDeps, req: RequestHead): { route: Compiled; params: string[]; caller: Requester | null } {
  let pathMatched = false;
  for (const r of compiled) {
    const m = r.pattern.exec(req.path);
    if (!m) continue;
    pathMatched = true;
    if (r.method !== req.method && !(r.method === "GET" && req.method === "HEAD")) continue;
    const caller = r.access === "public" ? null : d.auth.caller(req.headers);
    if (r.access === "caller" && !caller) throw new AppError("unauthorized", "Sign in, or send an API token as \"Authorization: Bearer <token>\".");
    return { route: r, params: m.slice(1), caller };
  }
  if (pathMatched) throw new AppError("method_not_allowed", `${req.method} is not allowed on ${req.path}.`);
  throw new AppError("not_found", "Nothing is here.");
}

/** Turns errors into coded answers; anything else is logged and answered as internal. */
async function answering(d: ApiDeps, req: RequestHead, run: () => Promise<ApiResponse>): Promise<ApiResponse> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof AppError) return errorResponse(err);
    d.log.error("request failed", { method: req.method, path: req.path, err, stack: (err as Error)?.stack });
    return errorResponse(new AppError("internal", "Internal error"));
  }
}

function router(routes: Route[], d: ApiDeps) {
  const compiled = routes.map((r) => ({ ...r, pattern: routePattern(r.path) }));
  return {
    handle: (req: ApiRequest): Promise<ApiResponse> => answering(d, req, async () => {
      const { route, params, caller } = matchRoute(compiled, d, req);
      if (caller?.via === "web" && !safeMethods.has(req.method)) checkSameOrigin(req, d.publicUrl);
      return route.run({ req, params, caller });
    }),
    /** Before the body is read: how much of it the request may send, or the answer that refuses it. */
    admit: (req: RequestHead): { maxBody: number } | ApiResponse => {
      try {
        const { route } = matchRoute(compiled, d, req);
        const refused = route.admit?.(req);
        if (refused) return refused;
        return { maxBody: route.maxBody ?? (route.access === "public" ? publicBodyBytes : maxBodyBytes) };
      } catch (err) {
        return errorResponse(err as AppError);
      }
    },
  };
}
