// A loopback forwarding proxy that shows each request and its status to an observer: the rehearsal puts
// it before the local S3 store, which moto's front never sees, to record the calls each role makes there.
// Bodies stream through (multipart parts are large); only the first MiB is kept for the observer, which
// is all a DeleteObjects body needs. The Host header goes on unchanged: the client signed it.
import { Agent, createServer, request } from "node:http";
import { listenLoopback } from "../local/net.ts";
import type { Observer } from "../local/moto-guard.ts";

const keptBytes = 1024 * 1024;

export interface RecordProxy {
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

/** Listens on loopback (`port`, or a free one) and forwards to `target` (http://127.0.0.1:PORT). */
export async function startRecordProxy(o: { target: string; observe: Observer; port?: number }): Promise<RecordProxy> {
  const target = new URL(o.target);
  const agent = new Agent({ keepAlive: true });
  const server = createServer((req, res) => {
    const kept: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      if (size < keptBytes) kept.push(chunk.subarray(0, keptBytes - size));
      size += chunk.length;
    });
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(",") : (v ?? "")]));
    const upstream = request({ hostname: target.hostname, port: target.port, agent, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.once("error", () => res.destroy());
      up.pipe(res);
    });
    upstream.once("error", () => {
      if (res.headersSent) res.destroy();
      else res.writeHead(502, { connection: "close" }).end();
    });
    res.once("close", () => {
      if (!res.writableFinished) upstream.destroy();
      o.observe({ method: req.method ?? "GET", host: headers.host ?? "", path: req.url ?? "/", headers, body: Buffer.concat(kept), status: res.statusCode });
    });
    req.pipe(upstream);
  });
  const listening = await listenLoopback(server, o.port, () => agent.destroy());
  return {
    endpoint: listening.url,
    port: listening.port,
    close: listening.close,
  };
}
