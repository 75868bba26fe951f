// moto server: the local AWS endpoint for queues and topics (SQS, SNS, ...) on loopback. State is in
// memory; the local stack restores it from a recording of the last apply (terraform.ts).
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signRequest, startMotoGuard, type Keys, type Observer, type Tap } from "./moto-guard.ts";
import { freePort, waitFor } from "./net.ts";
import { venvBin } from "./paths.ts";
import { startProc, type Proc } from "./proc.ts";

export interface Moto {
  endpoint: string;
  port: number;
  proc: Proc;
  /** Adds a tap on the requests its front forwards (moto-guard.ts); the returned function removes it. */
  tap(tap: Tap): () => void;
}

/**
 * Starts moto on a Unix socket behind its front (moto-guard.ts), whose loopback port is the endpoint.
 * With `guard`, the socket is in `guard.dir` (made private) and the front forwards only requests signed
 * with `guard.keys` (or with role session keys `guard.sessions` knows); without it, the front takes any
 * request (for throwaway test instances). `observe` sees every request the front answers.
 */
export async function startMoto(o: {
  logDir: string;
  port?: number;
  guard?: { keys: Keys; dir: string; sessions?: (accessKeyId: string) => Keys | undefined };
  observe?: Observer;
  env?: Record<string, string>;
}): Promise<Moto> {
  const bin = venvBin("moto_server");
  if (!existsSync(bin)) throw new Error(`moto_server is missing at ${bin}: run "bash scripts/bootstrap.sh"`);
  const port = o.port ?? (await freePort());
  let socketDir: string;
  let ownTmp = false;
  if (o.guard) {
    await mkdir(o.guard.dir, { recursive: true, mode: 0o700 });
    await chmod(o.guard.dir, 0o700);
    socketDir = o.guard.dir;
  } else {
    [socketDir, ownTmp] = [await mkdtemp(join(tmpdir(), "t2s-moto-")), true];
  }
  // A socket's path is limited to 107 bytes: a long data folder gets a private one in the temp folder.
  if (join(socketDir, "moto.sock").length > 100) [socketDir, ownTmp] = [await mkdtemp(join(tmpdir(), "t2s-moto-")), true];
  const socketPath = join(socketDir, "moto.sock");
  const proc = startProc("moto", bin, ["-H", `unix://${socketPath}`, "-p", String(port)], {
    logFile: join(o.logDir, "moto.log"),
    // The recorder's file, written only while a recording runs, goes beside the logs, not into the cwd.
    env: { ...process.env, ...o.env, MOTO_ALLOW_NONEXISTENT_REGION: "false", MOTO_RECORDER_FILEPATH: join(o.logDir, "moto-recorder.jsonl") },
  });
  const cleanup = async () => {
    if (ownTmp) await rm(socketDir, { recursive: true, force: true });
  };
  const guard = await startMotoGuard({ socketPath, keys: o.guard?.keys, sessions: o.guard?.sessions, port, observe: o.observe }).catch(async (err) => {
    await proc.stop();
    await cleanup();
    throw err;
  });
  // The front lives as long as moto: stopping or killing moto closes it.
  void proc.exited.then(async () => {
    await guard.close();
    await cleanup();
  });
  const endpoint = guard.endpoint;
  const call = o.guard ? (path: string) => motoApi(endpoint, o.guard!.keys)(path, "GET") : (path: string) => fetch(`${endpoint}${path}`);
  await waitFor("moto server", async () => (await call("/moto-api/data.json")).ok, 30_000, proc.exited).catch(async (err) => {
    await proc.stop();
    throw err;
  });
  return { endpoint, port, proc, tap: guard.tap };
}

/** A call to moto's own API (/moto-api/...), signed with the stack's keys for its front. */
export function motoApi(endpoint: string, keys: Keys): (path: string, method?: string, body?: string) => Promise<Response> {
  return async (path, method = "POST", body) => {
    const host = new URL(endpoint).host;
    const buf = Buffer.from(body ?? "");
    const headers = await signRequest({ method, host, path, headers: {}, body: buf }, keys, "moto");
    return fetch(`${endpoint}${path}`, { method, headers, ...(method === "GET" ? {} : { body: buf }) });
  };
}

/** One request as moto's recorder keeps it (one JSON object a line). */
interface Recorded {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  body_encoded?: boolean;
}

/** What the recording's requests carried that signing replaces, or the transport sets. */
const unreplayed = new Set(["authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token", "host", "content-length", "transfer-encoding", "connection", "expect", "accept-encoding", "keep-alive"]);

/**
 * Replays a recording of moto's recorder against `endpoint`, each request signed again with `keys` (moto's
 * own replay resends the recorded signatures, which are stale, and made for another port). Sequential,
 * as recorded; moto's answers are not checked (they were not during the recording either), but a refusal
 * by the front is an error.
 */
export async function replayRecording(endpoint: string, keys: Keys, recording: string): Promise<number> {
  const host = new URL(endpoint).host;
  let n = 0;
  for (const line of recording.split("\n")) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as Recorded;
    const scope = /Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\//.exec(r.headers.Authorization ?? r.headers.authorization ?? "");
    if (!scope) continue;
    const url = new URL(r.url);
    const body = r.body_encoded ? Buffer.from(r.body ?? "", "base64") : Buffer.from(r.body ?? "");
    const kept = Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k.toLowerCase(), v]).filter(([k]) => !unreplayed.has(k!)));
    const path = url.pathname + url.search;
    const headers = await signRequest({ method: r.method, host, path, headers: kept, body }, keys, scope[2]!, scope[1]!);
    const res = await fetch(`${endpoint}${path}`, { method: r.method, headers, ...(r.method === "GET" || r.method === "HEAD" ? {} : { body }) });
    const text = await res.text();
    if (res.status === 403 && text.includes("local endpoint:")) throw new Error(`replaying moto's recording: the front refused request ${n + 1}: ${text}`);
    n++;
  }
  return n;
}
