// Downloads a job's files through their /d/ links: resumed with Range, sizes checked, never outside a folder.
import { createWriteStream } from "node:fs";
import { mkdir, stat, truncate } from "node:fs/promises";
import { dirname, resolve, sep } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { request } from "undici";
import { CliError, exitCodes } from "./client.ts";

/** A torrent path as a path under `dir`: no "..", no absolute path, nothing outside. */
export function localPath(dir: string, path: string): string {
  // eslint-disable-next-line no-control-regex
  const parts = path.split(/[\\/]/).map((p) => p.replace(/[\u0000-\u001f]/g, "_")).filter((p) => p !== "" && p !== "." && p !== "..");
  const to = resolve(dir, ...(parts.length ? parts : ["file"]));
  if (!to.startsWith(resolve(dir) + sep)) throw new CliError("unsafe_path", `Refusing to write ${path} outside ${dir}.`, exitCodes.failed);
  return to;
}

export async function download(url: string, to: string, size: number, signal?: AbortSignal): Promise<"complete" | "resumed" | "downloaded"> {
  const have = await stat(to).then((s) => s.size, () => -1);
  if (have === size) return "complete";
  if (have > size) await truncate(to, 0);
  const from = have > 0 && have < size ? have : 0;
  let status: number;
  let body: Readable;
  try {
    // The /d/ link answers a redirect to the storage's presigned URL; the bytes come from there. undici's
    // request (not fetch): Node 24's bundled fetch can trip an internal assertion when a server closes
    // the connection while a slow disk holds the stream paused.
    const link = await fetch(url, { redirect: "manual", signal });
    await link.body?.cancel();
    if (link.status === 410) throw new CliError("expired", "This job's files have expired.", exitCodes.expired);
    const location = link.headers.get("location");
    if (link.status !== 302 || !location) throw new CliError("download_failed", `Downloading ${to} failed: HTTP ${link.status}.`, exitCodes.api);
    const res = await request(location, { headers: from > 0 ? { range: `bytes=${from}-` } : {}, signal });
    status = res.statusCode;
    body = res.body;
  } catch (err) {
    if (err instanceof CliError || signal?.aborted) throw err;
    throw new CliError("unreachable", `Cannot download ${to} (${(err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code ?? "network error"}).`, exitCodes.unreachable);
  }
  if (status !== 200 && status !== 206) {
    body.destroy();
    throw new CliError("download_failed", `Downloading ${to} failed: HTTP ${status}.`, exitCodes.api);
  }
  const resumed = from > 0 && status === 206;
  await mkdir(dirname(to), { recursive: true });
  await pipeline(body, createWriteStream(to, { flags: resumed ? "a" : "w" }), { signal });
  const got = (await stat(to)).size;
  if (got !== size) throw new CliError("size_mismatch", `${to} is ${got} bytes, expected ${size}; run t2s get again to resume.`, exitCodes.failed);
  return resumed ? "resumed" : "downloaded";
}

