// The Deluge adapter's reading of add errors: a duplicate is success, the daemon's own refusal is final,
// anything else (a lost session, the network) is for a retry. Against a JSON-RPC stand-in for deluge-web.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { describe, it } from "node:test";
import { Deluge, DelugeError, TorrentRefused } from "../../seedbox/deluge.ts";
import { createLogger } from "../../lib/log.ts";

async function web(addError: { message: string; code: number } | null) {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c)).on("end", () => {
      const { method, id } = JSON.parse(body) as { method: string; id: number };
      const answer = method === "auth.login" || method === "web.connected" ? { result: true, error: null }
        : method.startsWith("core.add_torrent") ? { result: addError ? null : "a".repeat(40), error: addError }
          : { result: null, error: { message: "Unknown method", code: 2 } };
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ ...answer, id }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const deluge = new Deluge({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}/json`, password: "p", log: createLogger("test", { level: "error" }) });
  return { deluge, close: () => server.close() };
}
const opts = { download_location: "/d", move_completed: false, move_completed_path: "/c" };

describe("deluge adds", () => {
  it("take a duplicate as done, and a refusal as final with libtorrent's reason", async () => {
    const dup = await web({ message: "Torrent already in session (" + "a".repeat(40) + ").", code: 4 });
    try {
      assert.equal(await dup.deluge.addMagnet("magnet:?xt=urn:btih:" + "a".repeat(40), opts), null);
    } finally { dup.close(); }
    const refused = await web({ message: "Traceback (most recent call last):\n  ...\nRuntimeError: invalid length of torrent", code: 4 });
    try {
      const err = await refused.deluge.addTorrentFile("x.torrent", Buffer.from("d4:infodee"), opts).catch((e: unknown) => e);
      assert.ok(err instanceof TorrentRefused, String(err));
      assert.equal(err.message, "RuntimeError: invalid length of torrent");
    } finally { refused.close(); }
    const other = await web({ message: "something web-side", code: 3 });
    try {
      const err = await other.deluge.addMagnet("magnet:?xt=urn:btih:" + "a".repeat(40), opts).catch((e: unknown) => e);
      assert.ok(err instanceof DelugeError && !(err instanceof TorrentRefused), "not final: retried on redelivery");
    } finally { other.close(); }
  });
});
