// The seedbox's libtorrent runs with the settings in seedbox/deluge-tuning.ts, read back from the running
// daemon's libtorrent session (through our Deluge plugin), also after deluged restarts; the test seeder,
// given no settings, keeps libtorrent's defaults, so the values come from the table and not from libtorrent.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { libtorrentTuning, tuningSettings } from "../../seedbox/deluge-tuning.ts";
import { testStack } from "../support/shared.ts";
import type { TestStack } from "../support/stack.ts";

let s: TestStack;
const keys = libtorrentTuning.map((t) => t.key);

before(async () => {
  s = await testStack();
});

describe("libtorrent tuning in local mode", () => {
  it("the seedbox's Deluge reports the table's settings from libtorrent", async () => {
    assert.ok(keys.length > 0);
    assert.deepEqual(await s.boxClient.libtorrentSettings(keys), tuningSettings());
  });

  it("differs from libtorrent's defaults, which the untuned seeder keeps", async () => {
    const seeder = await s.seederClient.libtorrentSettings(keys);
    assert.notDeepEqual(seeder, tuningSettings());
    assert.equal(seeder.enable_outgoing_utp, true);
  });

  it("applies them again after deluged restarts", async () => {
    await s.deluge.stopDaemon();
    await s.deluge.startDaemon();
    for (let i = 0; ; i++) {
      try {
        assert.deepEqual(await s.boxClient.libtorrentSettings(keys), tuningSettings());
        break;
      } catch (err) {
        if (i >= 100) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  });
});
