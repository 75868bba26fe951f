// What each file of a torrent becomes in the bucket: its key (or none, for padding) and its headers.
// Shared by the uploader and overlapped upload, which must agree on both.
import { basename } from "node:path";
import { create as contentDisposition } from "content-disposition";
import mime from "mime-types";
import { dataPrefix } from "../lib/layout.ts";
import type { ObjectHeaders } from "../lib/object-store.ts";
import { safeRelativePaths } from "../lib/safepath.ts";

/** Content-Disposition with the file's own name, encoded so no name (quotes, CR/LF) can break the header. */
export const dispositionFor = (path: string) => contentDisposition(basename(path));

/** libtorrent's padding files in hybrid torrents are not payload. */
const isPadding = (path: string) => path.split("/").some((p) => p === ".pad");

/** Each file's S3 key, in the order given; null for padding files, which are not uploaded. */
export function objectKeys(id: string, files: readonly { path: string }[]): (string | null)[] {
  const payload = files.filter((f) => !isPadding(f.path));
  const keys = safeRelativePaths(payload.map((f) => f.path.split("/")));
  let i = 0;
  return files.map((f) => (isPadding(f.path) ? null : dataPrefix(id) + keys[i++]!));
}

/** The headers a downloaded file is served with. */
export const objectHeaders = (path: string): ObjectHeaders => ({
  contentType: mime.lookup(path) || "application/octet-stream",
  contentDisposition: dispositionFor(path),
});
