// The same call sequence Sonarr makes, against Debian's qbittorrent-nox (the real thing, offline: no DHT,
// LSD, PeX or UPnP, a torrent without trackers, bound to loopback) and against torrent2s3. Every JSON
// answer's fields and their types must match, so a field we drop or mistype fails here.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort, waitFor } from "../../scripts/local/net.ts";
import { testStack } from "../support/shared.ts";
import type { TestStack } from "../support/stack.ts";

let s: TestStack;
let tmp: string;
let noxUrl: string;
let stopNox: () => Promise<void>;

before(async () => {
  s = await testStack();
  tmp = await mkdtemp(join(tmpdir(), "t2s-nox-"));
  const port = await freePort();
  const conf = join(tmp, "qBittorrent", "config");
  await mkdir(conf, { recursive: true });
  await writeFile(join(conf, "qBittorrent.conf"), [
    "[LegalNotice]", "Accepted=true", "",
    "[BitTorrent]", "Session\\DHTEnabled=false", "Session\\LSDEnabled=false", "Session\\PeXEnabled=false",
    "Session\\Interface=lo", "Session\\InterfaceName=lo", `Session\\DefaultSavePath=${join(tmp, "dl")}`, "",
    "[Preferences]", "Connection\\UPnP=false", "WebUI\\Address=127.0.0.1", `WebUI\\Port=${port}`, "WebUI\\UseUPnP=false", "",
  ].join("\n"));
  const proc = spawn("qbittorrent-nox", [`--profile=${tmp}`, `--webui-port=${port}`], { env: { ...process.env, HOME: tmp }, stdio: "ignore" });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  stopNox = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  };
  noxUrl = `http://127.0.0.1:${port}`;
  await waitFor("qbittorrent-nox", async () => (await fetch(`${noxUrl}/api/v2/app/webapiVersion`).catch(() => null))?.status === 403, 30_000, exited);
});
after(async () => {
  await stopNox?.();
  await rm(tmp, { recursive: true, force: true });
});

/** A session with one server: a login, then form posts and GETs carrying its cookie. */
async function session(base: string, username: string, password: string) {
  const r = await fetch(`${base}/api/v2/auth/login`, { method: "POST", body: new URLSearchParams({ username, password }) });
  assert.equal(await r.text(), "Ok.", base);
  const cookie = /SID=[^;]+/.exec(r.headers.get("set-cookie") ?? "")![0];
  return async (method: "GET" | "POST", path: string, form?: Record<string, string> | FormData): Promise<{ status: number; body: string }> => {
    const q = method === "GET" && form ? `?${new URLSearchParams(form as Record<string, string>)}` : "";
    const res = await fetch(`${base}/api/v2/${path}${q}`, { method, headers: { cookie }, body: method === "POST" ? (form instanceof FormData ? form : new URLSearchParams(form ?? {})) : undefined });
    return { status: res.status, body: await res.text() };
  };
}

type Shape = string | { [k: string]: Shape } | Shape[];
/** Field names and JSON types, recursively (arrays by their first element). */
function shape(v: unknown): Shape {
  if (Array.isArray(v)) return v.length ? [shape(v[0])] : [];
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).sort().map(([k, x]) => [k, shape(x)]));
  return v === null ? "null" : typeof v;
}

describe("against qbittorrent-nox", () => {
  it("Sonarr's call sequence: the same fields with the same types", async () => {
    const made = await s.seed({ name: `nox-${randomBytes(3).toString("hex")}`, files: [{ path: ["a.mkv"], size: 100_000 }, { path: ["b.srt"], data: Buffer.from("x") }] });
    const nox = await session(noxUrl, "admin", "adminadmin");
    const ours = await session(`${s.url}/qbittorrent`, "t2s", s.apiToken);
    const both = async (method: "GET" | "POST", path: string, form?: () => Record<string, string> | FormData) => {
      const [a, b] = [await nox(method, path, form?.()), await ours(method, path, form?.())];
      return { nox: a, ours: b };
    };
    const diffs: string[] = [];
    const sameJson = (what: string, r: { nox: { body: string }; ours: { body: string } }, subset = false) => {
      const a = shape(JSON.parse(r.nox.body)) as Record<string, Shape>;
      const b = shape(JSON.parse(r.ours.body)) as Record<string, Shape>;
      if (subset) {
        for (const [k, t] of Object.entries(b)) if (JSON.stringify(a[k]) !== JSON.stringify(t)) diffs.push(`${what}.${k}: nox ${JSON.stringify(a[k])}, ours ${JSON.stringify(t)}`);
      } else if (JSON.stringify(a) !== JSON.stringify(b)) {
        diffs.push(`${what}: nox ${JSON.stringify(a)}\n  ours ${JSON.stringify(b)}`);
      }
    };
    const version = await both("GET", "app/webapiVersion");
    assert.equal(version.ours.body, version.nox.body);
    const app = await both("GET", "app/version");
    assert.equal(app.ours.body, app.nox.body);
    sameJson("app/preferences", await both("GET", "app/preferences"), true);
    sameJson("torrents/categories", await both("GET", "torrents/categories"));
    const created = await both("POST", "torrents/createCategory", () => ({ category: "tv-nox", savePath: "" }));
    assert.deepEqual([created.ours.status, created.ours.body], [created.nox.status, created.nox.body]);
    sameJson("torrents/categories", await both("GET", "torrents/categories"));
    const add = await both("POST", "torrents/add", () => {
      const f = new FormData();
      f.set("torrents", new Blob([new Uint8Array(made.torrent)], { type: "application/x-bittorrent" }), `${made.name}.torrent`);
      f.set("category", "tv-nox");
      f.set("paused", "true");
      return f;
    });
    assert.deepEqual([add.ours.status, add.ours.body], [add.nox.status, add.nox.body]);
    await s.waitForJob(made.infoHash, (j) => j.status === "completed");
    const info = await both("GET", "torrents/info", () => ({ category: "tv-nox" }));
    assert.equal(JSON.parse(info.ours.body).length, 1);
    sameJson("torrents/info", info);
    sameJson("torrents/properties", await both("GET", "torrents/properties", () => ({ hash: made.infoHash })));
    sameJson("torrents/files", await both("GET", "torrents/files", () => ({ hash: made.infoHash })));
    for (const [call, form] of [
      ["torrents/setShareLimits", { hashes: made.infoHash, ratioLimit: "1", seedingTimeLimit: "-2" }],
      ["torrents/setForceStart", { hashes: made.infoHash, value: "true" }],
      ["torrents/addTags", { hashes: made.infoHash, tags: "sonarr" }],
      ["torrents/setCategory", { hashes: made.infoHash, category: "tv-nox" }],
    ] as const) {
      const r = await both("POST", call, () => ({ ...form }));
      assert.deepEqual([r.ours.status, r.ours.body], [r.nox.status, r.nox.body], call);
    }
    // qBittorrent with queueing off answers topPrio 409, which Sonarr ignores; ours has queueing on.
    const top = await both("POST", "torrents/topPrio", () => ({ hashes: made.infoHash }));
    assert.equal(top.ours.status, 200);
    assert.ok([200, 409].includes(top.nox.status));
    const after = await both("GET", "torrents/info", () => ({ hashes: made.infoHash }));
    sameJson("torrents/info after the calls", after);
    for (const k of ["category", "tags", "force_start", "ratio_limit"]) {
      assert.deepEqual(JSON.parse(after.ours.body)[0][k], JSON.parse(after.nox.body)[0][k], k);
    }
    for (const [call, form] of [["torrents/properties", { hash: "0".repeat(40) }], ["torrents/properties", {}], ["torrents/setCategory", { hashes: made.infoHash, category: "nope" }]] as const) {
      const r = await both("POST", call, () => ({ ...form }));
      assert.deepEqual([r.ours.status, r.ours.body], [r.nox.status, r.nox.body], `${call} ${JSON.stringify(form)}`);
    }
    const del = await both("POST", "torrents/delete", () => ({ hashes: made.infoHash, deleteFiles: "true" }));
    assert.deepEqual([del.ours.status, del.ours.body], [del.nox.status, del.nox.body]);
    const gone = await both("GET", "torrents/info", () => ({ category: "tv-nox" }));
    assert.deepEqual([JSON.parse(gone.ours.body), JSON.parse(gone.nox.body)], [[], []]);
    assert.deepEqual(diffs, [], `field or type differences:\n${diffs.join("\n")}`);
  });
});
