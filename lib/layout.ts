// The S3 layout (docs/design.md "S3 layout"): every key the services read or write is made here.
import { isJobId } from "./job.ts";

export const incomingKey = (id: string) => `incoming/${id}.torrent`;
export const filesPrefix = (id: string) => `files/${id}/`;
export const dataPrefix = (id: string) => `files/${id}/data/`;
export const manifestKey = (id: string) => `files/${id}/manifest.json`;
/** The zip of all of a multi-file job's files (outside data/, so no payload key can be it). */
export const zipKey = (id: string) => `files/${id}/all.zip`;

/** The job id of `files/<id>/manifest.json`, or null (a payload file named manifest.json is not a manifest). */
export function idFromManifestKey(key: string): string | null {
  const m = /^files\/([0-9a-f]{40})\/manifest\.json$/.exec(key);
  return m && m[1] && isJobId(m[1]) ? m[1] : null;
}

/** A key as a URL path: each segment percent-encoded, the slashes kept. */
export const encodeKeyPath = (key: string) => key.split("/").map(encodeURIComponent).join("/");
