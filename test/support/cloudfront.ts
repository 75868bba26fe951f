// The CloudFront distribution of AWS mode, on loopback, for tests: routed by the behaviours, allowed
// methods and headers policy stacks/page-front.ts synthesizes (with the rehearsal's CloudFront rules), it
// serves the page's static files (as the page bucket holds them) and passes ingest's paths to a Lambda
// app as its function URL would get them, with what origin access control does on the way:
// - a body (POST, PUT, PATCH) must carry its SHA-256 in x-amz-content-sha256, or the function URL
//   refuses the signed request (403), as Lambda's IAM auth does;
// - the viewer's Authorization never reaches the function: CloudFront signs with that header;
// - but the qBittorrent paths go to the public qBittorrent function (URL auth NONE, no OAC): unsigned,
//   the viewer's Authorization with them, and every other path 404 there (ingest/lambda.ts);
// - nothing is cached, and every answer gets the response headers policy's headers;
// - a method a behaviour does not allow is refused with 403.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { outsideQbittorrent, type LambdaApp } from "../../ingest/lambda.ts";
import { pageFiles } from "../../ingest/public-paths.ts";
import { applyPolicy, decide, policyHeaders } from "../../scripts/rehearse/cloudfront-routes.ts";
import { toUrlEvent } from "./lambda-url.ts";
import { synthesizePageFront, type SynthesizedFront } from "../../scripts/rehearse/page-front-synth.ts";

let routing: SynthesizedFront | undefined;

/** Where a GET of a path goes, by the synthesized behaviours: the ingest function, the public qBittorrent function, or the page bucket. */
export function originOf(path: string): "ingest" | "qbittorrent" | "page" {
  // Routing does not depend on where downloads point.
  const d = decide((routing ??= synthesizePageFront("https://storage.invalid")).config, "GET", path);
  if (d.kind === "refuse") throw new Error(d.reason);
  return d.origin.Id as "ingest" | "qbittorrent" | "page";
}

export interface CloudFrontStandIn {
  url: string;
  /** Requests refused for a missing or wrong x-amz-content-sha256. */
  readonly refusedUnsigned: number;
  close(): Promise<void>;
}

/** `storageOrigin`: where presigned links point, which the CSP names (as the stack's headers policy does). */
export async function serveCloudFront(o: { pageDir: string; app: () => LambdaApp; storageOrigin: string }): Promise<CloudFrontStandIn> {
  const front = synthesizePageFront(o.storageOrigin);
  const policy = policyHeaders(front.headersPolicy);
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const [key, type] of pageFiles) files.set(`/${key}`, { body: await readFile(join(o.pageDir, key)), type });
  let refusedUnsigned = 0;
  let domain = "127.0.0.1";

  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d));
    req.on("end", () => {
      void (async () => {
        const body = Buffer.concat(parts);
        const d = decide(front.config, req.method ?? "GET", req.url ?? "/");
        const headers = applyPolicy({ via: "1.1 standin.cloudfront.net (CloudFront)" }, policy);
        if (d.kind === "refuse") return res.writeHead(403, { ...headers, "content-type": "text/html" }).end("<h1>403 ERROR</h1>");
        if (d.origin.Id === "page") {
          const f = files.get(d.path);
          // The bucket lets CloudFront read objects only: a missing key is S3's 403.
          if (!f) return res.writeHead(403, { ...headers, "content-type": "application/xml" }).end("<Error><Code>AccessDenied</Code></Error>");
          return res.writeHead(200, { ...headers, "content-type": f.type, "cache-control": "no-cache", "content-length": String(f.body.length) }).end(req.method === "HEAD" ? undefined : f.body);
        }
        const signed = d.origin.Id !== "qbittorrent";
        if (signed && (body.length > 0 || ["POST", "PUT", "PATCH"].includes(req.method ?? ""))) {
          const sha = createHash("sha256").update(body).digest("hex");
          if (req.headers["x-amz-content-sha256"] !== sha) {
            refusedUnsigned++;
            return res.writeHead(403, { ...headers, "content-type": "application/json" })
              .end(JSON.stringify({ message: "The request signature we calculated does not match the signature you provided." }));
          }
        }
        // What reaches the function: the viewer's headers but Host and Authorization, plus CloudFront's
        // signature; the public qBittorrent function gets the viewer's Authorization and no signature.
        const raw: string[] = [];
        for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
          const k = req.rawHeaders[i]!.toLowerCase();
          if ((k !== "authorization" || !signed) && k !== "host") raw.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
        }
        if (signed) raw.push("authorization", "AWS4-HMAC-SHA256 Credential=ASIA/20261201/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=standin");
        const viewer = { url: req.url, method: req.method, rawHeaders: raw, headers: { cookie: req.headers.cookie, "content-type": req.headers["content-type"] } } as unknown as IncomingMessage;
        try {
          const event = toUrlEvent(viewer, body, domain);
          const r = (signed ? null : outsideQbittorrent(event)) ?? await o.app().http(event);
          const out = Buffer.from(r.body ?? "", r.isBase64Encoded ? "base64" : "utf8");
          // CloudFront's policy overrides what the origin sent for these headers.
          const own = Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
          const merged: Record<string, string | string[]> = { ...applyPolicy(own, policy), via: headers.via!, "content-length": String(out.length) };
          if (r.cookies?.length) merged["set-cookie"] = r.cookies;
          res.writeHead(r.statusCode, merged).end(out);
        } catch {
          res.writeHead(502, { ...headers, "content-type": "text/plain" }).end("502 Bad Gateway (the function failed)");
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  domain = `127.0.0.1:${port}`;
  return {
    url: `http://127.0.0.1:${port}`,
    get refusedUnsigned() { return refusedUnsigned; },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
