/**
 * The one backoff, used by NACK/expiry retries, supervisor restarts and client reconnects.
 *
 * - `retryDelay`: full jitter, `random(0, min(max, base·2^attempt))`.
 * - `restartDelay`: half jitter, `random(base/2, min(cap, base·2^n))`, never zero, so a
 *   crash loop cannot spin.
 */
import type { Rng } from './clock.ts';

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

function ceiling(policy: BackoffPolicy, exponent: number): number {
  // 2^exponent overflows to Infinity for large exponents; min() keeps it bounded. A zero base
  // (allowed by config) would make that 0·Infinity = NaN.
  if (policy.baseMs <= 0) return 0;
  return Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, exponent));
}

export function retryDelay(policy: BackoffPolicy, attempt: number, rng: Rng): number {
  return Math.floor(rng.next() * ceiling(policy, attempt));
}

export function restartDelay(policy: BackoffPolicy, restarts: number, rng: Rng): number {
  const high = ceiling(policy, restarts);
  const low = Math.min(policy.baseMs / 2, high);
  // ceil(low): an odd base (or base 1) would otherwise floor below base/2, even to zero.
  return Math.max(Math.ceil(low), Math.floor(low + rng.next() * (high - low)));
}
