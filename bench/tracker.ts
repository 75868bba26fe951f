// A minimal HTTP BitTorrent tracker for the benchmarks: every announce gets the same fixed peer list
// (compact form), so clients without a way to name a peer (aria2c, qBittorrent) find the seeders.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import bencode from "bencode";

export interface Tracker {
  /** The announce URL to put in a .torrent. */
  url: string;
  close(): Promise<void>;
}

export async function startTracker(peers: { ip: string; port: number }[]): Promise<Tracker> {
  const compact = Buffer.concat(peers.map((p) => {
    const b = Buffer.alloc(6);
    p.ip.split(".").forEach((x, i) => b.writeUInt8(Number(x), i));
    b.writeUInt16BE(p.port, 4);
    return b;
  }));
  const server = createServer((req, res) => {
    res.setHeader("content-type", "text/plain");
    res.end(Buffer.from(bencode.encode({ interval: 30, "min interval": 5, complete: peers.length, incomplete: 0, peers: compact })));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/announce`,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** The same .torrent with an announce URL (outside the info dict: the info-hash stays). */
export function withTracker(torrent: Buffer, url: string): Buffer {
  const meta = bencode.decode(torrent) as Record<string, unknown>;
  return Buffer.from(bencode.encode({ ...meta, announce: url }));
}
