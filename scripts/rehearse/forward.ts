// Runs inside a rehearsed instance's network namespace (network.ts starts it): listens on each
// loopback port and pipes every connection to the host's Unix socket for it. Prints "ready" once all
// listen.
import { connect, createServer } from "node:net";

const routes = JSON.parse(process.argv[2] ?? "[]") as { port: number; socket: string }[];
await Promise.all(routes.map((r) => new Promise<void>((resolve, reject) => {
  createServer((c) => {
    const up = connect(r.socket);
    c.on("error", () => up.destroy());
    up.on("error", () => c.destroy());
    c.pipe(up).pipe(c);
  }).once("error", reject).listen(r.port, "127.0.0.1", resolve);
})));
console.log("ready");
process.once("SIGTERM", () => process.exit(0));
