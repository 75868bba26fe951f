// Handles job requests from the requests queue: admit the job here (capacity, disk), take its lease, and
// add its torrent to Deluge. A request for a job another live seedbox holds, or one that has ended, is
// dropped: requests may come more than once (the sweeper, restarts, hand-backs).
import { join } from "node:path";
import type { Bucket } from "../lib/aws/bucket.ts";
import type { QueueMessage } from "../lib/aws/queue.ts";
import { AppError } from "../lib/errors.ts";
import { resolveSelection } from "../lib/file-selection.ts";
import { isTerminal } from "../lib/job.ts";
import { holder } from "../lib/job-record.ts";
import { filesPrefix, manifestKey } from "../lib/layout.ts";
import type { Logger } from "../lib/log.ts";
import { formatMagnet, parseMagnet } from "../lib/magnet.ts";
import { parseRequestMessage, PoisonMessage, type RequestMessage } from "../lib/messages.ts";
import { parseTorrent } from "../lib/torrent.ts";
import { filePriorities, TorrentRefused, type AddOptions, type Deluge } from "./deluge.ts";
import type { Facts } from "./facts.ts";
import { admit } from "../lib/lease.ts";
import type { Leases } from "./leases.ts";
import type { Monitor } from "./monitor.ts";
import { manifestFits } from "./uploader.ts";
import type { Work } from "./work.ts";

export interface RequestsDeps extends Admission {
  deluge: Deluge;
  bucket: Bucket;
  work: Pick<Work, "admit" | "room" | "stop" | "choose" | "get">;
  /** Looks at Deluge again once a torrent is added. */
  monitor: Pick<Monitor, "kick">;
  downloadDir: string;
  maxDownloadKiBs: number | undefined;
  /** Pieces in order, so overlapped upload has whole parts early. */
  sequential: boolean;
}

/** What deciding whether a job may be added here needs. */
export interface Admission {
  work: Pick<Work, "admit" | "room">;
  facts: Facts;
  log: Logger;
  leases: Leases;
  /** Jobs held at once at most (T2S_MAX_TORRENTS). */
  maxTorrents: number;
  /** Hand-backs for want of room before a job fails. */
  maxHandBacks: number;
  /** The largest room any seedbox has for one torrent (its disk less the reserve). */
  maxRoom: number;
}

export function requestsHandler(d: RequestsDeps): (msg: QueueMessage, signal: AbortSignal) => Promise<void> {
  const options = (id: string): AddOptions => ({
    // One folder per job, so names never collide; the files stay where they download. A move at the
    // finish took Deluge about 175 ms (most of finish → link), and pulled files from under the
    // overlapped upload's reads.
    download_location: join(d.downloadDir, id),
    move_completed: false,
    move_completed_path: join(d.downloadDir, id),
    add_paused: false,
    sequential_download: d.sequential,
    ...(d.maxDownloadKiBs !== undefined ? { max_download_speed: d.maxDownloadKiBs } : {}),
  });

  const add = async (req: Extract<RequestMessage, { type: "add" }>, signal: AbortSignal) => {
    const { id } = req;
    if (d.leases.holds(id)) {
      // Sent again when the job's selection widened: the wider one applies.
      d.work.choose(id, req.files ?? null);
      if (req.run) d.work.get(id).run = req.run;
      d.monitor.kick();
      return d.log.debug("request for a job held here already", { job: id });
    }
    const { bytes, uri, size, chosen } = await readSource(d, req, signal);
    // The job store says whether the job is still wanted: no record, or an ended job, and nothing happens.
    // (Checked after the request itself, so that a poison request still ends in the DLQ.)
    const rec = await d.leases.record(id);
    if (!rec) return d.log.warn("request for a job the store does not know; dropped", { job: id });
    if (isTerminal(rec.job.status)) return d.log.info("request for an ended job; dropped", { job: id, status: rec.job.status });
    // A duplicate of a job another live seedbox works on: not this seedbox's to admit, hand back or fail.
    const other = holder(rec, Date.now());
    if (other !== null && other !== d.leases.me) return d.log.info("request for a job another seedbox holds; dropped", { job: id, holder: other });
    // Uploaded already for this run and choice, and the fact lost (a restart before ingest applied it): say
    // so again, download nothing.
    if (manifestFits(await d.bucket.get(manifestKey(id), signal), id, req.run, req.files ?? null)) {
      d.log.info("request for a job whose files are up; reporting it uploaded", { job: id });
      return d.facts.uploaded(id);
    }
    // A magnet's size is known only once its metadata is in: the monitor checks the disk then.
    if (!(await admitHere(d, id, size, rec.handBacks ?? 0))) return;
    const taken = await d.leases.take(id);
    if (taken !== "taken") return d.log.info("request for a job this seedbox cannot take; dropped", { job: id, why: taken });
    let added: string | null;
    try {
      if (size !== null && !(await d.work.admit(id, size))) {
        // Another request took the room meanwhile.
        return await d.leases.handBack(id, { count: true, why: "no_room" });
      }
      const prio = chosen ? { file_priorities: filePriorities(chosen.count, chosen.indexes) } : {};
      added = bytes ? await d.deluge.addTorrentFile(`${id}.torrent`, bytes, { ...options(id), ...prio }, signal) : await d.deluge.addMagnet(uri!, options(id), signal);
    } catch (err) {
      // Let another seedbox (or this one, on redelivery) have it at once rather than after the lease runs out.
      await d.leases.release(id).catch(() => {});
      if (!(err instanceof TorrentRefused)) throw err;
      // No seedbox can ever add it: the job ends here, and the request is done (it is not poison).
      d.log.warn("deluge refused the torrent; failing the job", { job: id, reason: err.message });
      return d.facts.failed(id, "deluge_error", `Deluge refused this torrent${err.message ? `: ${err.message}` : ""}.`);
    }
    if (added && added !== id) d.log.warn("deluge named the torrent differently", { job: id, deluge: added });
    d.log.info(added ? "torrent added" : "torrent already in deluge", { job: id });
    // The monitor applies the choice once the metadata is in; a torrent Deluge had already (the job runs
    // again for more files) gets its files set again, all of them if nobody chose.
    if (req.files || !added) d.work.choose(id, req.files ?? null);
    // Added with every file wanted: that is the choice its files follow.
    else d.work.get(id).applied = { files: null };
    if (req.run) d.work.get(id).run = req.run;
    await d.facts.progress(id, { status: "queued", name: req.name, progress: 0, size: null, downloaded: 0, rate: 0, eta: null });
    d.monitor.kick();
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
    // Cancels reach the holder through its lease; a cancel message from before leases is for the holder only.
    if (req.type === "cancel") return d.leases.holds(req.id) ? removeCancelled(d, req.id, signal) : undefined;
    return add(req, signal);
  };
}

/** The request's torrent: the claim-checked .torrent (and its size) or the magnet. A bad one fails the job and is poison. */
async function readSource(
  d: Pick<RequestsDeps, "bucket" | "facts">, req: Extract<RequestMessage, { type: "add" }>, signal: AbortSignal,
): Promise<{ bytes: Buffer | null; uri: string | null; size: number | null; chosen?: { count: number; indexes: number[] } }> {
  const { id } = req;
  if (req.source.kind === "torrent") {
    const bytes = await d.bucket.get(req.source.key, signal);
    if (!bytes) {
      await d.facts.failed(id, "torrent_missing", "The stored .torrent file is gone; submit the torrent again.");
      throw new PoisonMessage(`claim-checked torrent ${req.source.key} is missing`, id);
    }
    try {
      const t = parseTorrent(bytes);
      if (t.infoHash !== id) throw new AppError("invalid_torrent", "The stored .torrent does not match this job.");
      if (!req.files) return { bytes, uri: null, size: t.size };
      // Only the chosen files take room on the disk (the monitor fails a choice that names none).
      const { indexes } = resolveSelection(req.files, t.files.map((f) => f.path.join("/")));
      const size = indexes.reduce((n, i) => n + t.files[i]!.length, 0);
      return { bytes, uri: null, size, ...(indexes.length > 0 ? { chosen: { count: t.files.length, indexes } } : {}) };
    } catch (err) {
      const message = err instanceof AppError ? err.message : "The stored .torrent file is not valid.";
      await d.facts.failed(id, "invalid_torrent", message);
      throw new PoisonMessage(message, id);
    }
  }
  try {
    const m = parseMagnet(req.source.uri);
    if (m.infoHash !== id) throw new AppError("invalid_magnet", "The magnet does not match this job.");
    return { bytes: null, uri: formatMagnet(m), size: null };
  } catch (err) {
    const message = err instanceof AppError ? err.message : "The magnet is not valid.";
    await d.facts.failed(id, "invalid_torrent", message);
    throw new PoisonMessage(message, id);
  }
}

/** Whether a job may be added here now (capacity, then disk); when not, it has been handed back or failed. */
async function admitHere(d: Admission, id: string, size: number | null, handBacks: number, held = d.leases.count()): Promise<boolean> {
  const a = admit({
    held, maxTorrents: d.maxTorrents, size, room: size === null ? 0 : await d.work.room(id),
    maxRoom: d.maxRoom, handBacks, maxHandBacks: d.maxHandBacks,
  });
  if (a.kind === "take") return true;
  if (a.kind === "fail") {
    d.log.warn("job fits no seedbox", { job: id, code: a.code });
    await d.facts.failed(id, a.code, a.message);
    await d.leases.release(id);
  } else {
    await d.leases.handBack(id, { count: a.count, why: a.why });
  }
  return false;
}

/** A held torrent turned out not to fit (a magnet, once its size is known); its torrent is gone already. */
export async function noRoom(d: Admission, id: string, bytes: number): Promise<void> {
  const rec = await d.leases.record(id);
  // Capacity is not the question here: only whether the disk of this or any seedbox can hold it.
  if (await admitHere(d, id, bytes, rec?.handBacks ?? 0, 0)) await d.leases.handBack(id, { count: true, why: "no_room" });
}

/** Removes a cancelled job: stops its upload, drops the torrent and its data, and its files in the bucket. */
export async function removeCancelled(
  d: { work: Pick<Work, "stop">; bucket: Bucket; facts: Facts; log: Logger }, id: string, signal?: AbortSignal,
): Promise<void> {
  await d.work.stop(id, signal ?? new AbortController().signal);
  // Nothing of a cancelled job stays in the bucket: open multipart uploads and parts already written.
  await d.bucket.abortUploads(filesPrefix(id));
  const removed = await d.bucket.deletePrefix(filesPrefix(id));
  await d.facts.cancelled(id);
  d.log.info("job cancelled", { job: id, objectsRemoved: removed });
}
