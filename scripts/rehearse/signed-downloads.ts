// The rehearsal's signed-downloads leg (AWS mode with a downloads key): a completed job's /d/ and /zip/
// links through the CloudFront stand-in, which checks each signed URL against the applied key group's
// public key. The signed URL must give the file's bytes and name, a Range its bytes; a tampered signature
// and an expired URL (signed here with the owner's private key, as ingest would) must get 403.
import { createHash } from "node:crypto";
import { open, readFile } from "node:fs/promises";
import { basename } from "node:path";
import { getSignedUrl } from "@aws-sdk/cloudfront-signer";
import { parse as parseDisposition } from "content-disposition";

export interface SignedDownloads {
  full: boolean;
  range: boolean;
  tampered_403: boolean;
  expired_403: boolean;
  zip: boolean;
  /** The page's CSP lets media load from its own origin, where the signed URLs point. */
  csp_self: boolean;
}

export const noSignedDownloads = (): SignedDownloads => ({ full: false, range: false, tampered_403: false, expired_403: false, zip: false, csp_self: false });

export async function checkSignedDownloads(o: {
  /** A file's /d/ link and the seeded file it must give (on disk). */
  fileLink: string;
  filePath: string;
  zipLink: string;
  /** The zip holds at least these bytes. */
  zipMinBytes: number;
  front: { url: string; domainName: string };
  /** The applied stack's public key id, and the private key the rehearsal put in SSM. */
  keyPairId: string;
  privateKey: string;
  fail: (what: string) => void;
}): Promise<SignedDownloads> {
  const out = noSignedDownloads();
  const distribution = `https://${o.front.domainName}`;
  const via = (link: string) => {
    const u = new URL(link, o.front.url);
    return u.origin === distribution ? `${o.front.url}${u.pathname}${u.search}` : u.href;
  };
  /** The redirect a link answers: a URL on the distribution's /files/*, signed with the stack's key. */
  const redirectOf = async (link: string, what: string) => {
    const res = await fetch(via(link), { redirect: "manual" });
    await res.body?.cancel();
    const location = res.headers.get("location") ?? "";
    const u = location ? new URL(location) : null;
    if (res.status !== 302 || u?.origin !== distribution || !u.pathname.startsWith("/files/") || u.searchParams.get("Key-Pair-Id") !== o.keyPairId) {
      o.fail(`signed downloads: the ${what} link answered ${res.status} ${location.slice(0, 120)}, not a redirect to a signed URL on ${distribution}/files/ with key ${o.keyPairId}`);
      return null;
    }
    return location;
  };
  const get = async (url: string, headers: Record<string, string> = {}) => {
    const res = await fetch(via(url), { headers, redirect: "manual" });
    return { res, body: Buffer.from(await res.arrayBuffer()) };
  };

  const signed = await redirectOf(o.fileLink, "file");
  if (signed) {
    const seeded = await readFile(o.filePath);
    const full = await get(signed);
    const name = full.res.headers.get("content-disposition");
    out.full = full.res.status === 200 && full.body.equals(seeded) && !!name && parseDisposition(name).parameters.filename === basename(o.filePath);
    if (!out.full) o.fail(`signed downloads: the signed URL gave HTTP ${full.res.status}, ${full.body.length} bytes (${sha(full.body)}, seeded ${sha(seeded)}), Content-Disposition ${name}`);

    const [from, to] = [1000, Math.min(seeded.length, 1000 + 65_536) - 1];
    const part = await get(signed, { range: `bytes=${from}-${to}` });
    const want = Buffer.alloc(to - from + 1);
    const fd = await open(o.filePath);
    await fd.read(want, 0, want.length, from).finally(() => fd.close());
    out.range = part.res.status === 206 && part.body.equals(want) && part.res.headers.get("content-range") === `bytes ${from}-${to}/${seeded.length}`;
    if (!out.range) o.fail(`signed downloads: bytes=${from}-${to} gave HTTP ${part.res.status}, ${part.body.length} bytes, Content-Range ${part.res.headers.get("content-range")}`);

    const u = new URL(signed);
    const sig = u.searchParams.get("Signature")!;
    u.searchParams.set("Signature", (sig[0] === "A" ? "B" : "A") + sig.slice(1));
    const tampered = await get(u.href);
    out.tampered_403 = tampered.res.status === 403;
    if (!out.tampered_403) o.fail(`signed downloads: a signature with one character changed gave HTTP ${tampered.res.status}`);

    // Signed here with the owner's key: accepted while it lasts (so the 403 is the expiry's), refused after.
    const resource = `${distribution}${new URL(signed).pathname}`;
    const sign = (offsetS: number) => getSignedUrl({ url: resource, keyPairId: o.keyPairId, privateKey: o.privateKey, dateLessThan: new Date(Date.now() + offsetS * 1000) });
    const [live, expired] = [await get(sign(60)), await get(sign(-60))];
    out.expired_403 = live.res.status === 200 && expired.res.status === 403;
    if (!out.expired_403) o.fail(`signed downloads: the rehearsal's own signed URL gave HTTP ${live.res.status}; expired a minute ago, HTTP ${expired.res.status}`);
  }

  const zipSigned = await redirectOf(o.zipLink, "zip");
  if (zipSigned) {
    const zip = await get(zipSigned);
    out.zip = zip.res.status === 200 && zip.body.length >= o.zipMinBytes && zip.body.subarray(0, 4).equals(Buffer.from("PK\x03\x04", "latin1"));
    if (!out.zip) o.fail(`signed downloads: the zip's signed URL gave HTTP ${zip.res.status}, ${zip.body.length} bytes, not a zip of at least ${o.zipMinBytes}`);
  }

  // The page's CSP: signed URLs are on the page's own origin, which media-src 'self' allows.
  const page = await fetch(`${o.front.url}/`);
  await page.body?.cancel();
  const media = /(?:^|;)\s*media-src ([^;]*)/.exec(page.headers.get("content-security-policy") ?? "")?.[1]?.split(/\s+/) ?? [];
  out.csp_self = media.includes("'self'");
  if (!out.csp_self) o.fail(`signed downloads: the page's CSP has media-src ${media.join(" ") || "(none)"}, without 'self'`);
  return out;
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex").slice(0, 12);
