// What ingest serves to the world, declared once: the front door of AWS mode (CloudFront behaviours in
// stacks/page-front.ts) and its test stand-in are built from this, and test/unit/routes.test.ts checks
// that every route of ingest/api.ts falls under one of these paths or is a page file.
// No imports: stacks/ loads this file at synth time, without the services' dependencies.

/** Methods a path takes: reads (GET, HEAD), or every method the API uses. */
export type PathMethods = "read" | "all";

export interface PublicPath {
  /** A CloudFront path pattern: "*" is any run of characters (even none), "?" exactly one. */
  pattern: string;
  methods: PathMethods;
  /**
   * Which function answers it in AWS mode: the API function (URL auth AWS_IAM, signed by CloudFront's
   * origin access control), or the public qBittorrent function (URL auth NONE, unsigned: the viewer's
   * Authorization and body reach it as sent). Default "api".
   */
  origin?: "api" | "qbittorrent";
}

/** The paths the ingest function answers; everything else is the page's files. */
export const ingestPaths: readonly PublicPath[] = [
  { pattern: "/api/*", methods: "all" },
  { pattern: "/d/*", methods: "read" },
  { pattern: "/zip/*", methods: "read" },
  { pattern: "/healthz", methods: "read" },
  // The qBittorrent WebUI API for Sonarr and Radarr (ingest/qbittorrent.ts), which cannot sign requests.
  { pattern: "/qbittorrent/*", methods: "all", origin: "qbittorrent" },
];

/** The HTTP methods of each kind, in the order CloudFront lists them. */
export const methodsOf: Record<PathMethods, string[]> = {
  read: ["GET", "HEAD"],
  all: ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
};

/** Whether a CloudFront path pattern matches a request path (case-sensitive, as CloudFront is). */
export function patternMatches(pattern: string, path: string): boolean {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`).test(path);
}

/** The declared path a request path falls under, if any (the first, as CloudFront picks the first behaviour). */
export function ingestPathOf(path: string): PublicPath | undefined {
  return ingestPaths.find((p) => patternMatches(p.pattern, path));
}

/**
 * The page's files: the page bucket's keys in AWS mode (scripts/build-web.ts writes them), and the files
 * ingest serves itself in local mode, at "/" + key ("/" is index.html).
 */
export const pageFiles: readonly [key: string, contentType: string][] = [
  ["index.html", "text/html; charset=utf-8"],
  ["app.js", "text/javascript; charset=utf-8"],
  ["app.css", "text/css; charset=utf-8"],
];
