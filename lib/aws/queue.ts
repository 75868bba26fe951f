// A long-polling SQS consumer: bounded concurrency, visibility extended while a handler works,
// delete only on success, backoff on failure, and poison messages sent on toward the DLQ quickly.
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { Logger } from "../log.ts";
import { PoisonMessage } from "../messages.ts";
import { sleep } from "../time.ts";

export interface QueueMessage {
  messageId: string;
  body: string;
  /** 1 on first delivery. */
  receiveCount: number;
}

export type MessageHandler = (msg: QueueMessage, signal: AbortSignal) => Promise<void>;

export interface ConsumerOptions {
  sqs: SQSClient;
  queueUrl: string;
  handler: MessageHandler;
  log: Logger;
  signal: AbortSignal;
  concurrency?: number;
  visibilityTimeoutS?: number;
  waitTimeS?: number;
  /** Resolves when the consumer may take more work (e.g. Deluge is reachable). */
  ready?: (signal: AbortSignal) => Promise<void>;
}

/** Backoff for a failed message: grows with deliveries, with jitter so retries do not march in step. */
export function retryDelayS(receiveCount: number): number {
  const base = Math.min(300, 5 * 2 ** Math.min(6, receiveCount - 1));
  return Math.round(base / 2 + Math.random() * (base / 2));
}

export async function consumeQueue(o: ConsumerOptions): Promise<void> {
  const concurrency = o.concurrency ?? 4;
  const visibility = o.visibilityTimeoutS ?? 60;
  const inflight = new Set<Promise<void>>();
  let outage: { since: number } | null = null;

  const setVisibility = (handle: string, seconds: number) =>
    o.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: o.queueUrl, ReceiptHandle: handle, VisibilityTimeout: seconds }));

  const run = async (msg: QueueMessage, handle: string) => {
    const log = o.log.with({ messageId: msg.messageId, receiveCount: msg.receiveCount });
    const work = new AbortController();
    const stop = () => work.abort(o.signal.reason);
    o.signal.addEventListener("abort", stop, { once: true });
    const heartbeat = setInterval(() => {
      setVisibility(handle, visibility).catch((err) => log.warn("could not extend message visibility", { err }));
    }, (visibility * 1000) / 3);
    try {
      await o.handler(msg, work.signal);
      await o.sqs.send(new DeleteMessageCommand({ QueueUrl: o.queueUrl, ReceiptHandle: handle }));
    } catch (err) {
      let delay: number;
      if (o.signal.aborted) {
        delay = 0; // shutting down: hand the message straight back
        log.info("returning message on shutdown");
      } else if (err instanceof PoisonMessage) {
        delay = 0; // redelivered at once until the redrive policy moves it to the DLQ
        log.error("poison message", { err, job: err.id });
      } else {
        delay = retryDelayS(msg.receiveCount);
        log.warn("message failed; will retry", { err, retryInS: delay });
      }
      await setVisibility(handle, delay).catch((e) => log.warn("could not reset message visibility", { err: e }));
    } finally {
      clearInterval(heartbeat);
      o.signal.removeEventListener("abort", stop);
    }
  };

  while (!o.signal.aborted) {
    try {
      if (o.ready) await o.ready(o.signal);
      while (inflight.size >= concurrency) await Promise.race(inflight);
      // Not aborted on shutdown: a long poll cut short client-side can still take messages server-side,
      // hiding them for a whole visibility timeout. Let it finish and hand back what it brought.
      const out = await o.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: o.queueUrl,
          MaxNumberOfMessages: Math.min(10, concurrency - inflight.size),
          WaitTimeSeconds: o.waitTimeS ?? 20,
          VisibilityTimeout: visibility,
          MessageSystemAttributeNames: ["ApproximateReceiveCount"],
        }),
      );
      if (o.signal.aborted) {
        await Promise.all((out.Messages ?? []).map((m) => m.ReceiptHandle && setVisibility(m.ReceiptHandle, 0).catch(() => {})));
        break;
      }
      if (outage) {
        o.log.info("queue reachable again", { downForMs: Date.now() - outage.since });
        outage = null;
      }
      for (const m of out.Messages ?? []) {
        if (!m.ReceiptHandle) continue;
        const msg = { messageId: m.MessageId ?? "", body: m.Body ?? "", receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1) };
        const p = run(msg, m.ReceiptHandle).finally(() => inflight.delete(p));
        inflight.add(p);
      }
    } catch (err) {
      if (o.signal.aborted) break;
      if (!outage) {
        outage = { since: Date.now() };
        o.log.error("cannot receive from queue; retrying with backoff", { err });
      }
      await sleep(1000 + Math.random() * 2000, o.signal).catch(() => {});
    }
  }
  await Promise.allSettled(inflight);
}

/** Sends JSON messages to a queue, each with its own delay (SQS allows 0–900 s). */
export type SendMessage = (message: object, delayS: number) => Promise<void>;

export function queueSender(sqs: SQSClient, queueUrl: string): SendMessage {
  return async (message, delayS) => {
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(message), DelaySeconds: Math.max(0, Math.min(900, Math.round(delayS))) }));
  };
}

/** Messages in a queue, waiting or taken but not yet deleted (SQS's approximate counts). */
export async function queueDepth(sqs: SQSClient, queueUrl: string, signal?: AbortSignal): Promise<number> {
  const out = await sqs.send(new GetQueueAttributesCommand({
    QueueUrl: queueUrl, AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
  }), { abortSignal: signal });
  const a = out.Attributes ?? {};
  return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
}
