// ingest's side of the fleet: the scaler asks for what the rule says (capped, idempotent, logged, never
// throwing), and a submission that requests a download asks it once, after the request is out.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Bucket } from "../../lib/aws/bucket.ts";
import { createLogger } from "../../lib/log.ts";
import type { GroupState } from "../../lib/scaling.ts";
import type { FetchGuard } from "../../ingest/fetch-guard.ts";
import { JobRegistry } from "../../ingest/registry.ts";
import { fleetScaler } from "../../ingest/scale-up.ts";
import { submit } from "../../ingest/submit.ts";
import { MemoryStore } from "../support/memory-store.ts";

function fakeFleet(state: GroupState, o: { fail?: boolean } = {}) {
  const set: number[] = [];
  return {
    set,
    fleet: {
      group: "t2s-seedbox",
      describe: async () => {
        if (o.fail) throw new Error("AccessDenied");
        return { ...state };
      },
      setDesiredCapacity: async (n: number) => {
        set.push(n);
        state.desired = n;
      },
    },
  };
}

describe("fleet scaler", () => {
  const quiet = createLogger("ingest", { write: () => {} });

  it("raises the desired capacity to fit the open jobs, and asking again changes nothing", async () => {
    const f = fakeFleet({ desired: 0, max: 5, inService: 0 });
    const scale = fleetScaler({ fleet: f.fleet, openJobs: async () => 5, perBox: 2, maxSeedboxes: 10, log: quiet });
    await scale();
    await scale();
    assert.deepEqual(f.set, [3]);
  });

  it("keeps below T2S_MAX_SEEDBOXES when it is under the group's max", async () => {
    const f = fakeFleet({ desired: 0, max: 5, inService: 0 });
    await fleetScaler({ fleet: f.fleet, openJobs: async () => 50, perBox: 1, maxSeedboxes: 2, log: quiet })();
    assert.deepEqual(f.set, [2]);
  });

  it("logs a failure and resolves: the submission goes on", async () => {
    const lines: string[] = [];
    const f = fakeFleet({ desired: 0, max: 5, inService: 0 }, { fail: true });
    await fleetScaler({ fleet: f.fleet, openJobs: async () => 1, perBox: 1, maxSeedboxes: 5, log: createLogger("ingest", { write: (l) => lines.push(l) }) })();
    assert.deepEqual(f.set, []);
    const logged = lines.map((l) => JSON.parse(l) as { level: string; msg: string; group: string; err: { message: string } });
    assert.equal(logged.length, 1);
    assert.deepEqual([logged[0]!.level, logged[0]!.group, logged[0]!.err.message], ["warn", "t2s-seedbox", "AccessDenied"]);
  });
});

describe("submit and the fleet", () => {
  const magnet = `magnet:?xt=urn:btih:${"ab".repeat(20)}&dn=x`;
  const requester = { via: "api", user: "owner" } as const;
  const deps = (scaleUp: () => Promise<void>, published: object[]) => ({
    bucket: { delete: async () => {} } as unknown as Bucket, guard: {} as FetchGuard, registry: new JobRegistry(new MemoryStore()), now: () => "2026-01-01T00:00:00.000Z", webhooks: false,
    publishRequest: async (m: object) => void published.push(m),
    scaleUp,
  });

  it("asks once, after the request is published; a second submission of the same job asks nothing", async () => {
    const order: string[] = [];
    const published: object[] = [];
    const d = deps(async () => void order.push(`scale after ${published.length} request(s)`), published);
    const first = await submit({ magnet }, requester, d, new AbortController().signal);
    const again = await submit({ magnet }, { via: "api", user: "someone-else" }, d, new AbortController().signal);
    assert.deepEqual([first.created, again.created], [true, false]);
    assert.deepEqual(order, ["scale after 1 request(s)"]);
  });

  it("succeeds when the fleet cannot be asked", async () => {
    const published: object[] = [];
    const f = fakeFleet({ desired: 0, max: 5, inService: 0 }, { fail: true });
    const scale = fleetScaler({ fleet: f.fleet, openJobs: async () => 1, perBox: 1, maxSeedboxes: 5, log: createLogger("ingest", { write: () => {} }) });
    const r = await submit({ magnet }, requester, deps(scale, published), new AbortController().signal);
    assert.equal(r.rec.job.status, "queued");
    assert.equal(published.length, 1);
  });
});
