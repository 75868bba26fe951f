// The job record and every change to it, each a named pure function: it gets the record and returns the
// new one, or null when it changes nothing. They may run again after a conflict, so they derive
// everything from their arguments. lib/job-update.ts is the one path that writes them, with the write
// rules below (`written`) applied to each.
import { covers, unionOf, type FileSelection } from "./file-selection.ts";
import { addDays, filesExpired, isTerminal, newJob, requeued, restarted, withRequester, type Job, type JobError, type Requester } from "./job.ts";
import { endRun, newRun, startRun, type RecordUsage } from "./cost.ts";
import { expired, leaseDefaults, type Lease, type LeaseTiming } from "./lease.ts";
import type { Fact, Manifest, RequestMessage, Source } from "./messages.ts";
import { eventId, maxCallbackUrls, maxPending, type PendingEvent, type WebhookEvent, type WebhookState } from "./webhook.ts";

export interface StoredFile {
  /** The original path, for display. */
  path: string;
  /** The safe path under files/<id>/data/. */
  key: string;
  size: number;
}

/** What the job store keeps of a job: the job and what ingest needs to order facts and serve links. */
export interface JobRecord {
  job: Job;
  lastFactAt: string | null;
  files: StoredFile[];
  /** The zip of all the files (files/<id>/all.zip), when the manifest lists one. */
  zip?: { size: number };
  /** When the job was last (re)queued: its files are created from then on, and expire from then. */
  queuedAt?: string;
  /** callback_urls and the outbox of events not yet queued for delivery (absent: no webhooks). */
  hooks?: WebhookState;
  /** The outbox's job update: the updatedAt of the change that owes the bot one; cleared once published. */
  update?: string;
  /**
   * A run's end (completed or failed) the bot was still owed when a later change (files deleted, the job
   * handed in again) replaced it: handed on before `update`, so that run's requester is still pinged.
   * Cleared once published.
   */
  ended?: Job;
  /** When the sweeper next delivers what the outbox holds, and its tries so far (absent: it holds nothing). */
  outbox?: { due: string; tries: number };
  /** The seedbox working on the job (lib/lease.ts); absent until one takes it. */
  lease?: Lease;
  /** When the sweeper looks at the open job again (dueOf). */
  due?: string;
  /** How often seedboxes gave the job back for want of room. */
  handBacks?: number;
  /** How often the sweeper requested the job again in this run (lost leases, unanswered requests). */
  requests?: number;
  /** Where the torrent comes from, so the job can be requested again (sweeper, hand-backs, restarts). */
  source?: Source;
  /** What the job used, for its cost (lib/cost.ts). */
  usage?: RecordUsage;
}

const iso = (ms: number) => new Date(ms).toISOString();
/** A change people see: the job changes, and its updatedAt with it. */
const shown = (rec: JobRecord, job: Partial<Job>, now: string): JobRecord => ({ ...rec, job: { ...rec.job, ...job, updatedAt: now } });

// ---- What the record says -------------------------------------------------------------------------

/** The seedbox holding the job now, or null (no lease, an expired or released one, or an ended job). */
export function holder(rec: JobRecord, nowMs: number): string | null {
  if (isTerminal(rec.job.status) || !rec.lease || expired(rec.lease, nowMs)) return null;
  return rec.lease.seedbox;
}

/**
 * When the sweeper should request the open job again; null for ended jobs. A job nobody has taken yet
 * waits the default request timeout from when it was queued.
 */
export function requestDue(rec: JobRecord): string | null {
  if (isTerminal(rec.job.status)) return null;
  return rec.due ?? rec.lease?.until ?? iso(Date.parse(rec.queuedAt ?? rec.job.createdAt) + leaseDefaults.requestTimeoutS * 1000);
}

/** What the sweeper logs for an overdue job open longer than the bound; the AWS stack's alarm counts these lines. */
export const stuckJobMessage = "job open past bound";

/** An open job handed in more than `boundMs` ago. */
export function openPastBound(rec: JobRecord, nowMs: number, boundMs: number): boolean {
  return !isTerminal(rec.job.status) && nowMs - Date.parse(rec.job.createdAt) > boundMs;
}

/**
 * When the sweeper should look at the job again (its index): the earlier of its request and its outbox.
 * null once the job has ended and its outbox is empty (it leaves the index).
 */
export function dueOf(rec: JobRecord): string | null {
  const req = requestDue(rec);
  const out = holds(rec) ? rec.outbox?.due ?? rec.job.updatedAt : null;
  if (req === null || out === null) return req ?? out;
  return out < req ? out : req;
}

/** The files the job fetches: what its requesters chose, together (null: every file). */
export function selectionOf(job: Job): FileSelection | null {
  return unionOf(job.requesters.map((r) => r.files));
}

/** The request that (re)starts a job; records from before sources were kept get a bare magnet. */
export function requestOf(rec: JobRecord): Extract<RequestMessage, { type: "add" }> {
  const { id, name } = rec.job;
  const source = rec.source ?? { kind: "magnet" as const, uri: `magnet:?xt=urn:btih:${id}&dn=${encodeURIComponent(name)}` };
  const files = selectionOf(rec.job);
  return { v: 1, type: "add", id, name, source, ...(files ? { files } : {}), ...(rec.queuedAt ? { run: rec.queuedAt } : {}) };
}

// ---- Submitting ---------------------------------------------------------------------------------

export interface JobSubmission {
  id: string;
  name: string;
  size: number | null;
  source: Source;
  requester: Requester;
  /** A checked callback_url, or null. */
  callback: string | null;
}

/** The record of a job handed in for the first time. */
export function newRecord(s: JobSubmission, now: string): JobRecord {
  const rec: JobRecord = { job: newJob({ id: s.id, name: s.name, size: s.size, requester: s.requester, now }), lastFactAt: null, files: [], queuedAt: now, source: s.source };
  return s.callback ? addCallback(rec, s.callback) : rec;
}

/** A failed, cancelled or expired job handed in again starts over from the new source; null for any other. */
export function resubmit(rec: JobRecord, source: Source, now: string): JobRecord | null {
  const job = requeued(rec.job, now);
  if (job === rec.job) return null;
  return startOver(rec, job, source, now);
}

/** A completed job whose requesters now want files it does not hold runs again for them; null for any other. */
export function runForMore(prev: JobRecord, rec: JobRecord, source: Source, now: string): JobRecord | null {
  if (rec.job.status !== "completed" || filesExpired(rec.job, now) || covers(selectionOf(prev.job), selectionOf(rec.job))) return null;
  return startOver(rec, restarted(rec.job, now), source, now);
}

const startOver = (rec: JobRecord, job: Job, source: Source, now: string): JobRecord => (
  { ...rec, job: { ...job, updatedAt: now }, files: [], zip: undefined, queuedAt: now, source, due: undefined, handBacks: 0, requests: 0, usage: newRun(rec) }
);

/** Adds a requester unless they already asked (null: nothing changes). */
export function addRequester(rec: JobRecord, r: Requester, now: string): JobRecord | null {
  const job = withRequester(rec.job, r);
  return job === rec.job ? null : { ...rec, job: { ...job, updatedAt: now } };
}

/** Adds a callback URL (deduplicated, at most a few); an ended job's event goes to it now. */
export function addCallback(rec: JobRecord, url: string): JobRecord {
  const hooks = rec.hooks ?? { urls: [], pending: [] };
  if (hooks.urls.includes(url)) return rec;
  const next = { ...rec, hooks: { ...hooks, urls: [...hooks.urls, url].slice(-maxCallbackUrls) } };
  const s = rec.job.status;
  if (s === "completed" || s === "failed" || s === "cancelled") return pend(next, { event: s, at: rec.job.updatedAt, url });
  return next;
}

export interface Submitted {
  /** The record to write; null: nothing changes. */
  rec: JobRecord | null;
  created: boolean;
  /** Whether the job (re)starts, so its request goes out. */
  request: boolean;
  /** A live job's selection changed: its request goes out again, for the seedbox holding it. */
  reselect: boolean;
}

/**
 * A submission: a new job, or the requester (and callback) added to the known one, which starts over if it
 * had ended, or if it completed without files this requester chose (the selection widens to the union).
 */
export function submitJob(cur: JobRecord | null, s: JobSubmission, now: string): Submitted {
  if (!cur) return { rec: newRecord(s, now), created: true, request: true, reselect: false };
  const again = resubmit(cur, s.source, now);
  const added = addRequester(again ?? cur, s.requester, now) ?? again ?? cur;
  const { rec: asked, more, reselect } = again ? { rec: added, more: false, reselect: false } : rechosen(cur, added, s.source, now);
  // A resubmitted job's events are of the new run: the hook is added after the status changed back.
  const next = s.callback ? addCallback(asked, s.callback) : asked;
  return { rec: next === cur ? null : next, created: false, request: again !== null || more, reselect };
}

/**
 * One requester's files set to exactly `files` (null: every file), narrower or wider: a qBittorrent
 * client's filePrio. The job's selection stays the union of every requester's.
 */
export function setChoice(cur: JobRecord, r: Requester, files: FileSelection | null, source: Source, now: string): Submitted {
  const i = cur.job.requesters.findIndex((q) => q.via === r.via && q.user === r.user);
  const { files: _old, ...base } = i >= 0 ? cur.job.requesters[i]! : r;
  const q: Requester = files ? { ...base, files } : base;
  const requesters = i >= 0 ? cur.job.requesters.map((x, j) => (j === i ? q : x)) : [...cur.job.requesters, q];
  // Their files as they were: nothing changes.
  if (i >= 0 && JSON.stringify(cur.job.requesters[i]) === JSON.stringify(q)) return { rec: null, created: false, request: false, reselect: false };
  const { rec, more, reselect } = rechosen(cur, { ...cur, job: { ...cur.job, requesters, updatedAt: now } }, source, now);
  return { rec, created: false, request: more, reselect };
}

/** After a change of requesters' files: a completed job lacking files runs again; a live one is requested again. */
function rechosen(cur: JobRecord, next: JobRecord, source: Source, now: string): { rec: JobRecord; more: boolean; reselect: boolean } {
  const more = runForMore(cur, next, source, now);
  const [was, is] = [selectionOf(cur.job), selectionOf(next.job)];
  const changed = !(covers(was, is) && covers(is, was));
  return { rec: more ?? next, more: more !== null, reselect: !more && !isTerminal(cur.job.status) && changed };
}

/** Where the bot shows the job to a requester (channel and message ids); null: they never asked for it. */
export function placeRequester(rec: JobRecord, r: Requester, now: string): JobRecord | null {
  const i = rec.job.requesters.findIndex((q) => q.via === r.via && q.user === r.user);
  if (i < 0) return null;
  return shown(rec, { requesters: rec.job.requesters.map((q, j) => (j === i ? { ...q, ...r } : q)) }, now);
}

// ---- Leases (lib/lease.ts has the timing) -------------------------------------------------------

export type TakeResult =
  | { ok: true; rec: JobRecord; lease: Lease }
  | { ok: false; why: "ended" | "held" };

/**
 * Takes a free or expired lease, or the seedbox's own (a restarted seedbox with a stable id), at the
 * next epoch. Shown (the job shows its seedbox): updatedAt moves, so the change feed carries it.
 */
export function takeLease(rec: JobRecord, seedbox: string, nowMs: number, t: LeaseTiming): TakeResult {
  if (isTerminal(rec.job.status)) return { ok: false, why: "ended" };
  const cur = rec.lease;
  if (cur && !expired(cur, nowMs) && cur.seedbox !== seedbox) return { ok: false, why: "held" };
  const lease: Lease = { seedbox, epoch: (cur?.epoch ?? 0) + 1, until: iso(nowMs + t.timeoutMs) };
  return { ok: true, lease, rec: { ...startRun(shown(rec, {}, iso(nowMs)), iso(nowMs)), lease, due: lease.until } };
}

export type RenewResult =
  | { kind: "renewed"; rec: JobRecord }
  | { kind: "fenced" }
  | { kind: "cancelled" }
  | { kind: "ended" };

/**
 * Renews the holder's lease. The epoch decides, not the clock: a late renewal still wins if nobody took
 * the job meanwhile. A cancelled or otherwise ended job is reported to the holder, which lets it go.
 * Not shown: the job (and its updatedAt) stays, so renewals do not flood the change feed.
 */
export function renewLease(rec: JobRecord | null, seedbox: string, epoch: number, nowMs: number, t: LeaseTiming): RenewResult {
  if (!rec) return { kind: "ended" };
  const cur = rec.lease;
  // Checked on the record as it is now, at every retry: a renewal that read the record before its own
  // release must not extend the lease again under the same epoch.
  if (!cur || cur.seedbox !== seedbox || cur.epoch !== epoch || cur.released) return { kind: "fenced" };
  if (rec.job.status === "cancelled") return { kind: "cancelled" };
  if (isTerminal(rec.job.status)) return { kind: "ended" };
  const lease: Lease = { ...cur, until: iso(nowMs + t.timeoutMs) };
  return { kind: "renewed", rec: { ...rec, lease, due: lease.until } };
}

/**
 * Releases the holder's lease (null: it is not the holder's any more, or the job ended: nothing to write).
 * An open job then waits a request timeout for a seedbox; a hand-back also counts towards the job's limit.
 */
export function releaseLease(rec: JobRecord | null, seedbox: string, epoch: number, nowMs: number, t: LeaseTiming, o: { handBack?: boolean } = {}): JobRecord | null {
  const cur = rec?.lease;
  if (!rec || !cur || cur.seedbox !== seedbox || cur.epoch !== epoch) return null;
  // An ended job's lease means nothing any more (nobody may take it): no write.
  if (isTerminal(rec.job.status)) return null;
  return {
    ...shown(rec, {}, iso(nowMs)),
    lease: { ...cur, until: iso(nowMs), released: true },
    due: iso(nowMs + t.requestTimeoutMs),
    ...(o.handBack ? { handBacks: (rec.handBacks ?? 0) + 1 } : {}),
  };
}

/** A job given back without being held (no room here): counts the hand-back, and the request goes out again. */
export function countHandBack(rec: JobRecord, nowMs: number, t: LeaseTiming): JobRecord {
  return { ...rec, handBacks: (rec.handBacks ?? 0) + 1, due: iso(nowMs + t.requestTimeoutMs) };
}

/**
 * The sweeper's rule: an open job whose lease ran out, or whose request went unanswered, is requested again,
 * up to `maxRequests` times in one run; after that it fails, so no job is requeued (and no seedbox booted
 * for it) without end. Null: not due.
 */
export function requestAgain(rec: JobRecord, nowMs: number, t: LeaseTiming): JobRecord | null {
  const due = requestDue(rec);
  if (due === null || Date.parse(due) > nowMs) return null;
  if (rec.lease && !expired(rec.lease, nowMs)) return null;
  const max = t.maxRequests ?? leaseDefaults.maxRequests;
  const requests = rec.requests ?? 0;
  if (requests >= max) {
    const hours = Math.round((max * t.requestTimeoutMs) / 3_600_000);
    return fail(rec, { code: "stalled", message: `No seedbox finished this job after ${max} requests (about ${hours} h); hand it in again to retry.` }, iso(nowMs));
  }
  return { ...rec, requests: requests + 1, due: iso(nowMs + t.requestTimeoutMs) };
}

// ---- The budget guard (lib/cost.ts decides) ----------------------------------------------------

/** A new job over the month's budget waits, unrequested; the sweeper looks again after `recheckMs`. */
export function holdForBudget(rec: JobRecord, nowMs: number, recheckMs: number): JobRecord {
  const due = iso(nowMs + recheckMs);
  return rec.job.reason === "budget" ? { ...rec, due } : { ...shown(rec, { reason: "budget" }, iso(nowMs)), due };
}

/** A held job goes out: its request is sent now and waits a request timeout for a seedbox (null: not held). */
export function releaseHold(rec: JobRecord, nowMs: number, t: LeaseTiming): JobRecord | null {
  if (rec.job.reason !== "budget" || isTerminal(rec.job.status)) return null;
  const { reason: _r, ...job } = rec.job;
  return { ...rec, job: { ...job, updatedAt: iso(nowMs) }, due: iso(nowMs + t.requestTimeoutMs) };
}

// ---- Facts and endings --------------------------------------------------------------------------

/** The job fails with a plain reason; null once it has ended. */
export function fail(rec: JobRecord, error: JobError, now: string): JobRecord | null {
  return isTerminal(rec.job.status) ? null : shown(rec, { status: "failed", rate: 0, eta: null, error }, now);
}

/** The job is cancelled; null once it has ended. */
export function cancel(rec: JobRecord, now: string): JobRecord | null {
  return isTerminal(rec.job.status) ? null : shown(rec, { status: "cancelled", rate: 0, eta: null }, now);
}

/** The person's own "delete now": a completed job's files expire at once (null: it has none left). */
export function deleteFiles(rec: JobRecord, now: string): JobRecord | null {
  if (rec.job.status !== "completed" || filesExpired(rec.job, now)) return null;
  return shown(rec, { expiresAt: now }, now);
}

/** The record after a fact, or null when the fact changes nothing (stale, or the job has ended). */
export function applyFact(rec: JobRecord, fact: Fact, now: string): JobRecord | null {
  const job = rec.job;
  if (isTerminal(job.status)) return null;
  if (rec.lastFactAt && fact.at < rec.lastFactAt) return null;
  let next: JobRecord;
  switch (fact.type) {
    case "progress":
      next = shown(rec, {
        status: fact.status,
        name: fact.name || job.name,
        progress: fact.progress,
        size: fact.size ?? job.size,
        downloaded: fact.downloaded,
        rate: fact.rate,
        eta: fact.eta,
      }, now);
      break;
    case "failed":
      next = fail(rec, fact.error, now)!;
      break;
    case "cancelled":
      next = cancel(rec, now)!;
      break;
  }
  return { ...next, lastFactAt: fact.at };
}

/**
 * Whether a manifest holds what a run wants: it is of that run (an earlier run's, read before it was
 * deleted, is not), and its files were chosen by a selection that covers `chosen` (one uploaded before a
 * requester widened the choice lacks their files; undefined: any will do). What a manifest does not say
 * (a seedbox that restarted) counts as fitting.
 */
export function manifestServes(m: Pick<Manifest, "run" | "chosen">, run: string | undefined, chosen: FileSelection | null | undefined): boolean {
  if (m.run && run && m.run !== run) return false;
  return chosen === undefined || m.chosen === undefined || covers(m.chosen, chosen);
}

/** The record once its manifest exists: the job is complete, with its files, which expire at `expiresAt`. */
export function applyManifest(rec: JobRecord, m: Manifest, now: string, expiresAt: string): JobRecord | null {
  if (rec.job.status === "completed" || rec.job.status === "cancelled") return null;
  // Not this run's, or not all the files chosen now: the seedbox uploads again (seedbox/monitor.ts).
  if (!manifestServes(m, rec.queuedAt, selectionOf(rec.job))) return null;
  const prefix = `files/${m.id}/data/`;
  const files = m.files.filter((f) => f.key.startsWith(prefix)).map((f) => ({ path: f.path, key: f.key.slice(prefix.length), size: f.size }));
  const size = files.reduce((n, f) => n + f.size, 0);
  const { zip: _old, ...base } = rec;
  return {
    ...shown(base, {
      name: m.name || rec.job.name,
      status: "completed",
      progress: 1,
      size,
      downloaded: size,
      rate: 0,
      eta: 0,
      error: null,
      files: files.map((f) => ({ path: f.path, size: f.size })),
      expiresAt,
    }, now),
    files,
    ...(m.zip ? { zip: { size: m.zip.size } } : {}),
  };
}

/**
 * The manifest consumer's change: completes the job, whose files the bucket expires `retentionDays` after
 * it was queued (their uploads start then). A manifest of a job whose record was lost still becomes a job.
 */
export function complete(cur: JobRecord | null, m: Manifest, now: string, retentionDays: number): JobRecord | null {
  const rec = cur ?? { job: newJob({ id: m.id, name: m.name, size: null, requester: { via: "api", user: "unknown" }, now }), lastFactAt: null, files: [] };
  return applyManifest(rec, m, now, addDays(rec.queuedAt ?? rec.job.createdAt, retentionDays));
}

// ---- The outbox ---------------------------------------------------------------------------------

function pend(rec: JobRecord, e: Omit<PendingEvent, "id">): JobRecord {
  const hooks = rec.hooks!;
  const p: PendingEvent = { id: eventId(rec.job.id, e.event, e.at), ...e };
  if (hooks.pending.some((x) => x.id === p.id && x.url === p.url)) return rec;
  return { ...rec, hooks: { ...hooks, pending: [...hooks.pending, p].slice(-maxPending) } };
}

const samePending = (a: PendingEvent, b: PendingEvent) => a.id === b.id && (a.url ?? "") === (b.url ?? "");

/** The events handed to the delivery queue leave the outbox (null: none of them is in it any more). */
export function clearSent(rec: JobRecord, sent: PendingEvent[]): JobRecord | null {
  const hooks = rec.hooks;
  if (!hooks?.pending.some((p) => sent.some((s) => samePending(p, s)))) return null;
  return { ...rec, hooks: { ...hooks, pending: hooks.pending.filter((p) => !sent.some((s) => samePending(p, s))) } };
}

/** Whether the outbox holds anything: an owed job update or webhook events. */
export function holds(rec: JobRecord): boolean {
  return rec.update !== undefined || rec.ended !== undefined || (rec.hooks?.pending.length ?? 0) > 0;
}

/** The owed update went out (null: it was not, or a newer change owes another since). */
export function updateSent(rec: JobRecord, at: string): JobRecord | null {
  if (rec.update !== at) return null;
  const { update: _sent, ...rest } = rec;
  return rest;
}

/** The owed run's end went out (null: it was not, or another is owed since). */
export function endedSent(rec: JobRecord, at: string): JobRecord | null {
  if (rec.ended?.updatedAt !== at) return null;
  const { ended: _sent, ...rest } = rec;
  return rest;
}

/** A grace before the sweeper delivers what a writer delivers at once; then the retries' first delay. */
export const outboxGraceS = 10;
/** The wait before the outbox's try `tries + 1`: doubling from the grace, at most 15 minutes. */
export function outboxDelayS(tries: number): number {
  return Math.min(900, outboxGraceS * 2 ** Math.min(10, tries));
}

/** The outbox could not deliver: the sweeper tries again later (null: it holds nothing any more). */
export function outboxRetry(rec: JobRecord, nowMs: number): JobRecord | null {
  if (!holds(rec)) return null;
  const tries = (rec.outbox?.tries ?? 0) + 1;
  return { ...rec, outbox: { due: iso(nowMs + outboxDelayS(tries) * 1000), tries } };
}

/**
 * A change the bot shows owes it a job update: a new status, a new requester, or files deleted by hand.
 * Progress is not owed: the next update or the final one carries it.
 */
function owesUpdate(prev: JobRecord | null, next: JobRecord): boolean {
  if (!prev) return true;
  const a = prev.job;
  const b = next.job;
  return a !== b && (a.status !== b.status || b.requesters.length > a.requesters.length || a.expiresAt !== b.expiresAt);
}

/** Whether `b` no longer shows `a`'s end of a run (a completion or a failure, which the bot pings). */
function endReplaced(a: Job, b: Job): boolean {
  return (a.status === "completed" || a.status === "failed") && (a.status !== b.status || a.expiresAt !== b.expiresAt);
}

/**
 * The outbox's own fields after a write: the owed update, and the sweeper's clock while it holds
 * anything. A new notice starts the clock afresh (tries 0: the writer hands it on at once).
 */
function noteOutbox(prev: JobRecord | null, next: JobRecord): JobRecord {
  const owed = owesUpdate(prev, next);
  let rec = owed ? { ...next, update: next.job.updatedAt } : next;
  // The update publishes the record as it is then: a run's end still owed (its publish failed) that this
  // change replaces would never reach the bot, and its requester would not be pinged for that run.
  if (owed && prev && prev.update !== undefined && rec.ended === undefined && endReplaced(prev.job, rec.job)) rec = { ...rec, ended: prev.job };
  if (!holds(rec)) {
    if (!rec.outbox) return rec;
    const { outbox: _empty, ...rest } = rec;
    return rest;
  }
  const events = (rec.hooks?.pending.length ?? 0) > (prev?.hooks?.pending.length ?? 0);
  if (rec.outbox && !owed && !events) return rec;
  return { ...rec, outbox: { due: iso(Date.parse(rec.job.updatedAt) + outboxGraceS * 1000), tries: 0 } };
}

/** Whether the writer should hand the outbox on now: it holds a new notice, not one the sweeper retries. */
export function freshNotice(rec: JobRecord): boolean {
  return holds(rec) && (rec.outbox?.tries ?? 0) === 0;
}

// ---- The write rules ------------------------------------------------------------------------------

/**
 * Each job's updatedAt goes up with every visible write, even when the writer's clock is behind the last
 * writer's: readers (the change feed, the page, the event stream) keep the copy with the newest updatedAt.
 */
export function rising(prev: JobRecord, next: JobRecord): JobRecord {
  if (next.job.updatedAt > prev.job.updatedAt) return next;
  return { ...next, job: { ...next.job, updatedAt: iso(Date.parse(prev.job.updatedAt) + 1) } };
}

/**
 * The record with an event added to its outbox when this write ends the job (or removes its files
 * early). Run on every write, so no path that ends a job can forget its webhook.
 */
export function noteTransition(prev: JobRecord | null, next: JobRecord): JobRecord {
  if (!next.hooks || next.hooks.urls.length === 0) return next;
  const s = next.job.status;
  if (isTerminal(s) && s !== "expired" && prev?.job.status !== s) {
    return pend(next, { event: s as WebhookEvent, at: next.job.updatedAt });
  }
  // Files deleted by hand: expiresAt moved to now, the job shows expired at once.
  const exp = next.job.expiresAt;
  if (s === "completed" && prev?.job.status === "completed" && exp && exp !== prev.job.expiresAt && exp <= next.job.updatedAt) {
    return pend(next, { event: "expired", at: exp });
  }
  return next;
}

/**
 * What a change writes: a visible change (one that made a new `job`) gets a rising updatedAt; a write
 * that ends the job queues its webhook event, and one the bot shows owes a job update, in the same write
 * (the outbox). Invisible changes (lease renewals, the sweeper's due times, the outbox) keep updatedAt.
 */
export function written(prev: JobRecord | null, next: JobRecord): JobRecord {
  const t = noteTransition(prev, prev && next.job !== prev.job ? rising(prev, next) : next);
  return noteOutbox(prev, isTerminal(t.job.status) && !(prev && isTerminal(prev.job.status)) ? endRun(t) : t);
}
