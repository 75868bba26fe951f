// Watches Deluge's completed folder: a new file or folder there means a torrent may have just finished.
import { watch } from "chokidar";
import type { Logger } from "../lib/log.ts";

export function watchCompleted(dir: string, onChange: () => void, log: Logger): { close: () => Promise<void> } {
  const w = watch(dir, { ignoreInitial: true, depth: 2 });
  w.on("add", onChange).on("addDir", onChange).on("error", (err) => log.warn("watcher error", { err }));
  return { close: () => w.close() };
}
