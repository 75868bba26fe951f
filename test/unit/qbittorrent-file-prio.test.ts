// qBittorrent's torrents/filePrio over the real route, registry and submit path (stores in memory): it
// changes the client's file choice as a submission does, and torrents/files shows it at the torrent's indexes.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createApi, type ApiDeps } from "../../ingest/api.ts";
import { Auth } from "../../ingest/auth.ts";
import { qbittorrentRoutes } from "../../ingest/qbittorrent.ts";
import { RateLimiter } from "../../ingest/rate-limit.ts";
import { JobRegistry } from "../../ingest/registry.ts";
import { createLogger } from "../../lib/log.ts";
import { makeTorrent } from "../support/torrents.ts";
import { MemoryStore } from "../support/memory-store.ts";

const dirs: string[] = [];
after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

function world() {
  const objects = new Map<string, Buffer>();
  const published: { files?: unknown }[] = [];
  const registry = new JobRegistry(new MemoryStore());
  const bucket = {
    get: async (k: string) => objects.get(k) ?? null,
    put: async (k: string, b: Uint8Array | string) => void objects.set(k, Buffer.from(b)),
    exists: async (k: string) => objects.has(k),
    delete: async (k: string) => void objects.delete(k),
    list: async (p: string) => [...objects.keys()].filter((k) => k.startsWith(p)),
  };
  const deps = {
    registry, bucket, guard: {}, publishRequest: async (m: object) => void published.push(m), webhooks: false,
    auth: new Auth({ apiToken: "tok", signingSecret: "s", secureCookie: false }),
    publicUrl: "http://x", linkTtlS: 60, linkDays: 7, log: createLogger("test", { level: "error" }), now: () => new Date().toISOString(),
    limiter: new RateLimiter({ perMinute: 600, burst: 100 }), web: new Map(),
  } as unknown as ApiDeps;
  const api = createApi(deps, qbittorrentRoutes);
  const call = async (name: string, form: FormData | Record<string, string>) => {
    const res = new Response(form instanceof FormData ? form : new URLSearchParams(form));
    const r = await api.handle({
      method: "POST", path: `/qbittorrent/api/v2/${name}`, query: new URLSearchParams(),
      headers: { authorization: "Bearer tok", "content-type": res.headers.get("content-type")! },
      body: Buffer.from(await res.arrayBuffer()), signal: new AbortController().signal,
    });
    return { status: r.status, body: String(r.body) };
  };
  return { registry, published, call };
}

describe("qBittorrent filePrio", () => {
  it("priority 0 skips a file and 1 fetches it again, through the job's file choice; answers as qBittorrent does", async () => {
    const dir = await mkdtemp(join(tmpdir(), "t2s-fileprio-"));
    dirs.push(dir);
    const made = await makeTorrent({ name: "Show", dir, files: [{ path: ["e1.mkv"], size: 1000 }, { path: ["e1.srt"], size: 10 }, { path: ["e2.mkv"], size: 2000 }] });
    const w = world();
    const form = new FormData();
    form.set("torrents", new Blob([new Uint8Array(made.torrent)]), "show.torrent");
    assert.deepEqual(await w.call("torrents/add", form), { status: 200, body: "Ok." });
    const id = made.infoHash;
    const prios = async () => JSON.parse((await w.call("torrents/files", { hash: id })).body).map((f: { index: number; priority: number }) => [f.index, f.priority]);
    assert.deepEqual(await prios(), [[0, 1], [1, 1], [2, 1]], "known at once from the .torrent, every file chosen");

    assert.deepEqual(await w.call("torrents/filePrio", { hash: id, id: "1|2", priority: "0" }), { status: 200, body: "" });
    assert.deepEqual(await prios(), [[0, 1], [1, 0], [2, 0]]);
    const rec = (await w.registry.record(id))!;
    assert.deepEqual(rec.job.requesters, [{ via: "api", user: "qbittorrent", files: [0] }]);
    assert.deepEqual(w.published.at(-1)!.files, [0], "the live job is requested again with its new choice");

    assert.deepEqual(await w.call("torrents/filePrio", { hash: id, id: "2", priority: "7" }), { status: 200, body: "" });
    assert.deepEqual(await prios(), [[0, 1], [1, 0], [2, 7]]);
    assert.deepEqual(w.published.at(-1)!.files, [0, 2]);
    // Every file skipped: nothing changes but the record; a file past the end: qBittorrent's 409.
    assert.deepEqual(await w.call("torrents/filePrio", { hash: id, id: "0|2", priority: "0" }), { status: 200, body: "" });
    assert.deepEqual((await w.registry.record(id))!.job.requesters[0]!.files, [0, 2]);
    assert.deepEqual(await w.call("torrents/filePrio", { hash: id, id: "3", priority: "1" }), { status: 409, body: "File ID is not valid" });
  });
});
