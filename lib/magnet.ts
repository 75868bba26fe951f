// Reads a magnet URI (BEP 9): btih as hex or base32, with dn, tr and x.pe.
import { AppError } from "./errors.ts";

export interface Magnet {
  infoHash: string;
  name: string | null;
  trackers: string[];
  peers: string[];
}

const bad = (why: string) => new AppError("invalid_magnet", `This is not a valid magnet link: ${why}.`);
const maxMagnetLength = 64 * 1024;
const peerPattern = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

function base32ToHex(s: string): string | null {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  let hex = "";
  for (const ch of s.toUpperCase()) {
    const i = alphabet.indexOf(ch);
    if (i < 0) return null;
    value = (value << 5) | i;
    bits += 5;
    while (bits >= 8) {
      bits -= 8;
      hex += ((value >>> bits) & 0xff).toString(16).padStart(2, "0");
    }
  }
  return hex;
}

export function parseMagnet(uri: string): Magnet {
  if (uri.length > maxMagnetLength) throw bad("it is longer than 64 KiB");
  if (!/^magnet:\?/i.test(uri)) throw bad('it must start with "magnet:?"');
  const params = new URLSearchParams(uri.slice(uri.indexOf("?") + 1));
  const xts = params.getAll("xt");
  if (xts.length === 0) throw bad('it has no "xt" (exact topic) parameter');
  let infoHash: string | null = null;
  let v2 = false;
  for (const xt of xts) {
    const m = /^urn:btih:(.*)$/i.exec(xt);
    if (!m) {
      if (/^urn:btmh:/i.test(xt)) v2 = true;
      continue;
    }
    const h = m[1] ?? "";
    if (/^[0-9a-f]{40}$/i.test(h)) infoHash = h.toLowerCase();
    else if (h.length === 32) infoHash = base32ToHex(h) ?? (() => { throw bad("its base32 info-hash has characters outside A-Z and 2-7"); })();
    else throw bad("its info-hash must be 40 hex or 32 base32 characters");
  }
  if (!infoHash) {
    if (v2) throw new AppError("unsupported_torrent", "This magnet names only a BitTorrent v2 hash (btmh); only v1 and hybrid torrents are supported for now.");
    throw bad('its "xt" is not a BitTorrent info-hash (urn:btih:...)');
  }
  // libtorrent reads x.pe without unescaping it, so only plain host:port peers are kept.
  const peers = params.getAll("x.pe").filter((p) => peerPattern.test(p));
  return { infoHash, name: params.get("dn"), trackers: params.getAll("tr"), peers };
}

/** A normalised magnet: only the parts the seedbox needs, in a fixed order, values percent-encoded (peers are plain host:port). */
export function formatMagnet(m: Magnet): string {
  const parts = [`xt=urn:btih:${m.infoHash}`];
  if (m.name) parts.push(`dn=${encodeURIComponent(m.name)}`);
  for (const t of m.trackers) parts.push(`tr=${encodeURIComponent(t)}`);
  for (const p of m.peers) parts.push(`x.pe=${p}`);
  return `magnet:?${parts.join("&")}`;
}
