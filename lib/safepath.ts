// Turns names from a torrent into safe relative paths for S3 keys: no "..", no absolute paths,
// no control characters, and keys of at most 1024 bytes. The original stays for display.
import { createHash } from "node:crypto";

const maxComponentBytes = 255;
/** `files/<40 hex>/data/` takes 52 of S3's 1024 bytes. */
export const maxRelativeKeyBytes = 1024 - 52;

const bytes = (s: string) => Buffer.byteLength(s, "utf8");
const shortHash = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 16);

/** Cuts a string to at most `max` UTF-8 bytes without splitting a character. */
function cutBytes(s: string, max: number): string {
  let out = "";
  for (const ch of s) {
    if (bytes(out) + bytes(ch) > max) break;
    out += ch;
  }
  return out;
}

function safeComponent(part: string): string {
  // eslint-disable-next-line no-control-regex
  let s = part.normalize("NFC").replace(/[\u0000-\u001f\u007f-\u009f]/g, "_").replace(/[\\/]/g, "_");
  if (s === "" || /^\.+$/.test(s)) s = s.replace(/\./g, "_") || "_";
  if (bytes(s) > maxComponentBytes) {
    const ext = /\.[^.]{1,16}$/.exec(s)?.[0] ?? "";
    s = `${cutBytes(s, maxComponentBytes - 17 - bytes(ext))}~${shortHash(part)}${ext}`;
  }
  return s;
}

/** One file's safe relative path. */
export function safeRelativePath(parts: readonly string[]): string {
  const rel = parts.map(safeComponent).join("/");
  if (bytes(rel) <= maxRelativeKeyBytes) return rel;
  const last = safeComponent(parts[parts.length - 1] ?? "_");
  const head = `_long/${shortHash(parts.join("/"))}/`;
  return head + cutBytes(last, maxRelativeKeyBytes - bytes(head));
}

/** Safe relative paths for every file of a torrent, unique even where sanitising made two names alike. */
export function safeRelativePaths(files: readonly (readonly string[])[]): string[] {
  const seen = new Set<string>();
  return files.map((parts) => {
    let rel = safeRelativePath(parts);
    // Names that sanitise alike (or repeat) get a hash of the original and a counter, until unique.
    for (let n = 1; seen.has(rel); n++) {
      rel = safeRelativePath([...parts.slice(0, -1), `${shortHash(parts.join("\u0000"))}-${n}-${parts.at(-1) ?? ""}`]);
    }
    seen.add(rel);
    return rel;
  });
}
