/**
 * Time and randomness come in from outside so that tests and property tests can drive
 * them deterministically.
 */
export interface Clock {
  /** Monotonic milliseconds, for deadlines. */
  now(): number;
  /** Wall-clock epoch milliseconds, for timestamps people read and for what must survive a restart. */
  wall(): number;
}

/** Uniform in [0, 1). */
export interface Rng {
  next(): number;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wall: () => Date.now(),
};

export const mathRng: Rng = { next: () => Math.random() };

/** A clock that moves only when told to. */
export class ManualClock implements Clock {
  constructor(
    private monotonic = 0,
    private readonly epoch = 1_700_000_000_000,
  ) {}
  now(): number {
    return this.monotonic;
  }
  wall(): number {
    return this.epoch + this.monotonic;
  }
  advance(ms: number): void {
    this.monotonic += ms;
  }
}

/** Deterministic xorshift32 generator seeded by an integer. */
export class SeededRng implements Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 0x1_0000_0000;
  }
}
