// Loopback ports and readiness waits for local components.
import type { Server } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { sleep } from "../../lib/time.ts";

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => srv.listen(0, "127.0.0.1", resolve).once("error", reject));
  const addr = srv.address();
  await new Promise((r) => srv.close(r));
  if (!addr || typeof addr === "string") throw new Error("no port");
  return addr.port;
}

/** Polls `probe` until it returns true, or fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000, exited?: Promise<unknown>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let dead = false;
  void exited?.then(() => (dead = true));
  while (Date.now() < deadline) {
    if (dead) throw new Error(`${what}: the process exited before it was ready`);
    if (await probe().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms`);
}

/** An HTTP server listening on loopback: its port, and a close that ends open connections (once). */
export interface Listening {
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function listenLoopback(server: Server, port = 0, onClose: () => void = () => {}): Promise<Listening> {
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, "127.0.0.1", resolve));
  const bound = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  return {
    port: bound,
    url: `http://127.0.0.1:${bound}`,
    close: () => (closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      onClose();
    })),
  };
}
