// How a file of a torrent splits into S3 multipart parts made of whole pieces, so each part can be
// checked against the torrent's own piece hashes before it is uploaded.
import { createHash } from "node:crypto";

/** S3's limits on multipart uploads. */
const maxParts = 10_000;
const minPartBytes = 5 * 1024 ** 2;
const maxPartBytes = 5 * 1024 ** 3;

/** Part size for a file: at least the minimum (and S3's 5 MiB), and large enough to stay within 10 000 parts. */
export function partSizeFor(size: number, min: number): number {
  return Math.max(minPartBytes, min, Math.ceil(size / maxParts));
}

export interface PartPlan {
  fileOffset: number;
  fileSize: number;
  pieceLength: number;
  piecesPerPart: number;
  partSize: number;
  count: number;
  /** The torrent's total size: the last piece of the torrent may be short. */
  torrentSize: number;
}

/**
 * A plan for a file that starts on a piece boundary (every single-file torrent, and files after padding),
 * or null when its parts cannot be made of whole pieces.
 */
export function planParts(fileOffset: number, fileSize: number, pieceLength: number, partSizeMin: number, torrentSize: number): PartPlan | null {
  if (fileSize <= 0 || pieceLength <= 0 || fileOffset % pieceLength !== 0) return null;
  const piecesPerPart = Math.ceil(partSizeFor(fileSize, partSizeMin) / pieceLength);
  const partSize = piecesPerPart * pieceLength;
  if (partSize > maxPartBytes) return null;
  return { fileOffset, fileSize, pieceLength, piecesPerPart, partSize, count: Math.ceil(fileSize / partSize), torrentSize };
}

/** Byte range [start, end) of part n (0-based) within the file. */
export function partRange(p: PartPlan, n: number): [number, number] {
  return [n * p.partSize, Math.min(p.fileSize, (n + 1) * p.partSize)];
}

/** Pieces [first, end) that hold part n's bytes. */
export function partPieces(p: PartPlan, n: number): [number, number] {
  const [start, end] = partRange(p, n);
  return [(p.fileOffset + start) / p.pieceLength, Math.ceil((p.fileOffset + end) / p.pieceLength)];
}

/**
 * Whether part n's bytes alone can be checked: its last piece ends inside the file (or the torrent ends
 * with the file). A piece that runs on into the next file cannot be hashed from this file's bytes.
 */
export function checkable(p: PartPlan, n: number): boolean {
  const [, endPiece] = partPieces(p, n);
  return endPiece * p.pieceLength <= p.fileOffset + p.fileSize || p.fileOffset + p.fileSize === p.torrentSize;
}

/** Whether every piece of part n is one Deluge reports as downloaded and checked (state 3). */
export function partDownloaded(p: PartPlan, n: number, pieceStates: readonly number[]): boolean {
  const [first, end] = partPieces(p, n);
  for (let i = first; i < end; i++) if (pieceStates[i] !== 3) return false;
  return true;
}

/** Whether `buf` (part n's bytes) matches the torrent's SHA-1 piece hashes. */
export function partVerified(p: PartPlan, n: number, buf: Uint8Array, hashes: Uint8Array): boolean {
  const [first, end] = partPieces(p, n);
  for (let i = first; i < end; i++) {
    const from = (i - first) * p.pieceLength;
    const digest = createHash("sha1").update(buf.subarray(from, Math.min(buf.length, from + p.pieceLength))).digest();
    if (!digest.equals(hashes.subarray(i * 20, i * 20 + 20))) return false;
  }
  return true;
}
