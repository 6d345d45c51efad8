/**
 * Per-tenant quotas from the governance policy (src/domain/policy.ts): for SENDs a message
 * bucket and a byte bucket per tenant, made on first use with the limits in force then, and
 * the bounds on what a tenant holds (queued messages, open leases), which the shards enforce
 * against their counts (tenant-holds.ts). A reload replaces the policy at once; a preset that
 * starts or ends changes a tenant's rates, and its buckets are made again with the new ones
 * (starting full, so a change never refuses at once).
 */
import type { QuotaConfig } from '../config/config.ts';
import { EMPTY_POLICY, limitsFor, type Policy, type TenantLimits } from '../domain/policy.ts';
import { TokenBucket } from '../domain/token-bucket.ts';
import { MailboxError } from '../errors.ts';

/** A byte bucket holds at least one largest frame, so any single message can pass in time. */
const MAX_FRAME_BYTES = 1024 * 1024;

interface Buckets {
  /** The limits these buckets were made with. */
  limits: TenantLimits;
  msgs: TokenBucket | undefined;
  bytes: TokenBucket | undefined;
}

/** The policy the `quota.*` keys describe, for a mailbox without a policy file. */
export function policyFromQuotaConfig(config: QuotaConfig): Policy {
  if (config.sendPerSecond <= 0) return EMPTY_POLICY;
  const burst = Math.max(config.burst, config.sendPerSecond);
  return { ...EMPTY_POLICY, defaults: { ...EMPTY_POLICY.defaults, sendPerSecond: config.sendPerSecond, burstSeconds: burst / config.sendPerSecond } };
}

/** A tenant's bounds on what it holds; 0: unlimited. */
export interface HoldBounds {
  maxQueued: number;
  maxOpenLeases: number;
}

export class QuotaBook {
  private readonly buckets = new Map<string, Buckets>();
  private limited = false;
  /** Bounds per tenant, looked up once per policy (presets do not change them). */
  private readonly bounds = new Map<string, HoldBounds | undefined>();
  private bounded = false;

  constructor(private policy: Policy) {
    this.replace(policy);
  }

  get current(): Policy {
    return this.policy;
  }

  /** Puts `policy` in force now (an atomic swap: the next SEND sees the whole new policy). */
  replace(policy: Policy): void {
    this.policy = policy;
    this.buckets.clear();
    this.bounds.clear();
    const rated = (l: Partial<TenantLimits>): boolean => (l.sendPerSecond ?? 0) > 0 || (l.sendBytesPerSecond ?? 0) > 0;
    const holds = (l: Partial<TenantLimits>): boolean => (l.maxQueued ?? 0) > 0 || (l.maxOpenLeases ?? 0) > 0;
    this.limited = rated(policy.defaults) || Object.values(policy.tenants).some(rated);
    this.bounded = holds(policy.defaults) || Object.values(policy.tenants).some(holds);
  }

  /** `tenant`'s bounds on queued messages and open leases; undefined when it has neither. */
  holdBounds(tenant: string): HoldBounds | undefined {
    if (!this.bounded) return undefined;
    if (this.bounds.has(tenant)) return this.bounds.get(tenant);
    const { maxQueued, maxOpenLeases } = limitsFor(this.policy, tenant, 0);
    const b = maxQueued > 0 || maxOpenLeases > 0 ? { maxQueued, maxOpenLeases } : undefined;
    this.bounds.set(tenant, b);
    return b;
  }

  /**
   * Takes a SEND request's messages and payload bytes from the tenant's buckets, or says when
   * to come back. `now` is monotonic ms (the buckets), `wall` wall-clock ms (preset expiries).
   * Without any limit in the policy this is one branch: nothing is summed or looked up.
   */
  take(tenant: string, items: ReadonlyArray<{ payload: Uint8Array }>, now: number, wall: number): MailboxError | undefined {
    if (!this.limited) return undefined;
    const n = items.length;
    let bytes = 0;
    for (const item of items) bytes += item.payload?.byteLength ?? 0;
    const limits = limitsFor(this.policy, tenant, wall);
    let b = this.buckets.get(tenant);
    if (b === undefined || !sameLimits(b.limits, limits)) {
      b = { limits, msgs: bucket(limits.sendPerSecond, limits.burstSeconds, 1, now), bytes: bucket(limits.sendBytesPerSecond, limits.burstSeconds, MAX_FRAME_BYTES, now) };
      this.buckets.set(tenant, b);
    }
    // Both or neither: a refused SEND takes nothing from either bucket.
    const msgWait = b.msgs?.waitMs(n, now) ?? 0;
    const byteWait = b.bytes?.waitMs(bytes, now) ?? 0;
    if (msgWait === 0 && byteWait === 0) {
      b.msgs?.tryTake(n, now);
      b.bytes?.tryTake(bytes, now);
      return undefined;
    }
    const wait = Math.max(msgWait, byteWait);
    const what = msgWait > 0 ? `${round(limits.sendPerSecond)} messages/s` : `${round(limits.sendBytesPerSecond)} bytes/s`;
    return new MailboxError('E_SATURATED', `tenant send quota of ${what} exhausted`, { retryAfterMs: Number.isFinite(wait) ? wait : 1000 });
  }
}

/** A bucket holding `seconds` of `rate` (at least `atLeast`, so one allowed request always fits); none for rate 0. */
function bucket(rate: number, seconds: number, atLeast: number, now: number): TokenBucket | undefined {
  return rate > 0 ? new TokenBucket(rate, Math.max(rate * seconds, atLeast, 1), now) : undefined;
}

function sameLimits(a: TenantLimits, b: TenantLimits): boolean {
  return a.sendPerSecond === b.sendPerSecond && a.sendBytesPerSecond === b.sendBytesPerSecond && a.burstSeconds === b.burstSeconds;
}

function round(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}
