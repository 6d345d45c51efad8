/**
 * The idempotency window: (tenant, topic, idemKey) → the first msgId and payload hash,
 * kept for the whole replay window.
 *
 * Two modes:
 * - `resident` (the RAM store): the window is the truth. Never shortened by eviction: when
 *   full, new keys are refused (E_SATURATED) rather than old ones forgotten early.
 * - `cache` (a paged store): the store holds every record; RAM keeps the newest ones and a
 *   Bloom filter of everything stored. A key missing from RAM that the filter may hold is
 *   looked up in the store first (`mayBeStored`); until the filter has been built by a sweep
 *   of the store, every key missing from RAM may be stored. When full, the oldest RAM entry
 *   is dropped (it stays in the store and the filter).
 */
import { MailboxError } from '../errors.ts';
import { BloomFilter } from './bloom-filter.ts';
import { ExpiryQueue } from './expiry-queue.ts';
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
  private readonly order = new ExpiryQueue();

  /** cache mode: keys the store may hold; undefined until the first sweep has built it. */
  private stored: BloomFilter | undefined;
  /** cache mode: the filter a sweep in progress is building. */
  private rebuilding: BloomFilter | undefined;

  constructor(
    private readonly capacity: number,
    readonly windowMs: number,
    readonly mode: 'resident' | 'cache' = 'resident',
    /** cache mode: keys the store is expected to hold at most (sizes the filter). */
    private readonly storedCapacity = capacity,
  ) {}

  /** cache mode: whether `key`, absent from RAM, must be looked up in the store. */
  mayBeStored(key: string): boolean {
    if (this.mode === 'resident' || this.entries.has(key)) return false;
    return this.stored === undefined || this.stored.mightContain(key);
  }

  /** cache mode: the store's record of `key`, read after `mayBeStored`; expired ones are ignored. */
  admit(key: string, entry: DedupEntry, now: number): void {
    if (entry.expiresAt <= now || this.entries.has(key)) return;
    this.makeRoom();
    this.entries.set(key, entry);
    this.order.push(key, entry.expiresAt);
  }

  /** cache mode: a sweep of the store starts; it reports each live key with `sweepSaw`. */
  beginSweep(): void {
    this.rebuilding = new BloomFilter(this.storedCapacity);
  }

  sweepSaw(key: string): void {
    this.rebuilding?.add(key);
  }

  /** The sweep saw every stored key: its filter replaces the old one (dropping expired keys' bits). */
  endSweep(): void {
    if (this.rebuilding !== undefined) this.stored = this.rebuilding;
    this.rebuilding = undefined;
  }

  /** Whether a sweep has built the filter, so keys it lacks need no store read. */
  get filterReady(): boolean {
    return this.mode === 'resident' || this.stored !== undefined;
  }

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
    if (this.mode === 'cache') {
      this.makeRoom();
      this.stored?.add(key);
      this.rebuilding?.add(key);
    } else if (this.entries.size >= this.capacity && !this.entries.has(key)) {
      const oldest = this.order.peekExpiry();
      const waitMs = oldest !== undefined ? Math.max(1, oldest - now) : 1000;
      throw new MailboxError('E_SATURATED', `idempotency window full (${this.capacity} keys)`, { retryAfterMs: Math.min(waitMs, 60_000) });
    }
    const entry: DedupEntry = { msgId, payloadHash, expiresAt: now + this.windowMs };
    this.entries.set(key, entry);
    this.order.push(key, entry.expiresAt);
    return entry;
  }

  /** Restores entries read from the store (any order); expired ones are dropped. */
  restore(pairs: ReadonlyArray<readonly [string, DedupEntry]>, now: number): string[] {
    const expired: string[] = [];
    const live = pairs.filter(([key, e]) => (e.expiresAt > now ? true : (expired.push(key), false)));
    live.sort((a, b) => a[1].expiresAt - b[1].expiresAt);
    for (const [key, entry] of live) {
      this.entries.set(key, entry);
      this.order.push(key, entry.expiresAt);
    }
    return expired;
  }

  /** Forgets keys whose window has passed; returns them so the store can forget them too. */
  expire(now: number, limit = Number.POSITIVE_INFINITY): string[] {
    const removed: string[] = [];
    while (removed.length < limit) {
      const expiresAt = this.order.peekExpiry();
      if (expiresAt === undefined || expiresAt > now) break;
      const key = this.order.peekKey()!;
      this.order.shift();
      const entry = this.entries.get(key);
      // A key re-added after expiry sits later in the order too; only its own position drops it.
      if (entry && entry.expiresAt === expiresAt) {
        this.entries.delete(key);
        removed.push(key);
      }
    }
    return removed;
  }

  /** cache mode: drops the oldest RAM entries until one more fits (the store keeps them). */
  private makeRoom(): void {
    while (this.entries.size >= this.capacity) {
      const key = this.order.peekKey();
      const expiresAt = this.order.peekExpiry();
      if (key === undefined) return;
      this.order.shift();
      const entry = this.entries.get(key);
      if (entry && entry.expiresAt === expiresAt) this.entries.delete(key);
    }
  }

  /** The earliest expiry, for the shard's timer. */
  nextExpiry(): number | undefined {
    return this.order.peekExpiry();
  }
}
