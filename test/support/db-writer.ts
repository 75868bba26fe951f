// A separate process writing to a job database: adds `count` requesters to one job through the registry,
// racing the other processes doing the same. Used by the job store's tests.
import { JobDb } from "../../lib/sqlite/job-db.ts";
import { withRequester } from "../../lib/job.ts";
import { JobRegistry } from "../../ingest/registry.ts";

const [path, id, who, count] = process.argv.slice(2) as [string, string, string, string];
const db = new JobDb({ path, retentionDays: 7 });
const registry = new JobRegistry(db, { maxAttempts: 200 });
await Promise.all(Array.from({ length: Number(count) }, (_, k) =>
  registry.update(id, (r) => r && { ...r, job: withRequester(r.job, { via: "discord", user: `${who}-${k}` }) })));
db.close();
