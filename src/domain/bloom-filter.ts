/**
 * A Bloom filter over strings: "certainly absent" or "maybe present". The idempotency
 * index uses it to skip the disk read for keys it has never stored, which is nearly all.
 * Double hashing (Kirsch–Mitzenmacher) over two 32-bit FNV-1a variants.
 */
export class BloomFilter {
  private readonly bits: Uint32Array;
  private readonly size: number;
  private readonly hashes: number;
  private count = 0;

  /** Sized for `expected` keys at about `falsePositive` (1% by default). */
  constructor(expected: number, falsePositive = 0.01) {
    const n = Math.max(1, expected);
    const m = Math.ceil((-n * Math.log(falsePositive)) / (Math.LN2 * Math.LN2));
    this.size = Math.max(1024, Math.ceil(m / 32) * 32);
    this.bits = new Uint32Array(this.size / 32);
    this.hashes = Math.max(1, Math.round((this.size / n) * Math.LN2));
  }

  /** Keys added (duplicates counted again). */
  get added(): number {
    return this.count;
  }

  /** Bytes of RAM the bit array takes. */
  get bytes(): number {
    return this.bits.byteLength;
  }

  add(key: string): void {
    const [h1, h2] = hashPair(key);
    for (let i = 0; i < this.hashes; i++) {
      const bit = (h1 + i * h2) % this.size;
      this.bits[bit >>> 5]! |= 1 << (bit & 31);
    }
    this.count++;
  }

  mightContain(key: string): boolean {
    const [h1, h2] = hashPair(key);
    for (let i = 0; i < this.hashes; i++) {
      const bit = (h1 + i * h2) % this.size;
      if ((this.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}

const pair: [number, number] = [0, 0];

/** Two independent 32-bit hashes; the second is odd so the probe sequence never stalls. */
function hashPair(key: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  pair[0] = a >>> 0;
  pair[1] = (b | 1) >>> 0;
  return pair;
}
