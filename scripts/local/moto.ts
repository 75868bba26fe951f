// moto server: the local AWS endpoint for queues and topics (SQS, SNS, ...) on loopback. State is in
// memory; the local stack restores it from a recording of the last apply (terraform.ts).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { freePort, waitFor } from "./net.ts";
import { venvBin } from "./paths.ts";
import { startProc, type Proc } from "./proc.ts";

export interface Moto {
  endpoint: string;
  port: number;
  proc: Proc;
}

export async function startMoto(o: { logDir: string; port?: number }): Promise<Moto> {
  const bin = venvBin("moto_server");
  if (!existsSync(bin)) throw new Error(`moto_server is missing at ${bin}: run "bash scripts/bootstrap.sh"`);
  const port = o.port ?? (await freePort());
  const proc = startProc("moto", bin, ["-H", "127.0.0.1", "-p", String(port)], {
    logFile: join(o.logDir, "moto.log"),
    // The recorder's file, written only while a recording runs, goes beside the logs, not into the cwd.
    env: { ...process.env, MOTO_ALLOW_NONEXISTENT_REGION: "false", MOTO_RECORDER_FILEPATH: join(o.logDir, "moto-recorder.jsonl") },
  });
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor("moto server", async () => (await fetch(`${endpoint}/moto-api/data.json`)).ok, 30_000, proc.exited);
  return { endpoint, port, proc };
}
