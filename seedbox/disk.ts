// Free space and size of the download volume.
import { statfs } from "node:fs/promises";

export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

export async function totalBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.blocks * s.bsize;
}
