// A loopback TCP proxy that can be cut: the services reach the AWS endpoint through it, and a test
// makes that endpoint unreachable (refused connections, dropped sockets) and brings it back, or holds
// what the services send it (their requests hang, connected) until it lets them through.
import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { Transform } from "node:stream";

export interface TcpProxy {
  port: number;
  url: string;
  /** Drops every connection and refuses new ones. */
  cut(): Promise<void>;
  restore(): Promise<void>;
  /** Holds every byte the services send (connections stay open; their requests wait) until release(). */
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let held = false;
  const waiting = new Set<() => void>();
  let server: Server;
  const listen = (port: number) =>
    new Promise<Server>((resolve, reject) => {
      const srv = createServer((client) => {
        const upstream = connect(targetPort, "127.0.0.1");
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on("close", () => sockets.delete(s));
          s.on("error", () => { client.destroy(); upstream.destroy(); });
        }
        // Each chunk towards the endpoint passes the gate, which keeps it while the proxy holds.
        const gate = new Transform({
          transform(chunk, _enc, done) {
            if (!held) return done(null, chunk);
            const pass = () => (waiting.delete(pass), done(null, chunk));
            waiting.add(pass);
          },
        });
        client.pipe(gate).pipe(upstream).pipe(client);
      });
      srv.once("error", reject);
      srv.listen(port, "127.0.0.1", () => resolve(srv));
    });
  server = await listen(0);
  const port = (server.address() as AddressInfo).port;
  const closeServer = () => new Promise<void>((r) => server.close(() => r()));
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    cut: async () => {
      const closed = closeServer();
      for (const s of sockets) s.destroy();
      await closed;
    },
    restore: async () => {
      server = await listen(port);
    },
    hold: () => void (held = true),
    release: () => {
      held = false;
      for (const pass of [...waiting]) pass();
    },
    close: async () => {
      held = false;
      for (const pass of [...waiting]) pass();
      for (const s of sockets) s.destroy();
      if (server.listening) await closeServer();
    },
  };
}
