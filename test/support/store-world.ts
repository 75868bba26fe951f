// moto with what the ingest apps need (bucket, topics, a facts queue, job tables), a counting proxy in
// front of it, and Lambda app instances of ingest wired to it: for the job store's tests and benchmarks.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { CreateTopicCommand, SubscribeCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand, GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { awsClients, destroyClients, type AwsClients } from "../../lib/aws/clients.ts";
import type { AwsConfig } from "../../lib/config.ts";
import { createLogger } from "../../lib/log.ts";
import { createLambdaApp, type LambdaApp } from "../../ingest/lambda.ts";
import type { UrlEvent } from "../../lib/aws/lambda-events.ts";
import { loadWebFiles } from "../../ingest/web.ts";
import { startMoto, type Moto } from "../../scripts/local/moto.ts";
import { freePort, waitFor } from "../../scripts/local/net.ts";
import { repoRoot } from "../../scripts/local/paths.ts";
import { startProc, type Proc } from "../../scripts/local/proc.ts";
import { startCountingProxy, type CountingProxy } from "./counting-proxy.ts";
import { createJobTable } from "./job-tables.ts";
import { defaultPrices } from "../../lib/cost.ts";

export const worldToken = "store-world-token";
// moto takes any keys; these are not secrets.
const keys = { accessKeyId: "test", secretAccessKey: "test" };

export interface StoreWorld {
  moto: Moto;
  proxy: CountingProxy;
  /** Clients straight to moto (setup, checks): not counted. */
  direct: AwsClients;
  aws: AwsConfig;
  dir: string;
  newTable(name: string): Promise<string>;
  /** A new instance of the ingest Lambda app (its own clients, through the counting proxy). */
  lambda(table: string): Promise<{ app: LambdaApp; close(): void }>;
  /** A local ingest process (node:http, facts from the facts queue) on a table in moto or a SQLite file. */
  ingest(store: { table: string } | { db: string }, o?: { host?: string; env?: Record<string, string> }): Promise<{ proc: Proc; url: string }>;
  stop(): Promise<void>;
}

export const httpEvent = (method: string, path: string, body?: unknown): UrlEvent => {
  const [rawPath, rawQueryString] = path.split("?");
  return {
    version: "2.0", rawPath: rawPath!, rawQueryString: rawQueryString ?? "",
    headers: { authorization: `Bearer ${worldToken}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
    requestContext: { http: { method } },
  };
};

export async function startStoreWorld(): Promise<StoreWorld> {
  const dir = await mkdtemp(join(tmpdir(), "t2s-store-"));
  const moto = await startMoto({ logDir: dir });
  const proxy = await startCountingProxy(moto.endpoint);
  const direct = awsClients({ region: "us-east-1", endpoint: moto.endpoint }, keys);
  try {
    return await world(dir, moto, proxy, direct);
  } catch (err) {
    destroyClients(direct);
    await proxy.close();
    await moto.proc.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function world(dir: string, moto: Moto, proxy: CountingProxy, direct: AwsClients): Promise<StoreWorld> {
  const bucket = "t2s-store-world";
  await direct.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const topic = async (n: string) => (await direct.sns.send(new CreateTopicCommand({ Name: n }))).TopicArn!;
  const [requests, facts, updates] = await Promise.all([topic("requests"), topic("facts"), topic("updates")]);
  const factsQueue = (await direct.sqs.send(new CreateQueueCommand({ QueueName: "facts-ingest" }))).QueueUrl!;
  const factsQueueArn = (await direct.sqs.send(new GetQueueAttributesCommand({ QueueUrl: factsQueue, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
  await direct.sns.send(new SubscribeCommand({ TopicArn: facts, Protocol: "sqs", Endpoint: factsQueueArn, Attributes: { RawMessageDelivery: "true" } }));
  const webDir = join(dir, "web");
  await mkdir(webDir);
  for (const f of ["index.html", "app.js", "app.css"]) await writeFile(join(webDir, f), `/* ${f} */`);
  const web = await loadWebFiles(webDir);
  const aws: AwsConfig = {
    region: "us-east-1", endpoint: proxy.url, s3Endpoint: proxy.url, bucket, requestsTopicArn: requests, requestsQueueUrl: "", factsTopicArn: facts,
    factsQueueUrl: factsQueue, updatesTopicArn: updates, queueWaitS: 1,
  };
  const open: AwsClients[] = [];
  const procs: Proc[] = [];
  return {
    moto, proxy, direct, aws, dir,
    newTable: async (name) => {
      await createJobTable(direct.dynamodb, name);
      return name;
    },
    lambda: async (table) => {
      const clients = awsClients(aws, keys);
      open.push(clients);
      const app = createLambdaApp({
        cfg: {
          aws, apiToken: worldToken, signingSecret: "store-world-signing", publicUrl: "http://127.0.0.1:9",
          fetch: { allowHosts: new Set(), timeoutMs: 1000, maxRedirects: 0, maxBytes: 1 << 20 },
          linkTtlS: 300, linkDays: 7, rate: { perMinute: 1e6, burst: 1e6 }, jobs: { table, db: undefined, retentionDays: 7 }, webhooks: { queueUrl: undefined, retryBaseS: 10 },
          lease: { timeoutMs: 60_000, renewMs: 10_000, requestTimeoutMs: 900_000 }, sweep: { intervalMs: 60_000, limit: 100, stuckMs: 7_200_000 },
          // A budget far above what the tests spend: the guard reads the month on each submission but holds nothing.
          costs: { pricing: { prices: defaultPrices, perBox: 4, servedBy: "s3" }, budgetUsd: 1000, recheckMs: 600_000 },
        },
        clients, web, log: createLogger("ingest", { level: "error" }),
      });
      return { app, close: () => destroyClients(clients) };
    },
    ingest: async (store, o = {}) => {
      const port = await freePort();
      const url = `http://${o.host ?? "127.0.0.1"}:${port}`;
      const proc = startProc("ingest", process.execPath, [join(repoRoot, "ingest", "main.ts")], {
        logFile: join(dir, `ingest-${port}.log`),
        env: {
          ...process.env, AWS_ENDPOINT_URL: moto.endpoint, AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", AWS_SESSION_TOKEN: "",
          T2S_BUCKET: aws.bucket, T2S_REQUESTS_TOPIC_ARN: aws.requestsTopicArn, T2S_REQUESTS_QUEUE_URL: "unused", T2S_FACTS_TOPIC_ARN: aws.factsTopicArn,
          T2S_FACTS_QUEUE_URL: aws.factsQueueUrl, T2S_UPDATES_TOPIC_ARN: aws.updatesTopicArn, T2S_SQS_WAIT_S: "1",
          ...("table" in store ? { T2S_JOBS_TABLE: store.table } : { T2S_JOBS_DB: store.db }),
          T2S_PORT: String(port), T2S_API_TOKEN: worldToken, T2S_SIGNING_SECRET: "s", T2S_WEB_DIR: webDir, T2S_RATE_BURST: "100000", T2S_LOG_LEVEL: "warn",
          ...(o.host ? { T2S_HOST: o.host } : {}), ...o.env,
        },
      });
      procs.push(proc);
      await waitFor("ingest", async () => (await fetch(`${url}/healthz`)).ok, 30_000, proc.exited);
      return { proc, url };
    },
    stop: async () => {
      for (const p of procs) await p.stop();
      for (const c of open) destroyClients(c);
      destroyClients(direct);
      await proxy.close();
      await moto.proc.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
