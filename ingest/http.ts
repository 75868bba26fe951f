// Serves the API handler over node:http: body cap, abort on disconnect, streamed event and download bodies.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { AppError, errorBody } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import type { Api, ApiResponse } from "./api.ts";

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
  if (head) {
    if (r.stream) Readable.from(r.stream).destroy();
    return void res.end();
  }
  if (r.stream) {
    // Back-pressure from the client paces the read from the store; a client that leaves ends both.
    return pipeline(r.stream, res).catch(() => {});
  }
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

/** Answers without reading the body, and lets the rest of it drain: closing mid-upload would make the client see a reset instead of the answer. */
function refuse(req: IncomingMessage, res: ServerResponse, r: ApiResponse): void {
  req.resume();
  res.writeHead(r.status, r.headers);
  res.end(r.body ?? "");
}

const mib = (n: number) => (n >= 1024 * 1024 ? `${n / 1024 / 1024} MiB` : `${n / 1024} KiB`);

/** Connections held open at once: in all, and from one address (idle keep-alive ones count too). */
export const connectionLimits = { total: 1024, perClient: 128 };

/** Past the limits a new connection is closed at once: one client cannot hold every socket. */
function limitConnections(server: Server, limits: typeof connectionLimits): void {
  server.maxConnections = limits.total;
  const open = new Map<string, number>();
  server.on("connection", (socket) => {
    const from = socket.remoteAddress ?? "unknown";
    const n = (open.get(from) ?? 0) + 1;
    if (n > limits.perClient) return void socket.destroy();
    open.set(from, n);
    socket.once("close", () => {
      const left = (open.get(from) ?? 1) - 1;
      if (left > 0) open.set(from, left);
      else open.delete(from);
    });
  });
}

export function serveHttp(api: Pick<Api, "handle" | "admit">, log: Logger, limits = connectionLimits): Server {
  const server = createServer((req, res) => {
    const ac = new AbortController();
    res.once("close", () => ac.abort());
    void (async () => {
      const url = new URL(req.url ?? "/", "http://localhost");
      const head = { method: req.method ?? "GET", path: url.pathname, query: url.searchParams, headers: headersOf(req), remote: req.socket.remoteAddress ?? "unknown" };
      // The route and the caller are checked on the headers: a stranger's body is never buffered.
      const admitted = api.admit(head);
      if (!("maxBody" in admitted)) return refuse(req, res, admitted);
      let body: Buffer;
      try {
        body = await readBody(req, admitted.maxBody);
      } catch (err) {
        const e = err instanceof BodyTooLarge
          ? new AppError("too_large", `The request body is larger than ${mib(admitted.maxBody)}.`)
          : new AppError("invalid_request", "The request body could not be read.");
        return refuse(req, res, { status: e.status, headers: { "content-type": "application/json; charset=utf-8" }, body: JSON.stringify(errorBody(e)) });
      }
      const r = await api.handle({ ...head, body, signal: ac.signal });
      await write(res, r, req.method === "HEAD");
    })().catch((err) => {
      log.error("response failed", { err });
      res.destroy();
    });
  });
  limitConnections(server, limits);
  return server;
}
