// A network namespace of its own for each rehearsed instance, with nothing but a loopback: what runs in
// it (Deluge's DHT, its listening ports) reaches no other address and binds nothing beside the host's
// services, and instances do not collide on the units' fixed ports. What it may reach is forwarded
// into it on the same loopback ports as on the host (the stand-ins: moto, the store, the metadata
// service) through Unix sockets, and an egress proxy lets through only the Debian archive and PyPI,
// recording every host asked for.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer as createHttpServer, request, type Server as HttpServer } from "node:http";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { run } from "../local/proc.ts";

/** The proxy's port inside the namespace (nothing else listens there). */
export const egressPort = 3128;

export interface InstanceNetwork {
  /** For systemd-nspawn --network-namespace-path. */
  nsPath: string;
  /** The environment that sends apt, pip and curl through the egress proxy (loopback goes direct). */
  proxyEnv: Record<string, string>;
  /** Every host the instance asked the proxy for, and whether it was let through. */
  egress: { host: string; allowed: boolean }[];
  close(): Promise<void>;
  /** For a process exit: synchronous and best-effort. */
  closeSync(): void;
}

const pipeBoth = (a: Socket, b: Socket) => {
  a.on("error", () => b.destroy());
  b.on("error", () => a.destroy());
  a.pipe(b).pipe(a);
};

export async function instanceNetwork(o: { name: string; forward: number[]; allowHosts: string[] }): Promise<InstanceNetwork> {
  const ns = o.name.slice(0, 15);
  const dir = await mkdtemp(join(tmpdir(), "t2s-rehearse-net-"));
  const servers: (Server | HttpServer)[] = [];
  const egress: InstanceNetwork["egress"] = [];
  let forwarder: ChildProcess | undefined;
  const allowed = (host: string) => {
    const ok = o.allowHosts.includes(host.toLowerCase());
    egress.push({ host, allowed: ok });
    return ok;
  };
  const listen = (s: Server | HttpServer, path: string) => new Promise<void>((resolve, reject) => {
    servers.push(s);
    s.once("error", reject).listen(path, () => resolve());
  });
  const closeSync = () => {
    forwarder?.kill("SIGKILL");
    for (const s of servers) s.close();
    spawnSync("ip", ["netns", "del", ns]);
  };
  const close = async () => {
    forwarder?.kill("SIGTERM");
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await run("ip", ["netns", "del", ns]).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await run("ip", ["netns", "add", ns]);
    await run("ip", ["-n", ns, "link", "set", "lo", "up"]);
    const routes: { port: number; socket: string }[] = [];
    // The host's side of each forwarded port: a Unix socket (those cross namespaces) to 127.0.0.1:port.
    for (const port of o.forward) {
      const socket = join(dir, `${port}.sock`);
      await listen(createServer((c) => pipeBoth(c, connect(port, "127.0.0.1"))), socket);
      routes.push({ port, socket });
    }
    // The egress proxy: CONNECT to port 443, or a plain HTTP request (apt), to an allowed host only.
    const proxy = createHttpServer((req, res) => {
      let url: URL;
      try {
        url = new URL(req.url ?? "");
      } catch {
        return void res.writeHead(400).end();
      }
      if (url.protocol !== "http:" || !allowed(url.hostname)) return void res.writeHead(403).end();
      const up = request({ host: url.hostname, port: url.port || 80, path: url.pathname + url.search, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on("error", () => res.destroy());
      req.pipe(up);
    });
    proxy.on("connect", (req, sock: Socket, head: Buffer) => {
      const [host = "", port = ""] = (req.url ?? "").split(":");
      if (port !== "443" || !allowed(host)) return void sock.end("HTTP/1.1 403 Forbidden\r\n\r\n");
      const up = connect(443, host, () => {
        sock.write("HTTP/1.1 200 Connection Established\r\n\r\n");
        up.write(head);
        pipeBoth(sock, up);
      });
      up.on("error", () => sock.destroy());
      sock.on("error", () => up.destroy());
    });
    const proxySocket = join(dir, "egress.sock");
    await listen(proxy, proxySocket);
    routes.push({ port: egressPort, socket: proxySocket });
    // The namespace's side: one process in it listening on each loopback port.
    forwarder = spawn("ip", ["netns", "exec", ns, process.execPath, join(import.meta.dirname, "forward.ts"), JSON.stringify(routes)], { stdio: ["ignore", "pipe", "inherit"] });
    const fw = forwarder;
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: fw.stdout! }).once("line", (l) => (l === "ready" ? resolve() : reject(new Error(`forwarder: ${l}`))));
      fw.once("exit", (code) => reject(new Error(`the forwarder into ${ns} ended (${code})`)));
    });
  } catch (err) {
    closeSync();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const proxyUrl = `http://127.0.0.1:${egressPort}`;
  const noProxy = "127.0.0.1,localhost";
  return {
    nsPath: `/run/netns/${ns}`,
    proxyEnv: { http_proxy: proxyUrl, https_proxy: proxyUrl, HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl, no_proxy: noProxy, NO_PROXY: noProxy },
    egress,
    close,
    closeSync,
  };
}
