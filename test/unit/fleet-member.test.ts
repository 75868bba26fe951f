// The seedbox's fleet loop (seedbox/fleet-member.ts) with a recording fleet and a clock of its own.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLogger } from "../../lib/log.ts";
import { runFleetMember, type FleetMemberOptions } from "../../seedbox/fleet-member.ts";

function world(o: { work: boolean[]; failProtect?: number; failTerminate?: number }) {
  const calls: string[] = [];
  const lines: string[] = [];
  let t = 0;
  let tick = 0;
  let failProtect = o.failProtect ?? 0;
  let failTerminate = o.failTerminate ?? 0;
  const stop = new AbortController();
  const opts: FleetMemberOptions = {
    instanceId: "i-0123456789abcdef0",
    idleMinutes: 10,
    pollMs: 1,
    log: createLogger("seedbox", { write: (l) => lines.push(l) }),
    signal: stop.signal,
    // Each look at the work is one minute later.
    now: () => t,
    holdsWork: async () => {
      const w = o.work[Math.min(tick, o.work.length - 1)]!;
      tick++;
      t += 60_000;
      if (tick > 200) stop.abort();
      return w;
    },
    stopTaking: async () => void calls.push("stopTaking"),
    fleet: {
      setInstanceProtection: async (id, on) => {
        if (failProtect-- > 0) throw new Error("throttled");
        calls.push(`protect ${id} ${on}`);
      },
      terminateSelf: async (id) => {
        if (failTerminate-- > 0) throw new Error("throttled");
        calls.push(`terminate ${id}`);
      },
    },
  };
  return { opts, calls, lines, stop, minutes: () => t / 60_000 };
}

describe("fleet member", () => {
  it("protects itself while it holds work, unprotects when idle, and terminates after idle_minutes", async () => {
    const w = world({ work: [true, true, false] });
    assert.equal(await runFleetMember(w.opts), "terminated");
    assert.deepEqual(w.calls, ["protect i-0123456789abcdef0 true", "protect i-0123456789abcdef0 false", "stopTaking", "terminate i-0123456789abcdef0"]);
    // Last work seen at minute 2; terminated at the first look 10 minutes on (plus the re-check).
    assert.ok(w.minutes() >= 12 && w.minutes() <= 14, String(w.minutes()));
  });

  it("a fresh box with no work waits idle_minutes from its start", async () => {
    const w = world({ work: [false] });
    assert.equal(await runFleetMember(w.opts), "terminated");
    assert.deepEqual(w.calls, ["protect i-0123456789abcdef0 false", "stopTaking", "terminate i-0123456789abcdef0"]);
    assert.ok(w.minutes() >= 10 && w.minutes() <= 12, String(w.minutes()));
  });

  it("a request taken just before it stopped taking is finished first, then it terminates", async () => {
    // Idle until minute 10; at the re-check a job is there; it runs 3 minutes; then idle again.
    const w = world({ work: [...Array(10).fill(false), true, true, true, true, false] });
    assert.equal(await runFleetMember(w.opts), "terminated");
    assert.deepEqual(w.calls, [
      "protect i-0123456789abcdef0 false", "stopTaking",
      "protect i-0123456789abcdef0 true", "protect i-0123456789abcdef0 false", "terminate i-0123456789abcdef0",
    ]);
  });

  it("never terminates while it cannot tell whether it holds work", async () => {
    const w = world({ work: [false] });
    w.opts.holdsWork = async () => {
      throw new Error("deluge unreachable");
    };
    setTimeout(() => w.stop.abort(), 50);
    assert.equal(await runFleetMember(w.opts), "stopped");
    assert.ok(!w.calls.some((c) => c.startsWith("terminate")), w.calls.join());
    assert.equal(w.lines.filter((l) => l.includes("cannot tell")).length, 1, "the trouble is logged once");
  });

  it("retries a failed protection change and a failed termination", async () => {
    const w = world({ work: [true, true, true, false], failProtect: 2, failTerminate: 1 });
    assert.equal(await runFleetMember(w.opts), "terminated");
    assert.deepEqual(w.calls, ["protect i-0123456789abcdef0 true", "protect i-0123456789abcdef0 false", "stopTaking", "terminate i-0123456789abcdef0"]);
  });

  it("stops on shutdown without terminating", async () => {
    const w = world({ work: [true] });
    setTimeout(() => w.stop.abort(), 20);
    assert.equal(await runFleetMember(w.opts), "stopped");
    assert.deepEqual(w.calls, ["protect i-0123456789abcdef0 true"]);
  });
});
