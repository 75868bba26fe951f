// A stand-in for the EC2 instance metadata service, IMDSv2 only (a session token first, as the launch
// template requires), on a loopback port: one per rehearsed instance. It serves what the user data, the
// AWS CLI and the SDK ask for: the instance id, the region, the role's credentials, and a spot notice
// once one is set.
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { motoAccount } from "./iam-calls.ts";

export interface ImdsOptions {
  instanceId: string;
  region: string;
  /** The instance profile's role name, and the credentials the instance gets for it. */
  role: { name: string; accessKeyId: string; secretAccessKey: string; sessionToken: string };
}

export interface Imds {
  /** The base URL, for T2S_IMDS_URL and AWS_EC2_METADATA_SERVICE_ENDPOINT. */
  url: string;
  /** Every path asked for, in order (with the answer's status). */
  requests: { method: string; path: string; status: number }[];
  /** Makes spot/instance-action answer with a notice (EC2's two minutes' warning). */
  spotNotice(action: "terminate" | "stop"): void;
  close(): Promise<void>;
}

export async function startImds(o: ImdsOptions): Promise<Imds> {
  const tokens = new Map<string, number>();
  const requests: Imds["requests"] = [];
  let notice: string | null = null;
  const meta = (path: string): string | undefined => {
    const creds = "/latest/meta-data/iam/security-credentials/";
    const now = new Date();
    const doc = { accountId: motoAccount, instanceId: o.instanceId, region: o.region, availabilityZone: `${o.region}a`, architecture: process.arch === "arm64" ? "arm64" : "x86_64" };
    switch (path) {
      case "/latest/meta-data/instance-id": return o.instanceId;
      case "/latest/meta-data/placement/region": return o.region;
      case "/latest/meta-data/placement/availability-zone": return doc.availabilityZone;
      case "/latest/dynamic/instance-identity/document": return JSON.stringify(doc);
      case "/latest/meta-data/spot/instance-action": return notice ?? undefined;
      case creds: return o.role.name;
      case creds + o.role.name: return JSON.stringify({
        Code: "Success", LastUpdated: now.toISOString(), Type: "AWS-HMAC",
        AccessKeyId: o.role.accessKeyId, SecretAccessKey: o.role.secretAccessKey, Token: o.role.sessionToken,
        Expiration: new Date(now.getTime() + 6 * 3600_000).toISOString(),
      });
      default: return undefined;
    }
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const answer = (status: number, body = "") => {
      requests.push({ method: req.method ?? "", path, status });
      res.writeHead(status, { "content-type": "text/plain" }).end(body);
    };
    if (req.method === "PUT" && path === "/latest/api/token") {
      const ttl = Number(req.headers["x-aws-ec2-metadata-token-ttl-seconds"]);
      if (!(ttl >= 1 && ttl <= 21600)) return answer(400);
      const token = randomBytes(24).toString("base64url");
      tokens.set(token, Date.now() + ttl * 1000);
      return answer(200, token);
    }
    if (req.method !== "GET") return answer(405);
    // IMDSv2 only: no valid token, 401.
    const until = tokens.get(String(req.headers["x-aws-ec2-metadata-token"] ?? ""));
    if (until === undefined || until < Date.now()) return answer(401);
    const body = meta(path);
    return body === undefined ? answer(404) : answer(200, body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    spotNotice: (action) => void (notice = JSON.stringify({ action, time: new Date(Date.now() + 120_000).toISOString().replace(/\.\d+Z$/, "Z") })),
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
