// The libtorrent session settings the seedbox's Deluge runs with, and why: the one table the local
// launcher (scripts/local/deluge.ts) and the AWS release (scripts/build-release.ts ships its output; deploy/deluge-init.sh copies it) both use.
// Deluge's RPC cannot set them, so our Deluge plugin (seedbox/deluge-plugin) applies them from
// t2s-libtorrent.json in Deluge's config folder when the daemon starts. Only settings that moved a
// measured figure are here (docs/design.md "Line rate" has the figures).
import { cp, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export type SettingValue = boolean | number;

export interface TuningSetting {
  key: string;
  value: SettingValue;
  why: string;
}

export const libtorrentTuning: readonly TuningSetting[] = [
  { key: "enable_outgoing_utp", value: false, why: "uTP's delay-based congestion control holds a peer to a few MB/s; TCP runs at line rate" },
  { key: "enable_incoming_utp", value: false, why: "peers that dial us over uTP would be held back the same way" },
];

/** The table as the key → value object libtorrent's apply_settings takes. */
export function tuningSettings(table: readonly TuningSetting[] = libtorrentTuning): Record<string, SettingValue> {
  return Object.fromEntries(table.map((s) => [s.key, s.value]));
}

/** The name Deluge knows the plugin by (core.conf enabled_plugins) and its RPC prefix. */
export const tuningPlugin = "T2sTuning";
export const tuningFile = "t2s-libtorrent.json";
const pluginEgg = join(dirname(fileURLToPath(import.meta.url)), "deluge-plugin", "T2sTuning-1.0.egg");

/**
 * Puts the plugin and its settings into a Deluge config folder (before deluged starts); add tuningPlugin to
 * core.conf's enabled_plugins. `settings` replaces the table (benchmarks measure alternatives with it).
 */
export async function installTuning(configDir: string, settings: Record<string, SettingValue> = tuningSettings()): Promise<void> {
  await cp(pluginEgg, join(configDir, "plugins", "T2sTuning-1.0.egg"), { recursive: true, force: true });
  await writeFile(join(configDir, tuningFile), JSON.stringify(settings, null, 2) + "\n", { mode: 0o644 });
}
