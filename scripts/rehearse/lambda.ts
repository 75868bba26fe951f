// Lambda as Lambda runs it, for the rehearsal: every function terraform applied into moto runs from the
// zip terraform uploaded, by its handler string, with its applied environment, memory and timeout, in
// child processes (lambda-runtime.ts): a cold start, then one event at a time per instance, with
// concurrent instances. moto stores functions but cannot run them (no Docker), so this also drives what
// would invoke them: SQS event source mappings, EventBridge schedules, SNS `lambda` subscriptions (from
// the real Publish calls, seen by moto's front) and function URLs (one loopback server each, AWS_IAM checked).
import { fork, type ChildProcess } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetFunctionCommand, GetFunctionUrlConfigCommand, LambdaClient, ListEventSourceMappingsCommand, ListFunctionsCommand, UpdateEventSourceMappingCommand, type FunctionConfiguration } from "@aws-sdk/client-lambda";
import { ListSubscriptionsCommand, SNSClient } from "@aws-sdk/client-sns";
import { DeleteMessageBatchCommand, GetQueueUrlCommand, ReceiveMessageCommand, SQSClient, type Message } from "@aws-sdk/client-sqs";
import { refusal, signRequest, type Keys, type Tap, type WireRequest } from "../local/moto-guard.ts";
import type { SqsBatchResult, UrlEvent, UrlResult } from "../../lib/aws/lambda-events.ts";
import { unzipTo } from "./unzip.ts";

/** The keys of a role session (moto's STS), as an instance gets them. */
export interface SessionKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Who a function URL caller is: their secret, and the identity the event's authorizer names. */
export interface UrlSigner {
  secretAccessKey: string;
  /** The caller's ARN (requestContext.authorizer.iam.userArn). */
  arn: string;
}

export interface LambdaRunnerOptions {
  /** moto (its front), and keys it takes: the runner reads the applied configuration and polls queues with them. */
  endpoint: string;
  keys: Keys;
  region?: string;
  /** Function name → the zip terraform uploaded (the `filename` in the state). Functions without one are not run. */
  zips: Record<string, string>;
  /** The credentials an instance of a function with this role gets. */
  credentialsFor: (roleArn: string) => SessionKeys | Promise<SessionKeys>;
  /** Added to every function's environment (endpoints such as AWS_ENDPOINT_URL). */
  env?: Record<string, string>;
  /** Each stdout and stderr line of an instance, and the runner's own reports (stream "runner"). */
  log: (fn: string, stream: "stdout" | "stderr" | "runner", line: string) => void;
  /** Instances per function at most, unless its reserved concurrency says less. Default 10. */
  concurrency?: number;
  /** A schedule's period in ms, given the applied one (default: as applied); the rehearsal may shorten it. */
  schedulePeriod?: (rule: string, appliedMs: number) => number;
  /** A function URL caller's secret by access key id, or undefined for an unknown key. */
  urlSigner?: (accessKeyId: string) => UrlSigner | undefined;
  /** moto's `tap` (moto.ts): SNS Publish calls to topics with a `lambda` subscription are delivered. */
  tap?: (tap: Tap) => () => void;
}

export interface FunctionUrl {
  /** The applied URL (https://<id>.lambda-url.<region>.on.aws/). */
  functionUrl: string;
  /** Where the stand-in serves it: http://127.0.0.1:<port>/ (a CloudFront stand-in's origin). */
  local: string;
  authType: string;
}

export interface LambdaStats {
  coldStarts: { fn: string; ms: number; initMs: number }[];
  invocations: Record<string, number>;
  errors: Record<string, number>;
}

export interface LambdaRunner {
  /** A synchronous invocation (RequestResponse): the handler's result, or its error thrown. */
  invoke(fn: string, event: unknown): Promise<unknown>;
  /** Function name → its URL stand-in. */
  urls: Record<string, FunctionUrl>;
  stats(): LambdaStats;
  /** Stops pollers, schedules, servers and instances (by PID, waiting for each to exit). */
  close(): Promise<void>;
}

/** An invocation that failed: the function's error as Lambda reports it (errorType, errorMessage). */
export class FunctionError extends Error {
  readonly fn: string;
  readonly errorType: string;
  constructor(fn: string, errorType: string, message: string) {
    super(`${fn}: ${errorType}: ${message}`);
    this.fn = fn;
    this.errorType = errorType;
  }
}

interface Instance {
  child: ChildProcess;
  exited: Promise<void>;
  /** Killed (timed out): never handed out again. */
  dead?: boolean;
  pending?: { id: string; settle: (r: { ok: true; result: unknown } | { ok: false; err: Error }) => void };
}

interface Fn {
  config: FunctionConfiguration;
  dir: string;
  limit: number;
  idle: Instance[];
  all: Set<Instance>;
  waiting: (() => void)[];
}

const runtime = join(import.meta.dirname, "lambda-runtime.ts");

export async function startLambdaRunner(o: LambdaRunnerOptions): Promise<LambdaRunner> {
  const region = o.region ?? "us-east-1";
  const aws = { region, endpoint: o.endpoint, credentials: o.keys };
  const lambda = new LambdaClient(aws);
  const sqs = new SQSClient(aws);
  const sns = new SNSClient(aws);
  const stop = new AbortController();
  const fns = new Map<string, Fn>();
  const stats: LambdaStats = { coldStarts: [], invocations: {}, errors: {} };
  const tasks = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    tasks.add(p);
    void p.finally(() => tasks.delete(p));
  };
  const cleanups: (() => Promise<void> | void)[] = [];
  const root = await mkdtemp(join(tmpdir(), "t2s-lambda-"));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  cleanups.push(() => [lambda, sqs, sns].forEach((c) => c.destroy()));
  const closeAll = async () => {
    stop.abort();
    // Instances first: what they were running fails (its records come back later), so no task waits long.
    for (const f of fns.values()) {
      f.waiting.splice(0).forEach((wake) => wake());
      await Promise.all([...f.all].map((i) => kill(i)));
    }
    await Promise.allSettled(tasks);
    for (const c of cleanups.reverse()) await c();
  };

  async function loadFunctions(): Promise<void> {
    const seen = new Set<string>();
    for await (const config of functions(lambda)) {
      const name = config.FunctionName!;
      const zipPath = o.zips[name];
      if (!zipPath) continue;
      const zip = await readFile(zipPath);
      const sha = createHash("sha256").update(zip).digest("base64");
      if (sha !== config.CodeSha256) throw new Error(`${name}: ${zipPath} is not the code moto has (sha256 ${sha}, applied ${config.CodeSha256})`);
      const dir = await mkdtemp(join(root, `${name}-`));
      await unzipTo(zip, dir);
      const reserved = (await lambda.send(new GetFunctionCommand({ FunctionName: name }))).Concurrency?.ReservedConcurrentExecutions;
      fns.set(name, { config, dir, limit: Math.min(reserved ?? Infinity, o.concurrency ?? 10), idle: [], all: new Set(), waiting: [] });
      stats.invocations[name] = 0;
      stats.errors[name] = 0;
      seen.add(name);
    }
    const unknown = Object.keys(o.zips).filter((n) => !seen.has(n));
    if (unknown.length) throw new Error(`zips given for functions moto does not have: ${unknown.join(", ")}`);
  }

  const byArn = (arn: string) => [...fns.values()].find((f) => f.config.FunctionArn === arn.replace(/:\$LATEST$/, "") || f.config.FunctionName === arn);

  async function spawn(f: Fn): Promise<Instance> {
    const c = f.config;
    const name = c.FunctionName!;
    const creds = await o.credentialsFor(c.Role!);
    if (stop.signal.aborted) throw new Error("the Lambda runner is closed");
    const memory = c.MemorySize ?? 128;
    const env: Record<string, string> = {
      // Nothing of the runner's own environment but PATH: the function sees what Lambda would give it.
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      ...c.Environment?.Variables,
      ...o.env,
      AWS_LAMBDA_FUNCTION_NAME: name,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memory),
      AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
      AWS_EXECUTION_ENV: `AWS_Lambda_${c.Runtime}`,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      LAMBDA_TASK_ROOT: f.dir,
      TZ: "UTC",
      AWS_ACCESS_KEY_ID: creds.accessKeyId,
      AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
      ...(creds.sessionToken ? { AWS_SESSION_TOKEN: creds.sessionToken } : {}),
    };
    const t0 = performance.now();
    // The heap gets most of MemorySize: the rest of the process needs some of it too.
    const child = fork(runtime, [f.dir, c.Handler!], {
      cwd: f.dir, env, execArgv: [`--max-old-space-size=${Math.floor(memory * 0.9)}`], stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    const inst: Instance = { child, exited: once(child, "exit").then(() => {}) };
    f.all.add(inst);
    for (const stream of ["stdout", "stderr"] as const) lines(child[stream]!, (l) => o.log(name, stream, l));
    void inst.exited.then(() => {
      f.all.delete(inst);
      f.idle = f.idle.filter((i) => i !== inst);
      inst.pending?.settle({ ok: false, err: new FunctionError(name, "Runtime.ExitError", `the instance exited (${child.exitCode ?? child.signalCode})`) });
      f.waiting.shift()?.();
    });
    child.on("message", (m: { type: string; id?: string; result?: unknown; error?: { errorType: string; errorMessage: string } }) => {
      if (m.id && m.id === inst.pending?.id) {
        const settle = inst.pending.settle;
        inst.pending = undefined;
        settle(m.type === "result" ? { ok: true, result: m.result } : { ok: false, err: new FunctionError(name, m.error!.errorType, m.error!.errorMessage) });
      }
    });
    const timeoutMs = (c.Timeout ?? 3) * 1000;
    const ready = new Promise<number>((resolve, reject) => {
      child.once("message", (m: { type: string; initMs?: number; error?: { errorType: string; errorMessage: string } }) =>
        m.type === "ready" ? resolve(m.initMs!) : reject(new FunctionError(name, m.error!.errorType, m.error!.errorMessage)));
      void inst.exited.then(() => reject(new FunctionError(name, "Runtime.ExitError", "the instance exited during init")));
    });
    // Settled by the race below, or rejected after losing it (an instance killed at its init timeout).
    ready.catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new FunctionError(name, "Sandbox.Timedout", `Init timed out after ${c.Timeout ?? 3}.00 seconds`)), timeoutMs);
    });
    try {
      const initMs = await Promise.race([ready, timedOut]);
      stats.coldStarts.push({ fn: name, ms: performance.now() - t0, initMs });
      return inst;
    } catch (err) {
      await kill(inst);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async function acquire(f: Fn): Promise<Instance> {
    for (;;) {
      if (stop.signal.aborted) throw new Error("the Lambda runner is closed");
      const idle = f.idle.pop();
      if (idle) return idle;
      if (f.all.size < f.limit) return spawn(f);
      await new Promise<void>((resolve) => f.waiting.push(resolve));
    }
  }

  function release(f: Fn, inst: Instance): void {
    if (f.all.has(inst) && !inst.dead && !stop.signal.aborted) f.idle.push(inst);
    f.waiting.shift()?.();
  }

  async function invoke(name: string, event: unknown): Promise<unknown> {
    const f = fns.get(name);
    if (!f) throw new Error(`${name}: no such function in the runner (not applied, or no zip given)`);
    stats.invocations[name]!++;
    try {
      const inst = await acquire(f);
      const id = randomUUID();
      const timeout = f.config.Timeout ?? 3;
      const outcome = await new Promise<{ ok: true; result: unknown } | { ok: false; err: Error }>((resolve) => {
        const timer = setTimeout(() => {
          inst.dead = true;
          inst.pending = undefined;
          resolve({ ok: false, err: new FunctionError(name, "Sandbox.Timedout", `Task timed out after ${timeout}.00 seconds`) });
          void kill(inst);
        }, timeout * 1000);
        const settle = (r: { ok: true; result: unknown } | { ok: false; err: Error }) => {
          clearTimeout(timer);
          resolve(r);
        };
        inst.pending = { id, settle };
        inst.child.send({ id, event, deadline: Date.now() + timeout * 1000, arn: f.config.FunctionArn }, (err) => {
          if (err) settle({ ok: false, err });
        });
      });
      release(f, inst);
      if (!outcome.ok) throw outcome.err;
      return outcome.result;
    } catch (err) {
      stats.errors[name]!++;
      o.log(name, "runner", `invocation failed: ${(err as Error).message}`);
      throw err;
    }
  }

  // SQS event source mappings. moto would invoke a mapping itself inside SendMessage (through Docker,
  // which fails here), receiving the messages and so counting receives toward the DLQ: the runner takes
  // the mappings over, disabled in moto while it runs.
  async function startMappings(): Promise<void> {
    for await (const m of mappings(lambda)) {
      const f = byArn(m.FunctionArn ?? "");
      if (!f || m.State !== "Enabled" || !m.EventSourceArn?.startsWith("arn:aws:sqs:")) continue;
      await lambda.send(new UpdateEventSourceMappingCommand({ UUID: m.UUID, Enabled: false }));
      cleanups.push(() => lambda.send(new UpdateEventSourceMappingCommand({ UUID: m.UUID, Enabled: true })).then(() => {}, () => {}));
      const [, , , , account, queue] = m.EventSourceArn.split(":");
      const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: queue, QueueOwnerAWSAccountId: account }));
      // Lambda polls a queue with the function's own role (which is why the role holds the queue grants).
      const roleCreds = await o.credentialsFor(f.config.Role!);
      const poller = new SQSClient({ ...aws, credentials: roleCreds });
      cleanups.push(() => poller.destroy());
      track(pollQueue({
        sqs: poller, name: f.config.FunctionName!, queueUrl: QueueUrl!, queueArn: m.EventSourceArn, batchSize: m.BatchSize ?? 10,
        windowMs: (m.MaximumBatchingWindowInSeconds ?? 0) * 1000, reportFailures: (m.FunctionResponseTypes ?? []).includes("ReportBatchItemFailures"),
        concurrency: Math.min(f.limit, m.ScalingConfig?.MaximumConcurrency ?? Infinity),
      }));
    }
  }

  async function pollQueue(p: { sqs: SQSClient; name: string; queueUrl: string; queueArn: string; batchSize: number; windowMs: number; reportFailures: boolean; concurrency: number }): Promise<void> {
    const inflight = new Set<Promise<void>>();
    while (!stop.signal.aborted) {
      if (inflight.size >= p.concurrency) {
        await Promise.race(inflight);
        continue;
      }
      const batch: Message[] = [];
      const until = Date.now() + p.windowMs;
      try {
        do {
          const wait = batch.length ? Math.max(0, Math.ceil((until - Date.now()) / 1000)) : 20;
          const got = await p.sqs.send(new ReceiveMessageCommand({
            QueueUrl: p.queueUrl, MaxNumberOfMessages: Math.min(10, p.batchSize - batch.length), WaitTimeSeconds: Math.min(20, wait),
            MessageSystemAttributeNames: ["All"], MessageAttributeNames: ["All"],
          }), { abortSignal: stop.signal });
          batch.push(...(got.Messages ?? []));
          if (!got.Messages?.length && batch.length) break;
        } while (batch.length < p.batchSize && Date.now() < until && !stop.signal.aborted);
      } catch (err) {
        if (stop.signal.aborted) break;
        o.log(p.name, "runner", `polling ${p.queueArn} failed: ${(err as Error).message}`);
        await sleep(1000, stop.signal);
        continue;
      }
      if (!batch.length) continue;
      const run = sqsBatch(p, batch).finally(() => inflight.delete(run));
      inflight.add(run);
    }
    await Promise.allSettled(inflight);
  }

  async function sqsBatch(p: { sqs: SQSClient; name: string; queueUrl: string; queueArn: string; reportFailures: boolean }, batch: Message[]): Promise<void> {
    const event = {
      Records: batch.map((m) => ({
        messageId: m.MessageId!, receiptHandle: m.ReceiptHandle!, body: m.Body ?? "", attributes: m.Attributes ?? {},
        messageAttributes: sqsAttributes(m), md5OfBody: m.MD5OfBody, eventSource: "aws:sqs", eventSourceARN: p.queueArn, awsRegion: region,
      })),
    };
    let done: Message[] = [];
    try {
      const result = await invoke(p.name, event);
      const failed = p.reportFailures ? (result as Partial<SqsBatchResult> | null)?.batchItemFailures ?? [] : [];
      const ids = new Set<string | undefined>(failed.map((x) => x?.itemIdentifier));
      // As Lambda: an identifier that names no record of the batch fails the whole batch.
      if ([...ids].some((id) => !batch.some((m) => m.MessageId === id))) o.log(p.name, "runner", "batchItemFailures names a record not in the batch: the whole batch fails");
      else done = batch.filter((m) => !ids.has(m.MessageId));
    } catch {
      // The records come back after the visibility timeout; the queue's redrive policy still applies.
    }
    for (let i = 0; i < done.length; i += 10) {
      const Entries = done.slice(i, i + 10).map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! }));
      await p.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: p.queueUrl, Entries })).catch((err: Error) => o.log(p.name, "runner", `deleting messages failed: ${err.message}`));
    }
  }

  // EventBridge schedules (rate expressions) that target a function.
  async function startSchedules(): Promise<void> {
    for (const rule of await eventsCall<{ Rules?: { Name: string; Arn: string; State?: string; ScheduleExpression?: string }[] }>(o, region, "ListRules", {}).then((r) => r.Rules ?? [])) {
      if (!rule.ScheduleExpression || rule.State === "DISABLED") continue;
      const { Targets = [] } = await eventsCall<{ Targets?: { Arn: string; Input?: string }[] }>(o, region, "ListTargetsByRule", { Rule: rule.Name });
      for (const target of Targets) {
        const f = byArn(target.Arn);
        if (!f) continue;
        const applied = ratePeriodMs(rule.ScheduleExpression);
        const period = o.schedulePeriod ? o.schedulePeriod(rule.Name, applied) : applied;
        const name = f.config.FunctionName!;
        const timer = setInterval(() => {
          if (stop.signal.aborted) return;
          const event = target.Input ? JSON.parse(target.Input) : {
            version: "0", id: randomUUID(), "detail-type": "Scheduled Event", source: "aws.events", account: rule.Arn.split(":")[4],
            time: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"), region, resources: [rule.Arn], detail: {},
          };
          // EventBridge invokes asynchronously: an error is logged (by invoke) and retried by nobody here.
          track(invoke(name, event).catch(() => {}));
        }, period);
        cleanups.push(() => clearInterval(timer));
      }
    }
  }

  // SNS topics with a `lambda` subscription: delivered from the real Publish calls, after moto accepted them.
  async function startSns(): Promise<void> {
    const lambdaSubs = new Map<string, { fn: string; subscriptionArn: string }[]>();
    for (const s of await subscriptions(sns)) {
      const f = s.Protocol === "lambda" ? byArn(s.Endpoint ?? "") : undefined;
      if (f) lambdaSubs.set(s.TopicArn!, [...(lambdaSubs.get(s.TopicArn!) ?? []), { fn: f.config.FunctionName!, subscriptionArn: s.SubscriptionArn! }]);
    }
    if (lambdaSubs.size && o.tap) {
      const off = o.tap((req) => {
        const publish = snsPublish(req);
        const subs = publish && lambdaSubs.get(publish.topicArn);
        if (!publish || !subs) return undefined;
        return (status, body) => {
          if (status !== 200 || stop.signal.aborted) return;
          const messageId = /<MessageId>([^<]+)<\/MessageId>|"MessageId"\s*:\s*"([^"]+)"/.exec(body.toString())?.slice(1).find(Boolean) ?? randomUUID();
          for (const s of subs) track(deliverSns(s.fn, s.subscriptionArn, publish, messageId));
        };
      });
      cleanups.push(off);
    } else if (lambdaSubs.size) {
      for (const [topic] of lambdaSubs) o.log("-", "runner", `${topic} has a lambda subscription but no tap was given: its messages are not delivered`);
    }
  }

  async function deliverSns(fn: string, subscriptionArn: string, p: SnsPublish, messageId: string): Promise<void> {
    const event = {
      Records: [{
        EventSource: "aws:sns", EventVersion: "1.0", EventSubscriptionArn: subscriptionArn,
        Sns: {
          Type: "Notification", MessageId: messageId, TopicArn: p.topicArn, Subject: p.subject ?? null, Message: p.message,
          Timestamp: new Date().toISOString(), SignatureVersion: "1", Signature: "", SigningCertUrl: "", UnsubscribeUrl: "", MessageAttributes: {},
        },
      }],
    };
    // An asynchronous invocation: Lambda retries a failed one twice.
    for (let attempt = 0; attempt < 3 && !stop.signal.aborted; attempt++) {
      if (await invoke(fn, event).then(() => true, () => false)) return;
    }
  }

  // Function URLs: one loopback server each.
  const urls: Record<string, FunctionUrl> = {};
  async function startUrls(): Promise<void> {
    for (const f of fns.values()) {
      const name = f.config.FunctionName!;
      const cfg = await lambda.send(new GetFunctionUrlConfigCommand({ FunctionName: name })).catch((err: Error) => {
        if (err.name === "ResourceNotFoundException") return undefined;
        throw err;
      });
      if (!cfg) continue;
      const server = createServer((req, res) => void serveUrl(name, cfg.AuthType ?? "NONE", new URL(cfg.FunctionUrl!).host, req, res));
      await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
      cleanups.push(() => closeServer(server));
      urls[name] = { functionUrl: cfg.FunctionUrl!, local: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, authType: cfg.AuthType ?? "NONE" };
    }
  }

  async function serveUrl(name: string, authType: string, domainName: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const body = await readAll(req);
      let caller: { accessKeyId: string; arn: string } | undefined;
      if (authType === "AWS_IAM") {
        const checked = await checkSigned(req, body, o.urlSigner);
        if ("status" in checked) return json(res, checked.status, checked.body);
        caller = checked;
      }
      const event = urlEvent(req, body, domainName, caller);
      let result: unknown;
      try {
        result = await invoke(name, event);
      } catch {
        return json(res, 502, { Message: "Internal Server Error" });
      }
      sendUrlResult(res, result);
    } catch {
      if (!res.headersSent) json(res, 400, { Message: "Bad Request" });
      else res.destroy();
    }
  }

  try {
    await loadFunctions();
    await startMappings();
    await startSchedules();
    await startSns();
    await startUrls();
  } catch (err) {
    await closeAll();
    throw err;
  }
  let closed: Promise<void> | undefined;
  return { invoke, urls, stats: () => structuredClone(stats), close: () => (closed ??= closeAll()) };
}

/** Stops an instance: SIGKILL, as Lambda does on a timeout, then waits for it to exit. */
async function kill(inst: Instance): Promise<void> {
  if (inst.child.exitCode === null && inst.child.signalCode === null) inst.child.kill("SIGKILL");
  await inst.exited;
}

async function* functions(lambda: LambdaClient): AsyncGenerator<FunctionConfiguration> {
  let Marker: string | undefined;
  do {
    const page = await lambda.send(new ListFunctionsCommand({ Marker }));
    yield* page.Functions ?? [];
    Marker = page.NextMarker;
  } while (Marker);
}

async function* mappings(lambda: LambdaClient) {
  let Marker: string | undefined;
  do {
    const page = await lambda.send(new ListEventSourceMappingsCommand({ Marker }));
    yield* page.EventSourceMappings ?? [];
    Marker = page.NextMarker;
  } while (Marker);
}

async function subscriptions(sns: SNSClient) {
  const all = [];
  let NextToken: string | undefined;
  do {
    const page = await sns.send(new ListSubscriptionsCommand({ NextToken }));
    all.push(...(page.Subscriptions ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  return all;
}

/** An EventBridge call (no EventBridge client is a dependency: it is one JSON request). */
async function eventsCall<T>(o: { endpoint: string; keys: Keys }, region: string, action: string, input: object): Promise<T> {
  const body = Buffer.from(JSON.stringify(input));
  const headers = { "content-type": "application/x-amz-json-1.1", "x-amz-target": `AWSEvents.${action}` };
  const signed = await signRequest({ method: "POST", host: new URL(o.endpoint).host, path: "/", headers, body }, o.keys, "events", region);
  const res = await fetch(`${o.endpoint}/`, { method: "POST", headers: signed, body });
  const text = await res.text();
  if (!res.ok) throw new Error(`events ${action}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

const rateUnits: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** The period of `rate(N unit)`; cron expressions are not rehearsed. */
export function ratePeriodMs(expression: string): number {
  const m = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(expression.trim());
  if (!m) throw new Error(`schedule ${expression}: only rate(N minute|hour|day) expressions are rehearsed`);
  return Number(m[1]) * rateUnits[m[2]!]!;
}

interface SnsPublish { topicArn: string; message: string; subject?: string }

/** An SNS Publish call, in the query protocol or JSON, or undefined for any other request. */
function snsPublish(req: WireRequest): SnsPublish | undefined {
  if (req.method !== "POST") return undefined;
  const target = req.headers["x-amz-target"] ?? "";
  if (target) {
    if (!target.endsWith(".Publish") || !/sns/i.test(target)) return undefined;
    const b = JSON.parse(req.body.toString() || "{}") as { TopicArn?: string; Message?: string; Subject?: string };
    return b.TopicArn ? { topicArn: b.TopicArn, message: b.Message ?? "", subject: b.Subject } : undefined;
  }
  if (!String(req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")) return undefined;
  const form = new URLSearchParams(req.body.toString());
  if (form.get("Action") !== "Publish" || !form.get("TopicArn")) return undefined;
  return { topicArn: form.get("TopicArn")!, message: form.get("Message") ?? "", subject: form.get("Subject") ?? undefined };
}

function sqsAttributes(m: Message): Record<string, object> {
  const out: Record<string, object> = {};
  for (const [k, v] of Object.entries(m.MessageAttributes ?? {})) {
    out[k] = { stringValue: v.StringValue, binaryValue: v.BinaryValue ? Buffer.from(v.BinaryValue).toString("base64") : undefined, stringListValues: [], binaryListValues: [], dataType: v.DataType };
  }
  return out;
}

const signatureMismatch = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/** The caller of a request to an AWS_IAM function URL, or the 403 AWS answers. */
async function checkSigned(req: IncomingMessage, body: Buffer, signer: LambdaRunnerOptions["urlSigner"]): Promise<{ accessKeyId: string; arn: string } | { status: number; body: object }> {
  const cred = /^AWS4-HMAC-SHA256 Credential=([^/,]+)\/\d{8}\/[^/,]+\/([^/,]+)\//.exec(String(req.headers.authorization ?? ""));
  if (!cred) return { status: 403, body: { Message: "Forbidden" } };
  const [, accessKeyId, service] = cred as unknown as [string, string, string];
  const who = signer?.(accessKeyId);
  if (!who) return { status: 403, body: { Message: "The security token included in the request is invalid." } };
  if (service !== "lambda") return { status: 403, body: { Message: `Credential should be scoped to correct service: 'lambda'.` } };
  const why = await refusal(req.method ?? "GET", req.url ?? "/", req.headers, body, { accessKeyId, secretAccessKey: who.secretAccessKey });
  return why ? { status: 403, body: { message: signatureMismatch } } : { accessKeyId, arn: who.arn };
}

/** Media types a function URL passes as text; any other body is base64-encoded. */
const textual = /^(text\/|application\/(json|javascript|xml|x-www-form-urlencoded|[\w.+-]+\+(json|xml))\b)/i;

function urlEvent(req: IncomingMessage, body: Buffer, domainName: string, caller?: { accessKeyId: string; arn: string }): UrlEvent {
  const url = new URL(req.url ?? "/", "http://x");
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && k !== "cookie") headers[k] = Array.isArray(v) ? v.join(",") : v;
  const cookies = req.headers.cookie?.split(/;\s*/).filter(Boolean);
  const binary = body.length > 0 && !textual.test(String(req.headers["content-type"] ?? ""));
  const now = new Date();
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = k in query ? `${query[k]},${v}` : v;
  // The whole payload 2.0 event, more than the services read (UrlEvent).
  const event = {
    version: "2.0" as const, routeKey: "$default", rawPath: url.pathname, rawQueryString: url.search.slice(1), cookies, headers,
    ...(url.search ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: caller ? caller.arn.split(":")[4] : "anonymous", apiId: domainName.split(".")[0], domainName, domainPrefix: domainName.split(".")[0],
      http: { method: req.method ?? "GET", path: url.pathname, protocol: `HTTP/${req.httpVersion}`, sourceIp: req.socket.remoteAddress ?? "", userAgent: req.headers["user-agent"] ?? "" },
      requestId: randomUUID(), routeKey: "$default", stage: "$default", time: now.toUTCString(), timeEpoch: now.getTime(),
      ...(caller ? { authorizer: { iam: { accessKey: caller.accessKeyId, accountId: caller.arn.split(":")[4], callerId: caller.accessKeyId, userArn: caller.arn } } } : {}),
    },
    ...(body.length ? { body: body.toString(binary ? "base64" : "utf8") } : {}),
    isBase64Encoded: binary,
  };
  return event;
}

/** A handler's answer as a function URL sends it: a result with a statusCode as given, anything else as JSON. */
function sendUrlResult(res: ServerResponse, result: unknown): void {
  const r = result as Partial<UrlResult> | null;
  if (!r || typeof r !== "object" || typeof r.statusCode !== "number") return json(res, 200, result);
  const body = r.body === undefined ? Buffer.alloc(0) : Buffer.from(r.body, r.isBase64Encoded ? "base64" : "utf8");
  const headers: Record<string, string | string[]> = { "content-type": "application/json", ...r.headers };
  if (r.cookies?.length) headers["set-cookie"] = r.cookies;
  res.writeHead(r.statusCode, { ...headers, "content-length": String(body.length) }).end(body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts);
}

function lines(stream: NodeJS.ReadableStream, each: (line: string) => void): void {
  let buf = "";
  stream.setEncoding("utf8");
  stream.on("data", (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      each(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  stream.on("end", () => buf && each(buf));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });
}
