/** Per-tenant send quotas: one token bucket per tenant, created on first use. */
import { MailboxError } from '../errors.ts';
import { TokenBucket } from '../domain/token-bucket.ts';
import type { QuotaConfig } from '../config/config.ts';

export class QuotaBook {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(private readonly config: QuotaConfig) {}

  get enabled(): boolean {
    return this.config.sendPerSecond > 0;
  }

  /** Takes `n` sends from the tenant's bucket, or explains when to come back. */
  take(tenant: string, n: number, now: number): MailboxError | undefined {
    if (!this.enabled) return undefined;
    let bucket = this.buckets.get(tenant);
    if (!bucket) {
      bucket = new TokenBucket(this.config.sendPerSecond, Math.max(this.config.burst, this.config.sendPerSecond), now);
      this.buckets.set(tenant, bucket);
    }
    if (bucket.tryTake(n, now)) return undefined;
    const wait = bucket.waitMs(n, now);
    return new MailboxError('E_SATURATED', `tenant send quota of ${this.config.sendPerSecond}/s exhausted`, {
      retryAfterMs: Number.isFinite(wait) ? wait : 1000,
    });
  }
}
