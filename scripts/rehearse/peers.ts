// The rehearsal's swarm: a stranger's client (a Deluge with libtorrent's defaults) seeding the torrents
// the rehearsal hands in, and a tracker that names it, since a seedbox in its container knows no peer.
// Both listen on the host's loopback; the instances reach them through their forwarded ports.
import { join } from "node:path";
import { createLogger } from "../../lib/log.ts";
import { Deluge } from "../../seedbox/deluge.ts";
import { startTracker, withTracker, type Tracker } from "../../bench/tracker.ts";
import { makeTorrent, type MadeTorrent, type PayloadFile } from "../../test/support/torrents.ts";
import { startDeluge, type DelugeHandle } from "../local/deluge.ts";

export interface Swarm {
  seeder: DelugeHandle;
  tracker: Tracker;
  /** The loopback ports an instance must reach: the seeder's and the tracker's. */
  ports: number[];
  /** Makes a torrent of files of random bytes, announcing to the tracker, and seeds it. */
  seed(name: string, files: PayloadFile[]): Promise<MadeTorrent>;
  magnet(made: MadeTorrent): string;
  /** Caps how fast the seeder sends one torrent (KiB/s; -1: no cap), so a download lasts long enough to interrupt. */
  throttle(made: MadeTorrent, kibPerS: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startSwarm(dir: string): Promise<Swarm> {
  const payload = join(dir, "payload");
  const seeder = await startDeluge({ dir: join(dir, "seeder"), logDir: dir, name: "seeder", downloadDir: payload, offline: true, maxActive: -1, libtorrent: {} });
  const tracker = await startTracker([{ ip: "127.0.0.1", port: seeder.listenPort }]).catch(async (err) => {
    await seeder.stop();
    throw err;
  });
  const client = new Deluge({ url: seeder.webUrl, password: seeder.password, daemonPort: seeder.daemonPort, log: createLogger("seeder", { write: () => {} }) });
  return {
    seeder, tracker,
    ports: [seeder.listenPort, Number(new URL(tracker.url).port)],
    seed: async (name, files) => {
      const made = await makeTorrent({ name, files, dir: payload });
      // The seeder gets it without the tracker: announcing, it would be handed its own address, connect
      // to itself and ban 127.0.0.1, where the instances' connections come from.
      await client.addTorrentFile(`${made.infoHash}.torrent`, made.torrent, { download_location: payload, move_completed: false, move_completed_path: payload, add_paused: false });
      return { ...made, torrent: withTracker(made.torrent, tracker.url) };
    },
    magnet: (made) => `magnet:?xt=urn:btih:${made.infoHash}&dn=${encodeURIComponent(made.name)}&tr=${encodeURIComponent(tracker.url)}&x.pe=127.0.0.1:${seeder.listenPort}`,
    throttle: async (made, kibPerS) => {
      await client.call("core.set_torrent_options", [[made.infoHash], { max_upload_speed: kibPerS }]);
    },
    stop: async () => {
      await tracker.close();
      await seeder.stop();
    },
  };
}
