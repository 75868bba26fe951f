// Free space on the download volume.
import { statfs } from "node:fs/promises";

export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}
