/**
 * The policy's bounds on what a tenant holds: `maxQueued` (messages of every state, over every
 * topic and shard) and `maxOpenLeases`. Enforced where the messages are, against the shards'
 * own counts (ShardQueue.tenantHolds) summed when a shard asks: every shard of a mailbox runs
 * on this one thread, so the sum is exact at that moment, with no second ledger to drift.
 * One branch when no tenant has a bound.
 */
import type { TenantHolds } from '../domain/shard-queue.ts';
import type { TenantId } from '../domain/types.ts';
import { MailboxError } from '../errors.ts';
import type { QuotaBook } from './quota.ts';

/** How soon a refused caller may try again: holds drain as consumers acknowledge. */
const HOLD_RETRY_MS = 1000;

export interface HoldCounts {
  tenantHolds?(tenant: TenantId): Readonly<TenantHolds> | undefined;
}

export class TenantHoldGate {
  constructor(
    private readonly quota: QuotaBook,
    /** The shards; one between restarts (no running queue) holds nothing in RAM. */
    private readonly shards: ReadonlyArray<{ readonly running?: { readonly queue: HoldCounts } | undefined }>,
    /** A refusal, for `rejected_total{reason="quota"}`. */
    private readonly refused: () => void,
  ) {}

  /** Whether `tenant` may hold one more message; the refusal says why. */
  admitMessage(tenant: TenantId): MailboxError | undefined {
    const max = this.quota.holdBounds(tenant)?.maxQueued ?? 0;
    if (max === 0 || this.sum(tenant, 'held') < max) return undefined;
    this.refused();
    return new MailboxError('E_SATURATED', `tenant queue limit of ${max} messages reached: consumers must acknowledge some first`, { retryAfterMs: HOLD_RETRY_MS });
  }

  /** Leases `tenant` may still open (Infinity: no bound). */
  leaseRoom(tenant: TenantId): number {
    const max = this.quota.holdBounds(tenant)?.maxOpenLeases ?? 0;
    return max === 0 ? Number.POSITIVE_INFINITY : max - this.sum(tenant, 'leased');
  }

  /** A RECV found no lease room for its tenant. */
  leaseRefusal(tenant: TenantId): MailboxError {
    this.refused();
    const max = this.quota.holdBounds(tenant)?.maxOpenLeases ?? 0;
    return new MailboxError('E_SATURATED', `tenant open-lease limit of ${max} reached: ACK or NACK open leases first`, { retryAfterMs: HOLD_RETRY_MS });
  }

  private sum(tenant: TenantId, what: keyof TenantHolds): number {
    let n = 0;
    for (const ref of this.shards) n += ref.running?.queue.tenantHolds?.(tenant)?.[what] ?? 0;
    return n;
  }
}
