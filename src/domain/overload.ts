/**
 * When is the process overloaded? Event-loop delay is the honest signal for a Node service:
 * every request waits that long before it even starts. Hysteresis keeps one slow tick (a GC,
 * a big batch) from flapping readiness: `windows` bad samples in a row raise it, as many good
 * ones clear it.
 */
export interface OverloadPolicy {
  /** p99 event-loop delay (ms) above which a sample window is bad. */
  thresholdMs: number;
  /** Consecutive bad (good) windows that raise (clear) the overload. */
  windows: number;
}

export type OverloadChange = 'raised' | 'cleared' | undefined;

export class OverloadDetector {
  private streak = 0;
  overloaded = false;

  constructor(private readonly policy: OverloadPolicy) {}

  /** Feeds one window's p99 delay; says whether the overload state changed. */
  sample(p99DelayMs: number): OverloadChange {
    const bad = p99DelayMs > this.policy.thresholdMs;
    if (bad === this.overloaded) {
      this.streak = 0;
      return undefined;
    }
    if (++this.streak < this.policy.windows) return undefined;
    this.streak = 0;
    this.overloaded = bad;
    return bad ? 'raised' : 'cleared';
  }
}

/**
 * Commit latencies of one sample window, for the store-commit bound: the p99 of what was
 * recorded since the last `take()`. A window without commits reads 0 (nothing waited).
 * Bounded: past `cap` samples a window keeps every other one, which holds its percentiles.
 */
export class LatencyWindow {
  private samples: number[] = [];
  private stride = 1;
  private skipped = 0;

  constructor(private readonly cap = 4_096) {}

  record(ms: number): void {
    if (++this.skipped < this.stride) return;
    this.skipped = 0;
    this.samples.push(ms);
    if (this.samples.length >= this.cap) {
      this.samples = this.samples.filter((_, i) => i % 2 === 0);
      this.stride *= 2;
    }
  }

  /** The window's p99 (nearest rank), and a fresh window. */
  take(): number {
    const s = this.samples.sort((a, b) => a - b);
    const p99 = s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)]!;
    this.samples = [];
    this.stride = 1;
    this.skipped = 0;
    return p99;
  }
}
