/**
 * The idempotency window: (tenant, topic, idemKey) → the first msgId and payload hash,
 * kept for the whole replay window. Never shortened by eviction: when full, new keys are
 * refused (E_SATURATED) rather than old ones forgotten early.
 */
import { MailboxError } from '../errors.ts';
import { Fifo } from './fifo.ts';
import type { DedupEntry, TenantId } from './types.ts';

export function dedupKey(tenant: TenantId, topic: string, idemKey: string): string {
  return `${tenant}\u0000${topic}\u0000${idemKey}`;
}

export class DedupWindow {
  private readonly entries = new Map<string, DedupEntry>();
  /**
   * Insertion order = expiry order, because the window length is the same for every key.
   * Each position remembers its own expiry: a key re-added after its window passed (before
   * `expire` swept it) leaves a stale position ahead of later keys, which must not hold them.
   */
  private readonly order = new Fifo<{ key: string; expiresAt: number }>();

  constructor(
    private readonly capacity: number,
    readonly windowMs: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The live entry for the key, if any (expired entries do not count). */
  lookup(key: string, now: number): DedupEntry | undefined {
    const entry = this.entries.get(key);
    return entry && entry.expiresAt > now ? entry : undefined;
  }

  /** Adds a key; call `lookup` first. Throws E_SATURATED when the window is full. */
  add(key: string, msgId: DedupEntry['msgId'], payloadHash: string, now: number): DedupEntry {
    if (this.entries.size >= this.capacity && !this.entries.has(key)) {
      const oldest = this.order.peek();
      const waitMs = oldest ? Math.max(1, oldest.expiresAt - now) : 1000;
      throw new MailboxError('E_SATURATED', `idempotency window full (${this.capacity} keys)`, { retryAfterMs: Math.min(waitMs, 60_000) });
    }
    const entry: DedupEntry = { msgId, payloadHash, expiresAt: now + this.windowMs };
    this.entries.set(key, entry);
    this.order.push({ key, expiresAt: entry.expiresAt });
    return entry;
  }

  /** Restores entries read from the store (any order); expired ones are dropped. */
  restore(pairs: ReadonlyArray<readonly [string, DedupEntry]>, now: number): string[] {
    const expired: string[] = [];
    const live = pairs.filter(([key, e]) => (e.expiresAt > now ? true : (expired.push(key), false)));
    live.sort((a, b) => a[1].expiresAt - b[1].expiresAt);
    for (const [key, entry] of live) {
      this.entries.set(key, entry);
      this.order.push({ key, expiresAt: entry.expiresAt });
    }
    return expired;
  }

  /** Forgets keys whose window has passed; returns them so the store can forget them too. */
  expire(now: number, limit = Number.POSITIVE_INFINITY): string[] {
    const removed: string[] = [];
    while (removed.length < limit) {
      const head = this.order.peek();
      if (head === undefined || head.expiresAt > now) break;
      this.order.shift();
      const key = head.key;
      const entry = this.entries.get(key);
      // A key re-added after expiry sits later in the order too; only its own position drops it.
      if (entry && entry.expiresAt === head.expiresAt) {
        this.entries.delete(key);
        removed.push(key);
      }
    }
    return removed;
  }

  /** The earliest expiry, for the shard's timer. */
  nextExpiry(): number | undefined {
    return this.order.peek()?.expiresAt;
  }
}
