/**
 * The one id generator: ULID layout (48-bit ms time + 80 random bits, Crockford base32),
 * monotonic within a millisecond so ids sort in the order they were made.
 */
import type { Rng } from './clock.ts';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/**
 * Every two-digit string, at index 32 × first + second: an id's tail is two appends, not four
 * (each append past 13 characters is one more cons string: 64 B less per id, built ~3× faster).
 */
const PAIRS = Array.from({ length: 1024 }, (_, i) => ALPHABET[i >> 5]! + ALPHABET[i & 31]!);

export class IdGenerator {
  private lastMs = -1;
  private readonly random = new Uint8Array(16); // 16 base32 digits = 80 bits
  /** The first 22 characters (time + 12 random digits): rebuilt only when they change. */
  private head = '';

  constructor(private readonly rng: Rng) {}

  next(wallTime: number): string {
    const wallMs = Math.floor(wallTime); // callers may pass fractional ms (monotonic-anchored clocks)
    if (wallMs <= this.lastMs) {
      if (this.increment() < TAIL_START) this.head = this.buildHead();
    } else {
      this.lastMs = wallMs;
      for (let i = 0; i < 16; i++) this.random[i] = Math.floor(this.rng.next() * 32);
      this.random[0] = this.random[0]! & 0x0f; // headroom so increments rarely carry out
      this.head = this.buildHead();
    }
    return this.last();
  }

  /**
   * Makes every later id sort after `id` (a msgId read back from the store), so a rebuilt
   * shard never issues ids that sort before messages it already holds.
   */
  advancePast(id: string): void {
    // ULIDs sort as strings, so the last id made is compared as one.
    if (!isUlid(id) || (this.lastMs >= 0 && id <= this.last())) return;
    let ms = 0;
    for (let i = 0; i < 10; i++) ms = ms * 32 + ALPHABET.indexOf(id[i]!);
    this.lastMs = ms;
    this.random.set(Array.from(id.slice(10), (c) => ALPHABET.indexOf(c)));
    this.head = this.buildHead();
  }

  /** The id `next` returned last. */
  private last(): string {
    const r = this.random;
    return this.head + PAIRS[(r[12]! << 5) | r[13]!]! + PAIRS[(r[14]! << 5) | r[15]!]!;
  }

  private buildHead(): string {
    const time = idTimePrefix(this.lastMs);
    let random = '';
    for (let i = 0; i < TAIL_START; i++) random += ALPHABET[this.random[i]!]!;
    return time + random;
  }

  /** Adds one to the random part; returns the leftmost digit that changed. */
  private increment(): number {
    for (let i = 15; i >= 0; i--) {
      if (this.random[i]! < 31) {
        this.random[i]!++;
        return i;
      }
      this.random[i] = 0;
    }
    this.lastMs++; // 80 bits exhausted within one ms: borrow the next ms
    return -1;
  }
}

/** Random digits from here on are appended per id; the ones before live in `head`. */
const TAIL_START = 12;

export function isUlid(value: string): boolean {
  return /^[0-9A-HJKMNP-TV-Z]{26}$/.test(value);
}

/**
 * The 10-character time part of any id made at wall-clock `ms`: every id made earlier sorts
 * before it, so it bounds a range of ids by age (retention of ready messages left in the store).
 */
export function idTimePrefix(ms: number): string {
  let time = '';
  let t = Math.max(0, Math.floor(ms));
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  return time;
}
