// Reads a .torrent (BEP 3, and the v1 half of BEP 52 hybrids) into what a job needs.
import { createHash } from "node:crypto";
import bencode from "bencode";
import { AppError } from "./errors.ts";

export const maxTorrentBytes = 10 * 1024 * 1024;
const maxFiles = 100_000;
// libtorrent (2.1.1, probed) refuses a piece length above 2^29 - 16 KiB and a total size of 2^44 - 16 KiB or
// more; a job it refuses could never end, so ingest refuses it first.
const maxPieceLength = 2 ** 29 - 16 * 1024;
const maxTorrentSize = 2 ** 44 - 16 * 1024 - 1;

export interface TorrentFile {
  /** Path components as written in the torrent (UTF-8), the torrent's name first for multi-file torrents. */
  path: string[];
  length: number;
}

export interface TorrentInfo {
  infoHash: string;
  name: string;
  size: number;
  files: TorrentFile[];
  hybrid: boolean;
  pieceLength: number;
  /** The v1 piece hashes, 20 bytes of SHA-1 each, in piece order. */
  pieces: Uint8Array;
}

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
const utf8 = new TextDecoder("utf-8", { fatal: false });
const text = (v: unknown): string | null => (v instanceof Uint8Array ? utf8.decode(v) : null);
const isLength = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** Where the last bencode.decode call stopped, relative to its start (the package keeps it on the function). */
const decodedTo = () => (bencode.decode as typeof bencode.decode & { position: number }).position;

const bad = (why: string) => new AppError("invalid_torrent", `This is not a valid .torrent file: ${why}.`);

/** The byte range of the top-level "info" value, so the info-hash is taken over the exact bytes given. */
function infoSpan(buf: Uint8Array): [number, number] | null {
  if (buf[0] !== 0x64 /* d */) return null;
  let pos = 1;
  // decode() with a start offset reports its position relative to that offset.
  const next = () => {
    const value: unknown = bencode.decode(buf, pos, buf.length);
    pos += decodedTo();
    return value;
  };
  while (pos < buf.length && buf[pos] !== 0x65 /* e */) {
    const key = next();
    const start = pos;
    next();
    if (text(key) === "info") return [start, pos];
  }
  return null;
}

function decodeAll(buf: Uint8Array): { top: Dict; span: [number, number] } {
  let top: unknown;
  let span: [number, number] | null;
  try {
    top = bencode.decode(buf);
    if (decodedTo() !== buf.length) throw new Error("trailing bytes");
    span = infoSpan(buf);
  } catch (err) {
    // Deep nesting makes the recursive decoder run out of stack: that is bad input, not a crash.
    if (err instanceof RangeError) throw bad("it is nested too deeply");
    throw bad("it is not bencoded data or it is truncated");
  }
  if (!isDict(top)) throw bad("it is not a bencoded dictionary");
  if (!span || !isDict(top.info)) throw bad("it has no info dictionary");
  return { top, span };
}

function parsePath(v: unknown): string[] | null {
  if (!Array.isArray(v) || v.length === 0) return null;
  const parts: string[] = [];
  for (const p of v) {
    const s = text(p);
    if (s === null) return null;
    parts.push(s);
  }
  return parts;
}

export function parseTorrent(buf: Uint8Array): TorrentInfo {
  if (buf.length === 0) throw bad("it is empty");
  if (buf.length > maxTorrentBytes) throw new AppError("too_large", "The .torrent file is larger than 10 MiB.");
  const { top, span } = decodeAll(buf);
  const info = top.info as Dict;
  const hasV1 = info.pieces instanceof Uint8Array || info.length !== undefined || info.files !== undefined;
  const hasV2 = info["meta version"] === 2 || isDict(info["file tree"]);
  if (!hasV1 && hasV2) {
    throw new AppError("unsupported_torrent", "This is a BitTorrent v2-only torrent; only v1 and hybrid torrents are supported for now.");
  }
  const name = text(info["name.utf-8"]) ?? text(info.name);
  if (!name) throw bad("its info dictionary has no name");
  const pieceLength = info["piece length"];
  if (!isLength(pieceLength) || pieceLength === 0) throw bad("its piece length is missing or zero");
  if (pieceLength > maxPieceLength) throw bad(`its piece length is over ${maxPieceLength} bytes`);
  const pieces = info.pieces;
  if (!(pieces instanceof Uint8Array) || pieces.length === 0 || pieces.length % 20 !== 0) throw bad("its piece hashes are missing or malformed");

  let files: TorrentFile[];
  if (info.files !== undefined) {
    if (!Array.isArray(info.files) || info.files.length === 0) throw bad("its file list is empty or malformed");
    if (info.files.length > maxFiles) throw bad(`it lists more than ${maxFiles} files`);
    files = info.files.map((f: unknown) => {
      const path = isDict(f) ? parsePath(f["path.utf-8"] ?? f.path) : null;
      if (!isDict(f) || !path || !isLength(f.length)) throw bad("an entry of its file list is malformed");
      return { path: [name, ...path], length: f.length };
    });
  } else {
    if (!isLength(info.length)) throw bad("it has neither a length nor a file list");
    files = [{ path: [name], length: info.length }];
  }
  const size = files.reduce((n, f) => n + f.length, 0);
  if (!Number.isSafeInteger(size) || size > maxTorrentSize) throw bad("its total size is out of range");
  if (size === 0) throw bad("its files hold no data");
  if (pieces.length / 20 !== Math.ceil(size / pieceLength)) throw bad("its piece count does not match its size");
  const infoHash = createHash("sha1").update(buf.subarray(span[0], span[1])).digest("hex");
  return { infoHash, name, size, files, hybrid: hasV2, pieceLength, pieces };
}
