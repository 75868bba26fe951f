// Consumes the facts queue: seedbox facts and S3 manifest notifications become job changes. The notices
// they owe (job updates, webhook events) leave through the record's outbox (ingest/outbox.ts).
import { applyFact, complete, fail } from "../lib/job-record.ts";
import type { QueueMessage } from "../lib/aws/queue.ts";
import type { Bucket } from "../lib/aws/bucket.ts";
import type { Publish } from "../lib/aws/topic.ts";
import { RecordTooLarge } from "../lib/job-store.ts";
import { manifestKey } from "../lib/layout.ts";
import type { Logger } from "../lib/log.ts";
import { parseFactsQueueMessage, parseManifest, PoisonMessage } from "../lib/messages.ts";
import type { JobRegistry } from "./registry.ts";

export interface FactsDeps {
  registry: JobRegistry;
  bucket: Bucket;
  publishRequest: Publish;
  log: Logger;
  now: () => string;
  /** Days after which the bucket expires a job's files. */
  retentionDays: number;
}

export function factsHandler(d: FactsDeps): (msg: QueueMessage) => Promise<void> {
  const failPoison = async (err: PoisonMessage) => {
    if (!err.id) return;
    const error = { code: "poison_message", message: "A malformed message about this job could not be handled." };
    await d.registry.update(err.id, (r) => (r ? fail(r, error, d.now()) : null));
  };

  return async (msg) => {
    try {
      const m = parseFactsQueueMessage(msg.body);
      if (m.kind === "ignore") return void d.log.debug("ignored message", { why: m.why });
      if (m.kind === "manifest") {
        const raw = await d.bucket.get(manifestKey(m.id));
        if (!raw) throw new Error(`manifest of ${m.id} is not readable yet`);
        const manifest = parseManifest(raw.toString("utf8"), m.id);
        try {
          const rec = await d.registry.update(m.id, (r) => complete(r, manifest, d.now(), d.retentionDays));
          if (rec) d.log.info("job completed", { job: m.id, files: rec.files.length });
        } catch (err) {
          if (!(err instanceof RecordTooLarge)) throw err;
          d.log.warn("job has too many files for its record", { job: m.id, files: manifest.files.length });
          const error = { code: "too_many_files", message: `This torrent has ${manifest.files.length} files, too many to list; its files are in the bucket under files/${m.id}/data/.` };
          await d.registry.update(m.id, (r) => (r ? fail(r, error, d.now()) : null));
        }
        return;
      }
      const fact = m.fact;
      // A seedbox still working on a cancelled job hears of it through its lease (seedbox/leases.ts).
      const rec = await d.registry.update(fact.id, (r) => {
        if (!r) {
          d.log.warn("fact for an unknown job", { job: fact.id, type: fact.type });
          return null;
        }
        return applyFact(r, fact, d.now());
      });
      if (rec) d.log.debug("job updated", { job: fact.id, status: rec.job.status });
    } catch (err) {
      if (err instanceof PoisonMessage) await failPoison(err);
      throw err;
    }
  };
}
