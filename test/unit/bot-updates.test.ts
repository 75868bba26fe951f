// The status board: one message per job and requester, edits throttled, completion at once, one ping.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Job, Requester } from "../../lib/job.ts";
import { createLogger } from "../../lib/log.ts";
import type { Chat } from "../../bot/discord.ts";
import { StatusBoard } from "../../bot/updates.ts";
import { parseUpdate } from "../../lib/messages.ts";

const id = "c".repeat(40);
let clock = 0;
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
const job = (o: Partial<Job> & { t: number }): Job => {
  const { t, ...rest } = o;
  return {
    id, name: "thing", status: "downloading", progress: 0, size: 1000, downloaded: 0, rate: 0, eta: null, seedbox: null, files: [], zip: null, error: null,
    requesters: [{ via: "discord", user: "7", channelId: "55" }], expiresAt: null, createdAt: at(0), updatedAt: at(t), ...rest,
  };
};

function fakes(o: { deferEdits?: boolean; shared?: { log: string[]; kept: Map<string, Requester> } } = {}) {
  const log: string[] = o.shared?.log ?? [];
  // The requester entries as ingest keeps them (shared: another instance of the bot, or a restart).
  const kept = o.shared?.kept ?? new Map<string, Requester>();
  let n = log.length;
  const chat: Chat = {
    post: async (ch, content, ping) => { log.push(`post ${ch} ${ping ?? "-"} ${content.split("\n")[0]}`); return String(++n); },
    edit: async (ch, mid, content) => { log.push(`edit ${ch}/${mid} ${content.split("\n")[1] ?? ""}`); },
    openDm: async (user) => `dm${user}`,
  };
  const persisted: string[] = [];
  const board = new StatusBoard({
    chat,
    ingest: {
      setRequester: async (jid, r) => { persisted.push(`${jid}:${r.user}:${r.messageId}`); kept.set(r.user, r); return job({ t: 0 }); },
      get: async () => (kept.size ? job({ t: 0, requesters: [...kept.values()] }) : job({ t: 0 })),
    },
    publicUrl: "http://x", editIntervalMs: 10_000, log: createLogger("test", { level: "error" }), now: () => clock, ...(o.deferEdits === undefined ? {} : { deferEdits: o.deferEdits }),
  });
  return { log, board, persisted, kept };
}

describe("bot status board", () => {
  it("posts once, throttles edits, edits completion at once and pings once", async () => {
    clock = 0;
    const { log, board, persisted } = fakes();
    await board.show(job({ t: 1, status: "queued" }));
    assert.deepEqual(persisted, [`${id}:7:1`]);
    clock = 2000;
    await board.show(job({ t: 2, progress: 0.2 })); // within 10 s: held back
    clock = 4000;
    await board.show(job({ t: 3, progress: 0.4 }));
    assert.equal(log.filter((l) => l.startsWith("edit")).length, 0);
    clock = 5000;
    await board.show(job({ t: 4, status: "completed", progress: 1, files: [{ path: "thing", size: 1000, url: "http://x/d/1/thing?sig=s" }] }));
    await board.show(job({ t: 5, status: "completed", progress: 1, files: [{ path: "thing", size: 1000, url: "http://x/d/1/thing?sig=s" }] }));
    await board.show(job({ t: 2, progress: 0.2 })); // late and old: ignored
    board.close();
    assert.equal(log.length, 3, log.join("\n"));
    assert.match(log[0]!, /^post 55 - ⏳/);
    assert.match(log[1]!, /^edit 55\/1 Done: 1 file\./);
    assert.match(log[2]!, /^post 55 7 <@7> \*\*thing\*\* is ready/);
  });

  it("edits again once the interval has passed, and sends the held-back edit later", async () => {
    clock = 0;
    const { log, board } = fakes();
    await board.show(job({ t: 1, requesters: [{ via: "discord", user: "7", channelId: "55", messageId: "99" }] }));
    // A known message id (from the requester entry, e.g. after a restart) is edited, not posted again.
    assert.equal(log.length, 1);
    assert.match(log[0]!, /^edit 55\/99/);
    clock = 10_000;
    await board.show(job({ t: 2, progress: 0.5, requesters: [{ via: "discord", user: "7", channelId: "55", messageId: "99" }] }));
    assert.equal(log.length, 2);
    clock = 12_000; // 2 s after the last edit: held back
    await board.show(job({ t: 3, progress: 0.6, requesters: [{ via: "discord", user: "7", channelId: "55", messageId: "99" }] }));
    assert.equal(log.length, 2);
    // The trailing edit fires on a real timer after the rest of the interval (~8 s with this fake clock); don't wait here.
    board.close();
  });

  it("on Lambda (deferEdits: false) drops an edit due within the interval instead of timing it", async () => {
    clock = 0;
    const { log, board } = fakes({ deferEdits: false });
    const rq = [{ via: "discord" as const, user: "7", channelId: "55", messageId: "99" }];
    await board.show(job({ t: 1, requesters: rq }));
    clock = 2000;
    await board.show(job({ t: 2, progress: 0.3, requesters: rq })); // dropped, and no timer left behind
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(log.length, 1);
    clock = 10_500;
    await board.show(job({ t: 3, progress: 0.6, requesters: rq }));
    assert.equal(log.length, 2);
    clock = 11_000;
    await board.show(job({ t: 4, status: "completed", progress: 1, files: [{ path: "thing", size: 1000, url: "http://x/d/1/thing?sig=s" }], requesters: rq }));
    assert.match(log[2]!, /^edit 55\/99 Done/);
    board.close();
  });

  it("sends the held-back edit once the interval has passed", async () => {
    const { log } = fakes();
    const board = new StatusBoard({
      chat: { post: async () => "1", openDm: async () => "2", edit: async (_c, _m, content) => { log.push(`edit ${content.split("\n")[1]}`); } },
      ingest: { setRequester: async () => job({ t: 0 }), get: async () => job({ t: 0 }) }, publicUrl: "http://x", editIntervalMs: 100, log: createLogger("test", { level: "error" }),
    });
    await board.show(job({ t: 1 }));
    await board.show(job({ t: 2, progress: 0.25 }));
    await board.show(job({ t: 3, progress: 0.75 }));
    assert.equal(log.length, 0);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(log.length, 1, "one edit, with the latest progress");
    assert.match(log[0]!, /75%/);
    board.close();
  });

  it("shows a job to every Discord requester, and skips others", async () => {
    clock = 0;
    const { log, board } = fakes();
    await board.show(job({ t: 1, status: "completed", requesters: [{ via: "web", user: "web" }, { via: "discord", user: "7", channelId: "55" }, { via: "discord", user: "8", channelId: "56" }] }));
    assert.equal(log.filter((l) => l.startsWith("post 55 7")).length, 1);
    assert.equal(log.filter((l) => l.startsWith("post 56 8")).length, 1);
    assert.equal(log.length, 4);
  });

  it("edits the message when the files expire, without a second ping", async () => {
    clock = 0;
    const { log, board } = fakes();
    const files = [{ path: "thing", size: 1000, url: "http://x/d/1/thing?sig=s" }];
    await board.show(job({ t: 1, status: "completed", progress: 1, files, expiresAt: at(100) }));
    assert.equal(log.length, 2, log.join("\n"));
    assert.match(log[1]!, /^post 55 7 <@7> \*\*thing\*\* is ready/);
    // Expiry is shown, not stored: the update keeps the completed job's updatedAt.
    await board.show(job({ t: 1, status: "expired", progress: 1, files: [{ path: "thing", size: 1000 }], expiresAt: at(100) }));
    board.close();
    assert.equal(log.length, 3, log.join("\n"));
    assert.match(log[2]!, /^edit 55\/1 Expired: its files are no longer kept/);
  });

  it("does not ping for a job whose files have already expired (a restarted bot)", async () => {
    clock = 0;
    const { log, board } = fakes();
    await board.show(job({ t: 1, status: "expired", progress: 1, expiresAt: at(0), requesters: [{ via: "discord", user: "7", channelId: "55", messageId: "99" }] }));
    board.close();
    assert.deepEqual(log, ["edit 55/99 Expired: its files are no longer kept. Add the torrent again to download it once more."]);
  });

  it("a completion delivered twice, the second time to another instance, edits the one message and pings once", async () => {
    clock = 0;
    const first = fakes({ deferEdits: false });
    await first.board.show(job({ t: 1, status: "queued" }));
    const files = [{ path: "thing", size: 1000, url: "http://x/d/1/thing?sig=s" }];
    // Both copies were published before the bot kept its message id: they carry the bare requester.
    const done = job({ t: 4, status: "completed", progress: 1, files });
    await first.board.show(done);
    await first.board.show(done);
    const other = fakes({ deferEdits: false, shared: { log: first.log, kept: first.kept } });
    await other.board.show(done);
    first.board.close();
    other.board.close();
    assert.equal(first.log.filter((l) => l.startsWith("post 55 -")).length, 1, first.log.join("\n"));
    assert.equal(first.log.filter((l) => l.startsWith("post 55 7")).length, 1, first.log.join("\n"));
    assert.equal(first.log.filter((l) => l.startsWith("post")).length, 2, first.log.join("\n"));
    assert.match(first.log.at(-1)!, /^edit 55\/1 Done/, "the other instance edits the message it was told of");
    assert.equal(first.kept.get("7")?.pinged, true, "the ping is kept with the job");
  });

  it("pings again when a job handed in again ends again, in the same message, even unseen in between", async () => {
    clock = 0;
    const { log, board } = fakes({ deferEdits: false });
    const files = [{ path: "thing", size: 1000, url: "http://x/d/1/thing?sig=s" }];
    // Each run's files expire a set time after it was queued: each completion has its own expiry.
    await board.show(job({ t: 1, status: "completed", progress: 1, files, expiresAt: at(100) }));
    await board.show(job({ t: 2, status: "completed", progress: 1, files, expiresAt: at(100) }));
    await board.show(job({ t: 3, status: "queued" }));
    await board.show(job({ t: 4, status: "completed", progress: 1, files, expiresAt: at(103) }));
    // The third run's queued update arrives after its completion (SQS keeps no order): ignored as older.
    await board.show(job({ t: 6, status: "completed", progress: 1, files, expiresAt: at(105) }));
    await board.show(job({ t: 5, status: "queued" }));
    board.close();
    assert.equal(log.filter((l) => l.startsWith("post 55 7")).length, 3, log.join("\n"));
    assert.equal(log.filter((l) => l.startsWith("post 55 -")).length, 1, "one status message");
  });

  it("reads job updates and skips anything else", () => {
    assert.equal(parseUpdate("not json"), null);
    assert.equal(parseUpdate(JSON.stringify({ v: 2, type: "job", job: {} })), null);
    assert.equal(parseUpdate(JSON.stringify({ v: 1, type: "job", job: { id } })), null);
    assert.equal(parseUpdate(JSON.stringify({ v: 1, type: "job", job: job({ t: 1 }) }))?.id, id);
  });
});
