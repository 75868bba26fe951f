// Handles job requests from the requests queue: add a torrent to Deluge, or cancel one.
import { join } from "node:path";
import type { Bucket } from "../lib/aws/bucket.ts";
import type { QueueMessage } from "../lib/aws/queue.ts";
import { AppError } from "../lib/errors.ts";
import { filesPrefix } from "../lib/layout.ts";
import type { Logger } from "../lib/log.ts";
import { formatMagnet, parseMagnet } from "../lib/magnet.ts";
import { parseRequestMessage, PoisonMessage, type RequestMessage } from "../lib/messages.ts";
import { parseTorrent } from "../lib/torrent.ts";
import type { AddOptions, Deluge } from "./deluge.ts";
import type { Facts } from "./facts.ts";
import type { Monitor } from "./monitor.ts";

export interface RequestsDeps {
  deluge: Deluge;
  bucket: Bucket;
  facts: Facts;
  monitor: Monitor;
  downloadDir: string;
  completedDir: string;
  maxDownloadKiBs: number | undefined;
  /** Pieces in order, so overlapped upload has whole parts early. */
  sequential: boolean;
  log: Logger;
}

export function requestsHandler(d: RequestsDeps): (msg: QueueMessage, signal: AbortSignal) => Promise<void> {
  const options = (id: string): AddOptions => ({
    download_location: d.downloadDir,
    move_completed: true,
    // One folder per job: the watcher knows the job from the folder, and names never collide.
    move_completed_path: join(d.completedDir, id),
    add_paused: false,
    sequential_download: d.sequential,
    ...(d.maxDownloadKiBs !== undefined ? { max_download_speed: d.maxDownloadKiBs } : {}),
  });

  const add = async (req: Extract<RequestMessage, { type: "add" }>, signal: AbortSignal) => {
    const { id } = req;
    let added: string | null;
    if (req.source.kind === "torrent") {
      const bytes = await d.bucket.get(req.source.key, signal);
      if (!bytes) {
        await d.facts.failed(id, "torrent_missing", "The stored .torrent file is gone; submit the torrent again.");
        throw new PoisonMessage(`claim-checked torrent ${req.source.key} is missing`, id);
      }
      let size: number;
      try {
        const t = parseTorrent(bytes);
        if (t.infoHash !== id) throw new AppError("invalid_torrent", "The stored .torrent does not match this job.");
        size = t.size;
      } catch (err) {
        const message = err instanceof AppError ? err.message : "The stored .torrent file is not valid.";
        await d.facts.failed(id, "invalid_torrent", message);
        throw new PoisonMessage(message, id);
      }
      if (!(await d.monitor.admit(id, size))) {
        return d.facts.failed(id, "disk_full", "There is not enough free disk space on the seedbox for this torrent.");
      }
      added = await d.deluge.addTorrentFile(`${id}.torrent`, bytes, options(id), signal);
    } else {
      let uri: string;
      try {
        const m = parseMagnet(req.source.uri);
        if (m.infoHash !== id) throw new AppError("invalid_magnet", "The magnet does not match this job.");
        uri = formatMagnet(m);
      } catch (err) {
        const message = err instanceof AppError ? err.message : "The magnet is not valid.";
        await d.facts.failed(id, "invalid_torrent", message);
        throw new PoisonMessage(message, id);
      }
      added = await d.deluge.addMagnet(uri, options(id), signal);
    }
    if (added && added !== id) d.log.warn("deluge named the torrent differently", { job: id, deluge: added });
    d.log.info(added ? "torrent added" : "torrent already in deluge", { job: id });
    await d.facts.progress(id, { status: "queued", name: req.name, progress: 0, size: null, downloaded: 0, rate: 0, eta: null });
    d.monitor.kick();
  };

  const cancel = async (id: string, signal: AbortSignal) => {
    await d.monitor.cancel(id, signal);
    // Nothing of a cancelled job stays in the bucket: open multipart uploads and parts already written.
    await d.bucket.abortUploads(filesPrefix(id));
    const removed = await d.bucket.deletePrefix(filesPrefix(id));
    await d.facts.cancelled(id);
    d.log.info("job cancelled", { job: id, objectsRemoved: removed });
  };

  return async (msg, signal) => {
    let req: RequestMessage;
    try {
      req = parseRequestMessage(msg.body);
    } catch (err) {
      if (err instanceof PoisonMessage && err.id) {
        await d.facts.failed(err.id, "poison_message", `The request for this job could not be read: ${err.message}.`);
      }
      throw err;
    }
    if (req.type === "cancel") return cancel(req.id, signal);
    return add(req, signal);
  };
}
