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
