// A loopback HTTP proxy in front of the AWS endpoint that counts each AWS call by service and operation,
// so tests and benchmarks can say what one request costs; and, for fault tests, refuses chosen calls.
import { createServer, request, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

export interface CountingProxy {
  url: string;
  /** Calls since the last reset, as "DynamoDB.GetItem", "SNS.Publish", "S3.GET" … */
  calls(): Record<string, number>;
  total(): number;
  reset(): void;
  close(): Promise<void>;
}

function operation(req: IncomingMessage, body: Buffer): string {
  const target = req.headers["x-amz-target"];
  if (typeof target === "string") {
    const [svc, op] = target.split(".");
    return `${svc?.startsWith("DynamoDB") ? "DynamoDB" : svc?.startsWith("AmazonSQS") ? "SQS" : svc}.${op}`;
  }
  const action = /(?:^|&)Action=([A-Za-z]+)/.exec(body.toString("latin1"))?.[1];
  if (action) return `${/sns/.test(String(req.headers.authorization)) ? "SNS" : "Query"}.${action}`;
  return `S3.${req.method}`;
}

/**
 * `refuse` picks calls to answer with a 500 (an AWS InternalFailure) instead of passing on; it sees the
 * operation and the body, e.g. a Publish to one topic.
 */
export async function startCountingProxy(target: string, o: { refuse?: (op: string, body: string) => boolean } = {}): Promise<CountingProxy> {
  const to = new URL(target);
  let counts: Record<string, number> = {};
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const op = operation(req, body);
      counts[op] = (counts[op] ?? 0) + 1;
      if (o.refuse?.(op, body.toString("utf8"))) {
        res.writeHead(500, { "content-type": "text/xml" });
        res.end("<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>refused by the test</Message></Error></ErrorResponse>");
        return;
      }
      const up = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on("error", () => res.destroy());
      up.end(body);
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    calls: () => ({ ...counts }),
    total: () => Object.values(counts).reduce((a, b) => a + b, 0),
    reset: () => { counts = {}; },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
