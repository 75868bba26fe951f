// The job store's benchmark: AWS calls per request at 10 and 10,000 jobs (through a counting proxy in
// front of moto's DynamoDB), the time of one page at 10,000 jobs from a local ingest (on its SQLite
// file, and on moto's DynamoDB for comparison), and the facts one local ingest applies per second.
import { join } from "node:path";
import { SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { JobDb } from "../lib/sqlite/job-db.ts";
import type { Fact } from "../lib/messages.ts";
import { jobRecord, loadRecords } from "../test/support/job-tables.ts";
import { httpEvent, startStoreWorld, worldToken } from "../test/support/store-world.ts";
import { median } from "./stats.ts";

export interface StoreRun {
  callsAt10: Record<string, number>;
  callsAt10k: Record<string, number>;
  listMsP50At10k: number;
  listMsP50At10kMoto: number;
  factsPerS: number;
}

const progress = (id: string, at: string, p: number): Fact =>
  ({ v: 1, type: "progress", id, at, status: "downloading", name: "n", progress: p, size: 1000, downloaded: p * 1000, rate: 10, eta: 5 });

export async function storeRun(o: { facts: number; listRounds: number }): Promise<StoreRun> {
  const w = await startStoreWorld();
  let stopped = false;
  try {
    const calls: Record<number, Record<string, number>> = {};
    for (const n of [10, 10_000]) {
      const table = await w.newTable(`bench-${n}`);
      const now = Date.now();
      const recs = Array.from({ length: n }, (_, i) => jobRecord(new Date(now - (n - i) * 1000).toISOString()));
      await loadRecords(w.direct.dynamodb, table, recs);
      const { app, close } = await w.lambda(table);
      const count = async (call: () => Promise<unknown>) => {
        w.proxy.reset();
        await call();
        return w.proxy.total();
      };
      calls[n] = {
        list: await count(() => app.http(httpEvent("GET", "/api/jobs"))),
        fact: await count(() => app.sqs({ Records: [{ messageId: "m", body: JSON.stringify(progress(recs[0]!.job.id, new Date().toISOString(), 0.5)) }] })),
        post: await count(() => app.http(httpEvent("POST", "/api/jobs", { magnet: `magnet:?xt=urn:btih:${"e".repeat(40)}` }))),
      };
      close();
    }

    const pageMs = async (url: string) => {
      const ms: number[] = [];
      for (let i = 0; i < o.listRounds; i++) {
        const t = performance.now();
        const res = await fetch(`${url}/api/jobs`, { headers: { authorization: `Bearer ${worldToken}` } });
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`GET /api/jobs answered ${res.status}`);
        ms.push(performance.now() - t);
      }
      return median(ms);
    };
    const onMoto = await w.ingest({ table: "bench-10000" });
    const listMsP50At10kMoto = await pageMs(onMoto.url);
    await onMoto.proc.stop();

    // Local mode: the same 10,000 jobs in a SQLite file.
    const path = join(w.dir, "bench.db");
    const db = new JobDb({ path, retentionDays: 7 });
    const now = Date.now();
    for (let i = 0; i < 10_000; i++) await db.put(jobRecord(new Date(now - (10_000 - i) * 1000).toISOString()), null);
    const lister = await w.ingest({ db: path });
    const listMsP50At10k = await pageMs(lister.url);
    await lister.proc.stop();

    db.close();
    await w.stop();
    stopped = true;
    // Facts in a fresh moto: the 20,000 items above slow every moto call down, SQS's too, and this
    // measures ingest. Facts for 100 jobs are queued first (not timed); then an ingest starts, and the
    // clock runs until every job holds its last fact.
    const fw = await startStoreWorld();
    const fdb = new JobDb({ path: join(fw.dir, "facts.db"), retentionDays: 7 });
    const jobs: string[] = [];
    for (let i = 0; i < 100; i++) {
      const r = jobRecord(new Date().toISOString());
      jobs.push(r.job.id);
      await fdb.put(r, null);
    }
    const per = Math.ceil(o.facts / jobs.length);
    const base = Date.now();
    const facts = jobs.flatMap((id) => Array.from({ length: per }, (_, k) => progress(id, new Date(base + k).toISOString(), (k + 1) / per)));
    for (let i = 0; i < facts.length; i += 10) {
      await fw.direct.sqs.send(new SendMessageBatchCommand({
        QueueUrl: fw.aws.factsQueueUrl,
        Entries: facts.slice(i, i + 10).map((f, k) => ({ Id: String(k), MessageBody: JSON.stringify(f) })),
      }));
    }
    const started = performance.now();
    await fw.ingest({ db: join(fw.dir, "facts.db") });
    const last = new Date(base + per - 1).toISOString();
    try {
      for (;;) {
        const pending = (await Promise.all(jobs.map((id) => fdb.get(id)))).filter((v) => v?.rec.lastFactAt !== last).length;
        if (pending === 0) break;
        if (performance.now() - started > 300_000) throw new Error(`${pending} jobs still lack their last fact`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      fdb.close();
      await fw.stop();
    }
    const factsPerS = facts.length / ((performance.now() - started) / 1000);
    return { callsAt10: calls[10]!, callsAt10k: calls[10_000]!, listMsP50At10k, listMsP50At10kMoto, factsPerS };
  } finally {
    if (!stopped) await w.stop();
  }
}
