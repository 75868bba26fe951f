import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "../../lib/config.ts";
import { newJob } from "../../lib/job.ts";
import { countHandBack, dueOf, holder, releaseLease, renewLease, requestAgain, requestOf, takeLease, type JobRecord } from "../../lib/job-record.ts";
import { admit, expired, leaseTiming, type AdmissionInput } from "../../lib/lease.ts";

const t = { timeoutMs: 60_000, renewMs: 10_000, requestTimeoutMs: 900_000 };
const t0 = Date.parse("2026-12-01T00:00:00.000Z");
const id = "a".repeat(40);
const fresh = (): JobRecord => ({
  job: newJob({ id, name: "x", size: 10, requester: { via: "api", user: "u" }, now: new Date(t0).toISOString() }),
  lastFactAt: null, files: [],
});
const taken = (rec: JobRecord, who: string, now: number) => {
  const r = takeLease(rec, who, now, t);
  assert.ok(r.ok);
  return r;
};

describe("lease timing", () => {
  it("defaults to 60 s renewed every 10 s, and takes shorter values from the environment", () => {
    assert.deepEqual(leaseTiming({}), { ...t, maxRequests: 24 });
    assert.deepEqual(leaseTiming({ T2S_LEASE_TIMEOUT_S: "6", T2S_LEASE_RENEW_S: "1", T2S_REQUEST_TIMEOUT_S: "10", T2S_MAX_REQUESTS: "3" }), { timeoutMs: 6000, renewMs: 1000, requestTimeoutMs: 10_000, maxRequests: 3 });
  });
  it("refuses a renew interval that leaves fewer than three renewals per timeout", () => {
    assert.throws(() => leaseTiming({ T2S_LEASE_TIMEOUT_S: "10", T2S_LEASE_RENEW_S: "5" }), ConfigError);
    assert.throws(() => leaseTiming({ T2S_LEASE_RENEW_S: "0" }), ConfigError);
    assert.throws(() => leaseTiming({ T2S_REQUEST_TIMEOUT_S: "30" }), ConfigError);
  });
});

describe("take", () => {
  it("takes a free lease at epoch 1, until now + timeout, and makes that the due time", () => {
    const r = taken(fresh(), "s1", t0);
    assert.deepEqual(r.lease, { seedbox: "s1", epoch: 1, until: new Date(t0 + 60_000).toISOString() });
    assert.equal(r.rec.due, r.lease.until);
    assert.equal(holder(r.rec, t0), "s1");
  });
  it("refuses a live lease of another seedbox, and takes it once expired, at the next epoch", () => {
    const a = taken(fresh(), "s1", t0);
    assert.deepEqual(takeLease(a.rec, "s2", t0 + 59_999, t), { ok: false, why: "held" });
    assert.ok(expired(a.lease, t0 + 60_000));
    const b = taken(a.rec, "s2", t0 + 60_000);
    assert.equal(b.lease.epoch, 2);
    assert.equal(holder(b.rec, t0 + 60_000), "s2");
  });
  it("lets the same seedbox take its own live lease again (a restart), fencing its old self", () => {
    const a = taken(fresh(), "s1", t0);
    const b = taken(a.rec, "s1", t0 + 1000);
    assert.equal(b.lease.epoch, 2);
    assert.deepEqual(renewLease(b.rec, "s1", 1, t0 + 2000, t), { kind: "fenced" });
  });
  it("refuses an ended job", () => {
    for (const status of ["completed", "failed", "cancelled", "expired"] as const) {
      assert.deepEqual(takeLease({ ...fresh(), job: { ...fresh().job, status } }, "s1", t0, t), { ok: false, why: "ended" });
    }
  });
  it("takes a released lease at the next epoch, so the releaser's epoch never comes back", () => {
    const a = taken(fresh(), "s1", t0);
    const r = releaseLease(a.rec, "s1", 1, t0 + 5000, t)!;
    assert.equal(holder(r, t0 + 5000), null);
    assert.equal(taken(r, "s2", t0 + 5000).lease.epoch, 2);
  });
});

describe("renew", () => {
  it("extends the holder's lease and due time", () => {
    const a = taken(fresh(), "s1", t0);
    const r = renewLease(a.rec, "s1", 1, t0 + 10_000, t);
    assert.equal(r.kind, "renewed");
    if (r.kind === "renewed") assert.equal(r.rec.lease!.until, new Date(t0 + 70_000).toISOString());
  });
  it("is fenced for another seedbox, another epoch, or no lease", () => {
    const a = taken(fresh(), "s1", t0);
    const b = taken(a.rec, "s2", t0 + 61_000);
    assert.equal(renewLease(b.rec, "s1", 1, t0 + 62_000, t).kind, "fenced");
    assert.equal(renewLease(a.rec, "s1", 2, t0, t).kind, "fenced");
    assert.equal(renewLease(fresh(), "s1", 1, t0, t).kind, "fenced");
  });
  it("still wins late when nobody took the job meanwhile (the epoch decides, not the clock)", () => {
    const a = taken(fresh(), "s1", t0);
    assert.equal(renewLease(a.rec, "s1", 1, t0 + 120_000, t).kind, "renewed");
  });
  it("tells the holder of a cancel, and of any other end", () => {
    const a = taken(fresh(), "s1", t0);
    assert.equal(renewLease({ ...a.rec, job: { ...a.rec.job, status: "cancelled" } }, "s1", 1, t0, t).kind, "cancelled");
    assert.equal(renewLease({ ...a.rec, job: { ...a.rec.job, status: "failed" } }, "s1", 1, t0, t).kind, "ended");
    assert.equal(renewLease(null, "s1", 1, t0, t).kind, "ended");
  });
});

describe("release and hand-back", () => {
  it("only the holder of the epoch releases; the job then waits a request timeout", () => {
    const a = taken(fresh(), "s1", t0);
    assert.equal(releaseLease(a.rec, "s2", 1, t0, t), null);
    assert.equal(releaseLease(a.rec, "s1", 2, t0, t), null);
    const r = releaseLease(a.rec, "s1", 1, t0 + 1000, t, { handBack: true })!;
    assert.equal(r.due, new Date(t0 + 1000 + 900_000).toISOString());
    assert.equal(r.handBacks, 1);
    assert.equal(releaseLease(a.rec, "s1", 1, t0, t)!.handBacks, undefined);
    assert.equal(countHandBack(r, t0, t).handBacks, 2);
    assert.equal(releaseLease({ ...a.rec, job: { ...a.rec.job, status: "failed" } }, "s1", 1, t0, t), null, "an ended job is not written");
  });
});

describe("sweep and due", () => {
  it("requeues a job whose lease ran out, and leaves a live one", () => {
    const a = taken(fresh(), "s1", t0);
    assert.equal(requestAgain(a.rec, t0 + 59_000, t), null);
    const s = requestAgain(a.rec, t0 + 60_000, t)!;
    assert.equal(s.due, new Date(t0 + 60_000 + 900_000).toISOString());
    // Swept once, it waits a request timeout before it is swept again.
    assert.equal(requestAgain(s, t0 + 61_000, t), null);
  });
  it("requeues an unheld open job whose request went unanswered", () => {
    const r = { ...fresh(), due: new Date(t0 + 900_000).toISOString() };
    assert.equal(requestAgain(r, t0 + 899_999, t), null);
    assert.ok(requestAgain(r, t0 + 900_000, t));
  });
  it("gives ended jobs no due time (they leave the index), and untaken jobs a request timeout from their queueing", () => {
    assert.equal(dueOf({ ...fresh(), job: { ...fresh().job, status: "completed" } }), null);
    assert.equal(dueOf(fresh()), new Date(t0 + 900_000).toISOString());
    assert.equal(dueOf({ ...fresh(), queuedAt: new Date(t0 + 1000).toISOString() }), new Date(t0 + 901_000).toISOString());
    assert.equal(requestAgain({ ...fresh(), job: { ...fresh().job, status: "failed" } }, t0 + 10 ** 9, t), null);
  });
  it("requests a job again by its kept source, or by a bare magnet for records without one", () => {
    assert.deepEqual((requestOf({ ...fresh(), source: { kind: "torrent", key: `incoming/${id}.torrent` } }) as { source: unknown }).source, { kind: "torrent", key: `incoming/${id}.torrent` });
    assert.deepEqual((requestOf(fresh()) as { source: unknown }).source, { kind: "magnet", uri: `magnet:?xt=urn:btih:${id}&dn=x` });
  });
});

describe("admission", () => {
  const gib = 2 ** 30;
  const base: AdmissionInput = { held: 0, maxTorrents: 2, size: gib, room: 5 * gib, maxRoom: 50 * gib, handBacks: 0, maxHandBacks: 5 };
  it("takes a job that fits", () => assert.deepEqual(admit(base), { kind: "take" }));
  it("hands a job back without counting it when this seedbox is full", () => {
    assert.deepEqual(admit({ ...base, held: 2 }), { kind: "hand_back", why: "busy", count: false });
  });
  it("hands back a job too big for this seedbox's free space, counting it, instead of failing disk_full", () => {
    assert.deepEqual(admit({ ...base, size: 6 * gib }), { kind: "hand_back", why: "no_room", count: true });
  });
  it("fails a job bigger than any seedbox's disk at once, with a clear reason", () => {
    const a = admit({ ...base, size: 60 * gib });
    assert.equal(a.kind, "fail");
    if (a.kind === "fail") {
      assert.equal(a.code, "too_big");
      assert.match(a.message, /60\.0 GiB.*50\.0 GiB/);
    }
  });
  it("fails a job after its last hand-back", () => {
    const a = admit({ ...base, size: 6 * gib, handBacks: 4 });
    assert.equal(a.kind, "fail");
    if (a.kind === "fail") assert.equal(a.code, "disk_full");
  });
  it("takes a magnet of unknown size (the monitor checks it once the metadata is in)", () => {
    assert.deepEqual(admit({ ...base, size: null }), { kind: "take" });
  });
});
