// A loopback HTTP server for URL submissions: serves .torrent files and misbehaves on purpose.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A POST that reached a webhook receiver path (/hook/...). */
export interface HookCall {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** What the receiver did with it. */
  answered: "200" | "500" | "drop";
}

export interface FileServer {
  base: string;
  host: string;
  put(path: string, body: Buffer): void;
  /** Every POST to /hook/..., in order. */
  hooks: HookCall[];
  /** How /hook/<path> answers its next POSTs (one entry each; then 200). */
  script(path: string, answers: ("500" | "drop")[]): void;
  close(): Promise<void>;
}

export async function startFileServer(): Promise<FileServer> {
  const files = new Map<string, Buffer>();
  const hooks: HookCall[] = [];
  const scripts = new Map<string, ("500" | "drop")[]>();
  let base = "";
  const srv: Server = createServer((req, res) => {
    const url = req.url ?? "/";
    if (req.method === "POST" && url.startsWith("/hook/")) {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const answer = scripts.get(url)?.shift() ?? "200";
        hooks.push({ path: url, headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), answered: answer });
        if (answer === "drop") return void req.socket.destroy(); // a connection reset mid-request
        res.writeHead(Number(answer), { "content-type": "text/plain" });
        res.end(answer === "200" ? "ok" : "boom");
      });
      return;
    }
    if (url === "/slow") {
      // Headers at once, then a byte a second: a fetch must give up on its own.
      res.writeHead(200, { "content-type": "application/x-bittorrent" });
      const t = setInterval(() => res.write("d"), 1000);
      res.on("close", () => clearInterval(t));
      return;
    }
    if (url === "/huge") {
      res.writeHead(200, { "content-type": "application/x-bittorrent" });
      const chunk = Buffer.alloc(1 << 20, 0x61);
      let sent = 0;
      const pump = () => {
        while (sent < 12 && res.write(chunk)) sent++;
        if (sent >= 12) res.end();
        else res.once("drain", () => { sent++; pump(); });
      };
      return pump();
    }
    if (url.startsWith("/redirect307?to=")) {
      req.resume();
      res.writeHead(307, { location: decodeURIComponent(url.slice("/redirect307?to=".length)) });
      return res.end();
    }
    if (url.startsWith("/redirect?to=")) {
      res.writeHead(302, { location: decodeURIComponent(url.slice("/redirect?to=".length)) });
      return res.end();
    }
    const body = files.get(url);
    if (!body) {
      res.writeHead(404);
      return res.end("not found");
    }
    res.writeHead(200, { "content-type": "application/x-bittorrent", "content-length": body.length });
    res.end(body);
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
  return {
    base,
    host: `127.0.0.1:${port}`,
    put: (path, body) => void files.set(path, body),
    hooks,
    script: (path, answers) => void scripts.set(path, [...answers]),
    close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(() => r()); }),
  };
}
