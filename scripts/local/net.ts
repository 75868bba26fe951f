// Loopback ports and readiness waits for local components.
import { createServer } from "node:net";
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
