// ingest's route table, built with dependencies that throw if a handler runs: for tests that walk the
// routes (auth on each, and where the front door sends each) without serving anything.
import { createApi, type ApiDeps, type Route } from "../../ingest/api.ts";
import { qbittorrentRoutes } from "../../ingest/qbittorrent.ts";
import { Auth } from "../../ingest/auth.ts";
import { RateLimiter } from "../../ingest/rate-limit.ts";
import { createLogger } from "../../lib/log.ts";

const unreachable = new Proxy({}, { get: () => () => { throw new Error("a handler ran without auth"); } });

/** The API over deps no handler may reach, and the page routes it was given ("/" only). */
export function routeTableApi() {
  const deps = {
    registry: unreachable, bucket: unreachable, guard: unreachable, publishRequest: async () => {},
    auth: new Auth({ apiToken: "right-token", signingSecret: "s", secureCookie: false }),
    publicUrl: "http://x", linkTtlS: 60, log: createLogger("test", { level: "error" }), now: () => "now",
    limiter: new RateLimiter({ perMinute: 60, burst: 10 }),
    web: new Map([["/", { body: Buffer.from("<!doctype html>"), type: "text/html" }]]),
  } as unknown as ApiDeps;
  return { api: createApi(deps, qbittorrentRoutes), pageRoutes: new Set(deps.web.keys()) };
}

/** A concrete path a route answers: a job id for each ":name", a file for "*". */
export const examplePath = (path: string) => path.replace(/:[a-z]+/g, "a".repeat(40)).replace("*", "file.bin");

/** The routes that only ingest answers (not the page's files). */
export function ingestRoutes(): Route[] {
  const { api, pageRoutes } = routeTableApi();
  return api.routes.filter((r) => !pageRoutes.has(r.path));
}
