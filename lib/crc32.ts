// CRC-32 of a concatenation from the CRCs of its pieces (zlib's crc32_combine, in the x^(2^n) mod p form
// of zlib 1.2.12), so a file's CRC comes from the per-part CRCs its upload already computed
// (the zip's entries need each file's CRC-32).
const poly = 0xedb88320;

function multModP(a: number, b: number): number {
  let m = 0x8000_0000;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ poly : b >>> 1;
  }
  return p >>> 0;
}

const x2n: number[] = [0x4000_0000];
for (let k = 1; k < 32; k++) x2n.push(multModP(x2n[k - 1]!, x2n[k - 1]!));

/** x^(n * 2^k) mod p. */
function x2nModP(n: number, k: number): number {
  let p = 0x8000_0000;
  while (n > 0) {
    if (n % 2 === 1) p = multModP(x2n[k & 31]!, p);
    n = Math.floor(n / 2);
    k++;
  }
  return p;
}

/** The CRC-32 of A followed by B, from crc(A), crc(B) and B's length. */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  return (multModP(x2nModP(lengthB, 3), crcA >>> 0) ^ (crcB >>> 0)) >>> 0;
}
