// A Lambda function URL on loopback, for tests: each HTTP request becomes a payload v2.0 event for a
// LambdaApp (ingest/lambda.ts), and its result becomes the HTTP response, as AWS converts them. The
// whole response is buffered, as a function URL in BUFFERED mode does (so no event stream).
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { LambdaApp } from "../../ingest/lambda.ts";
import type { UrlEvent, UrlResult } from "../../lib/aws/lambda-events.ts";

/** Function URLs take at most 6 MB of request payload. */
const maxRequestBytes = 6 * 1024 * 1024;

/** Content AWS passes as text; anything else (or no type) arrives base64-encoded. */
const isText = (type: string | undefined) =>
  type !== undefined && /^(text\/|application\/(json|javascript|xml|x-www-form-urlencoded)|[^;]*\+(json|xml))/i.test(type);

export function toUrlEvent(req: IncomingMessage, body: Buffer, domainName: string): UrlEvent {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  const headers: Record<string, string> = {};
  // rawHeaders keeps repeats; AWS joins a repeated header's values with commas.
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const k = req.rawHeaders[i]!.toLowerCase();
    const v = req.rawHeaders[i + 1]!;
    if (k === "cookie") continue;
    headers[k] = k in headers ? `${headers[k]},${v}` : v;
  }
  const cookie = req.headers.cookie;
  const cookies = cookie ? cookie.split(/;\s*/).filter(Boolean) : undefined;
  const text = isText(req.headers["content-type"]);
  return {
    version: "2.0",
    // Both raw, as AWS gives them: the path still percent-encoded, the query string as sent.
    rawPath: q < 0 ? url : url.slice(0, q),
    rawQueryString: q < 0 ? "" : url.slice(q + 1),
    ...(cookies ? { cookies } : {}),
    headers,
    ...(body.length > 0 ? { body: text ? body.toString("utf8") : body.toString("base64"), isBase64Encoded: !text } : { isBase64Encoded: false }),
    requestContext: { http: { method: req.method ?? "GET" }, domainName },
  };
}

function send(res: ServerResponse, r: UrlResult): void {
  const headers: Record<string, string | string[]> = { ...r.headers };
  if (r.cookies?.length) headers["set-cookie"] = r.cookies;
  const body = Buffer.from(r.body ?? "", r.isBase64Encoded ? "base64" : "utf8");
  headers["content-length"] = String(body.length);
  res.writeHead(r.statusCode, headers);
  res.end(body);
}

/** Serves `app` on 127.0.0.1 at a free port; close() stops the server. */
export async function serveLambdaUrl(app: Pick<LambdaApp, "http" | "sqs" | "webhooks">): Promise<{ url: string; close(): Promise<void> }> {
  let domainName = "127.0.0.1";
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on("data", (d: Buffer) => {
      size += d.length;
      if (size <= maxRequestBytes) parts.push(d);
    });
    req.on("end", () => {
      if (size > maxRequestBytes) {
        res.writeHead(413, { "content-type": "application/json" }).end(JSON.stringify({ message: "Request must be smaller than 6291456 bytes for the InvokeFunction operation" }));
        return;
      }
      app.http(toUrlEvent(req, Buffer.concat(parts), domainName)).then(
        (r) => send(res, r),
        // What a function URL says when the function throws.
        () => { if (!res.headersSent) res.writeHead(502, { "content-type": "application/json" }).end(JSON.stringify({ message: "Internal Server Error" })); },
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  domainName = `127.0.0.1:${port}`;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
