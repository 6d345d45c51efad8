/**
 * The one id generator: ULID layout (48-bit ms time + 80 random bits, Crockford base32),
 * monotonic within a millisecond so ids sort in the order they were made.
 */
import type { Rng } from './clock.ts';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export class IdGenerator {
  private lastMs = -1;
  private readonly random = new Uint8Array(16); // 16 base32 digits = 80 bits

  constructor(private readonly rng: Rng) {}

  next(wallTime: number): string {
    const wallMs = Math.floor(wallTime); // callers may pass fractional ms (monotonic-anchored clocks)
    if (wallMs <= this.lastMs) {
      this.increment();
    } else {
      this.lastMs = wallMs;
      for (let i = 0; i < 16; i++) this.random[i] = Math.floor(this.rng.next() * 32);
      this.random[0] = this.random[0]! & 0x0f; // headroom so increments rarely carry out
    }
    let out = '';
    let t = this.lastMs;
    const time = new Array<string>(10);
    for (let i = 9; i >= 0; i--) {
      time[i] = ALPHABET[t % 32]!;
      t = Math.floor(t / 32);
    }
    out = time.join('');
    for (let i = 0; i < 16; i++) out += ALPHABET[this.random[i]!]!;
    return out;
  }

  private increment(): void {
    for (let i = 15; i >= 0; i--) {
      if (this.random[i]! < 31) {
        this.random[i]!++;
        return;
      }
      this.random[i] = 0;
    }
    this.lastMs++; // 80 bits exhausted within one ms: borrow the next ms
  }
}

export function isUlid(value: string): boolean {
  return /^[0-9A-HJKMNP-TV-Z]{26}$/.test(value);
}
