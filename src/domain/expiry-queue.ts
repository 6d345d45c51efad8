/**
 * Keys in the order they expire, each with its own expiry time: a ring of keys beside a ring
 * of float64 times. The idempotency window holds one position per key for minutes, so a
 * position is two array slots, not an object the garbage collector has to copy and promote.
 */
export class ExpiryQueue {
  private keys: Array<string | undefined>;
  private times: Float64Array;
  private head = 0;
  private count = 0;

  constructor(initialCapacity = 64) {
    const capacity = Math.max(1, initialCapacity);
    this.keys = new Array<string | undefined>(capacity);
    this.times = new Float64Array(capacity);
  }

  get length(): number {
    return this.count;
  }

  push(key: string, expiresAt: number): void {
    if (this.count === this.keys.length) this.grow();
    const at = (this.head + this.count) % this.keys.length;
    this.keys[at] = key;
    this.times[at] = expiresAt;
    this.count++;
  }

  /** The key at the head (the one that expires first), or undefined when empty. */
  peekKey(): string | undefined {
    return this.count === 0 ? undefined : this.keys[this.head];
  }

  /** The head's expiry, or undefined when empty. */
  peekExpiry(): number | undefined {
    return this.count === 0 ? undefined : this.times[this.head];
  }

  /** Drops the head. */
  shift(): void {
    if (this.count === 0) return;
    this.keys[this.head] = undefined;
    this.head = (this.head + 1) % this.keys.length;
    this.count--;
  }

  private grow(): void {
    const size = this.keys.length * 2;
    const keys = new Array<string | undefined>(size);
    const times = new Float64Array(size);
    for (let i = 0; i < this.count; i++) {
      const from = (this.head + i) % this.keys.length;
      keys[i] = this.keys[from];
      times[i] = this.times[from]!;
    }
    this.keys = keys;
    this.times = times;
    this.head = 0;
  }
}
