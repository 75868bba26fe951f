// Serves the API handler over node:http: body cap, abort on disconnect, streamed event bodies.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { AppError, errorBody } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { maxBodyBytes, type ApiRequest, type ApiResponse } from "./api.ts";

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (declared > limit) throw new BodyTooLarge();
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) throw new BodyTooLarge();
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

function headersOf(req: IncomingMessage): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(req.headers)) out[k] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

async function write(res: ServerResponse, r: ApiResponse, head: boolean): Promise<void> {
  res.writeHead(r.status, r.headers);
  if (head) return void res.end();
  if (r.events) {
    // No flushHeaders: the headers go with the first chunk, once the stream is listening for changes.
    for await (const chunk of r.events) {
      // A client that goes away while its buffer is full never drains: stop on close too.
      if (!res.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => { res.off("drain", done); res.off("close", done); resolve(); };
          res.on("drain", done).on("close", done);
        });
      }
      if (res.destroyed) break;
    }
    return void res.end();
  }
  res.end(r.body ?? "");
}

export function serveHttp(handle: (req: ApiRequest) => Promise<ApiResponse>, log: Logger): Server {
  return createServer((req, res) => {
    const ac = new AbortController();
    res.once("close", () => ac.abort());
    void (async () => {
      const url = new URL(req.url ?? "/", "http://localhost");
      let body: Buffer;
      try {
        body = await readBody(req, maxBodyBytes);
      } catch (err) {
        const e = err instanceof BodyTooLarge
          ? new AppError("too_large", "The request body is larger than 16 MiB.")
          : new AppError("invalid_request", "The request body could not be read.");
        // Answer, and let the rest of the body drain: closing mid-upload would make the client see a
        // reset instead of the 413.
        req.resume();
        res.writeHead(e.status, { "content-type": "application/json; charset=utf-8" });
        res.end(JSON.stringify(errorBody(e)));
        return;
      }
      const r = await handle({ method: req.method ?? "GET", path: url.pathname, query: url.searchParams, headers: headersOf(req), body, signal: ac.signal });
      await write(res, r, req.method === "HEAD");
    })().catch((err) => {
      log.error("response failed", { err });
      res.destroy();
    });
  });
}
