// Job updates → Discord: one status message per job per Discord requester, edited at most once per
// interval (completion and failure at once), and a ping with the links when the job ends.
// What it keeps in memory is a cache: the message id and the ping also live in the job's requester
// entry, so an update delivered twice (delivery is at least once), to another instance or after a
// restart, edits the one message and pings no more.
import { isTerminal, type Job, type Requester } from "../lib/job.ts";
import type { Logger } from "../lib/log.ts";
import type { Chat } from "./discord.ts";
import { isPermanent, isUnknownMessage } from "./discord.ts";
import type { IngestClient } from "./ingest-client.ts";
import { pingText, statusText } from "./status.ts";

interface Shown {
  channelId: string;
  messageId: string | null;
  lastContent: string;
  lastEditAt: number;
  updatedAt: string;
  /** The end pinged (endOf), or null: a repeat of that end pings no more, a later run's end does. */
  pinged: string | null;
  /** Shown in a direct message because the channel refused the bot. */
  dm: boolean;
  pending: Job | null;
  timer: NodeJS.Timeout | null;
}

export interface BoardOptions {
  chat: Chat;
  ingest: Pick<IngestClient, "setRequester" | "get">;
  publicUrl: string;
  editIntervalMs: number;
  log: Logger;
  now?: () => number;
  /** Entries kept in memory; the oldest go first (they are rebuilt from the requester entries). */
  maxEntries?: number;
  /**
   * false on Lambda: an edit due within the interval is dropped, not put off with a timer (a frozen
   * instance's timer could fire much later and show an older state than another instance has shown).
   * The next update, and the final one (always at once), show the job.
   */
  deferEdits?: boolean;
}

type DiscordRequester = Requester & { via: "discord"; channelId: string };

/**
 * Which end of a job this is: a run's completion has its own expiry (its files expire a set time after
 * the run was queued), so a job handed in again ends anew even when the updates in between were never
 * seen (they arrive in any order). A failure is told apart by its reason.
 */
const endOf = (job: Job) => `${job.status}:${job.expiresAt ?? ""}:${job.error?.code ?? ""}`;

export class StatusBoard {
  readonly #o: BoardOptions;
  readonly #now: () => number;
  readonly #shown = new Map<string, Shown>();
  readonly #locks = new Map<string, Promise<void>>();

  constructor(o: BoardOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  /** Shows a job to each of its Discord requesters. Throws only for failures worth retrying. */
  async show(job: Job): Promise<void> {
    const rs = job.requesters.filter((r): r is DiscordRequester => r.via === "discord" && typeof r.channelId === "string");
    const results = await Promise.allSettled(rs.map((r) => this.#serial(`${job.id}:${r.user}`, () => this.#showOne(job, r))));
    const failed = results.find((x) => x.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /** Stops pending edits (on shutdown). */
  close(): void {
    for (const s of this.#shown.values()) if (s.timer) clearTimeout(s.timer);
  }

  #serial(key: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.#locks.get(key) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(fn);
    const tail = next.catch(() => {});
    this.#locks.set(key, tail);
    void tail.then(() => { if (this.#locks.get(key) === tail) this.#locks.delete(key); });
    return next;
  }

  #remember(key: string, s: Shown): void {
    this.#shown.delete(key);
    this.#shown.set(key, s);
    const max = this.#o.maxEntries ?? 5000;
    for (const [k, old] of this.#shown) {
      if (this.#shown.size <= max) break;
      if (old.timer) clearTimeout(old.timer);
      this.#shown.delete(k);
    }
  }

  async #showOne(job: Job, r: DiscordRequester): Promise<void> {
    const key = `${job.id}:${r.user}`;
    const log = this.#o.log.with({ job: job.id });
    let s = this.#shown.get(key);
    if (s && job.updatedAt < s.updatedAt) return; // an older update delivered late
    const content = statusText(job, this.#o.publicUrl);
    const terminal = isTerminal(job.status);
    try {
      if (!s) {
        const known = await this.#known(job, r, terminal);
        s = { channelId: known.channelId, messageId: known.messageId ?? null, lastContent: "", lastEditAt: Number.NEGATIVE_INFINITY, updatedAt: job.updatedAt, pinged: known.pinged === true ? endOf(job) : null, dm: false, pending: null, timer: null };
        this.#remember(key, s);
      }
      s.updatedAt = job.updatedAt;
      if (s.messageId === null) {
        await this.#post(job, r, s, content);
      } else if (content !== s.lastContent) {
        const wait = s.lastEditAt + this.#o.editIntervalMs - this.#now();
        if (terminal || wait <= 0) {
          await this.#edit(job, r, s, content);
        } else if (this.#o.deferEdits === false) {
          return;
        } else {
          s.pending = job;
          s.timer ??= setTimeout(() => {
            const cur = this.#shown.get(key);
            if (!cur) return;
            cur.timer = null;
            const j = cur.pending;
            cur.pending = null;
            if (j) this.#serial(key, () => this.#showOne(j, r)).catch((err) => log.warn("could not edit the status message", { err }));
          }, wait);
          s.timer.unref();
          return;
        }
      }
      if (terminal) {
        if (s.timer) clearTimeout(s.timer);
        s.timer = null;
        s.pending = null;
        // Completion and failure ping; a cancel (the user's own doing) and an expiry only edit the message.
        if (s.pinged !== endOf(job) && (job.status === "completed" || job.status === "failed")) {
          await this.#o.chat.post(s.channelId, pingText(job, r.user, this.#o.publicUrl), r.user);
          s.pinged = endOf(job);
          log.info("requester pinged", { status: job.status });
          await this.#keep(job.id, r, s, true);
        }
      }
    } catch (err) {
      if (isPermanent(err)) {
        // No access to the channel, or it is gone: nothing a retry would fix.
        log.warn("Discord refused a status message; giving up on it", { err });
        return;
      }
      throw err;
    }
  }

  async #post(job: Job, r: DiscordRequester, s: Shown, content: string): Promise<void> {
    try {
      s.messageId = await this.#o.chat.post(s.channelId, content);
    } catch (err) {
      if (!isPermanent(err) || s.dm) throw err;
      // The bot may not write in that channel: fall back to a direct message (pings go there too).
      this.#o.log.info("cannot post in the channel; sending the status by direct message", { job: job.id, err });
      s.channelId = await this.#o.chat.openDm(r.user);
      s.dm = true;
      s.messageId = await this.#o.chat.post(s.channelId, content);
    }
    s.lastContent = content;
    s.lastEditAt = this.#now();
    this.#o.log.info("status message posted", { job: job.id });
    await this.#keep(job.id, r, s, s.pinged === endOf(job));
  }

  /** Keeps the message id and the ping in the job's requester entry. */
  async #keep(id: string, r: DiscordRequester, s: Shown, pinged: boolean): Promise<void> {
    try {
      await this.#o.ingest.setRequester(id, { via: "discord", user: r.user, channelId: s.channelId, ...(s.messageId ? { messageId: s.messageId } : {}), ...(pinged ? { pinged: true } : {}) });
    } catch (err) {
      // The message still works while this process runs; only a restart would post (or ping) again.
      this.#o.log.warn("could not keep the status message with the job", { job: id, err });
    }
  }

  /**
   * What the job's requester entry says now, for a job this process has not shown yet. The update may
   * be a repeat published before the message was posted or the ping sent: ask ingest when it matters.
   */
  async #known(job: Job, r: DiscordRequester, terminal: boolean): Promise<DiscordRequester> {
    if (r.messageId !== undefined && (!terminal || r.pinged)) return r;
    try {
      const cur = await this.#o.ingest.get(job.id);
      const q = cur.requesters.find((x) => x.via === "discord" && x.user === r.user);
      return q?.channelId ? { ...r, ...q, via: "discord", channelId: q.channelId } : r;
    } catch (err) {
      this.#o.log.warn("could not read the job's status message; going by the update", { job: job.id, err });
      return r;
    }
  }

  async #edit(job: Job, r: DiscordRequester, s: Shown, content: string): Promise<void> {
    try {
      await this.#o.chat.edit(s.channelId, s.messageId!, content);
      s.lastContent = content;
      s.lastEditAt = this.#now();
    } catch (err) {
      if (!isUnknownMessage(err)) throw err;
      this.#o.log.info("status message was deleted; posting a new one", { job: job.id });
      await this.#post(job, r, s, content);
    }
  }
}
