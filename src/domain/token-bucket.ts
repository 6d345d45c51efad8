// Refill is fractional arithmetic: after waiting exactly waitMs the sum can land a rounding
// error short of n (e.g. 71.99999999 of 72), which would refuse a caller who waited as told.
const EPSILON = 1e-9;

/** Per-tenant rate quota: a token bucket refilled continuously, driven by the caller's clock. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.ratePerSecond) / 1000);
      this.last = now;
    }
  }

  /** Takes `n` tokens if there are enough; otherwise takes none and returns false. */
  tryTake(n: number, now: number): boolean {
    this.refill(now);
    if (this.tokens + EPSILON < n) return false;
    this.tokens -= n;
    return true;
  }

  /** Milliseconds until `n` tokens will be there (0 if they are now). */
  waitMs(n: number, now: number): number {
    this.refill(now);
    if (this.tokens + EPSILON >= n) return 0;
    if (n > this.burst || this.ratePerSecond <= 0) return Number.POSITIVE_INFINITY;
    return Math.ceil(((n - this.tokens) * 1000) / this.ratePerSecond);
  }
}
