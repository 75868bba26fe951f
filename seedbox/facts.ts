// The facts the seedbox reports to ingest, stamped with the time they were observed.
import type { Publish } from "../lib/aws/topic.ts";
import type { JobErrorCode } from "../lib/job.ts";
import type { Fact, Progress, UploadedFact } from "../lib/messages.ts";

export class Facts {
  private readonly publish: Publish;
  private readonly now: () => string;
  constructor(publish: Publish, now: () => string) {
    this.publish = publish;
    this.now = now;
  }

  progress(id: string, p: Progress): Promise<void> {
    const fact: Fact = { v: 1, type: "progress", id, at: this.now(), ...p };
    return this.publish(fact);
  }

  failed(id: string, code: JobErrorCode, message: string): Promise<void> {
    const fact: Fact = { v: 1, type: "failed", id, at: this.now(), error: { code, message } };
    return this.publish(fact);
  }

  /** The manifest is written: the job is complete. Where S3 notifies too (AWS mode), ingest hears it twice. */
  uploaded(id: string): Promise<void> {
    const fact: UploadedFact = { v: 1, type: "uploaded", id, at: this.now() };
    return this.publish(fact);
  }

  cancelled(id: string): Promise<void> {
    const fact: Fact = { v: 1, type: "cancelled", id, at: this.now() };
    return this.publish(fact);
  }
}
