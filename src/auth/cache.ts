/**
 * Remembers verified capabilities so that a busy client does not pay for the HMAC chain on
 * every request. Keyed by SHA-256 of the token (the map never holds token text), bounded
 * (least recently used goes first), entries live `ttlMs`.
 *
 * A hit is re-checked cheaply before it is returned: the capability's own expiry, and that
 * its KID still verifies (a rotation's grace can end without any event), and that its token
 * id is not on the deny list (revocation bites on the next request, cached or not). Any change
 * to the ring, or a `purgeOn` signal (the `caps.rotate` bus event), empties the cache.
 * Failures are not cached.
 */
import { createHash } from 'node:crypto';
import { MailboxError } from '../errors.ts';
import type { DenyList } from './deny-list.ts';
import type { KeyRing } from './keyring.ts';
import { verify as verifyToken, type Capability } from './verify.ts';

export interface VerificationCacheOptions {
  /** How long a verified token is remembered; default 30 000 (config `auth.capCacheTtlMs`). 0 disables caching. */
  ttlMs?: number;
  /** Most entries kept; default 10 000. */
  maxEntries?: number;
  /** Wall-clock ms, the clock expiry caveats and key rotation use; default `Date.now`. */
  clock?: () => number;
  /** The verification to cache; injectable so tests can count real verifications. */
  verify?: (ring: KeyRing, token: string, now: number) => Capability;
  /** Revoked token ids, consulted on every hit and every miss. */
  denyList?: DenyList;
  /** Subscribes the cache's purge to an outside signal (the `caps.rotate` event); returns the unsubscribe. */
  purgeOn?: (purge: () => void) => () => void;
}

export interface VerificationCacheStats {
  hits: number;
  misses: number;
  evictions: number;
  size: number;
}

interface Entry {
  capability: Capability;
  storedAt: number;
}

export class VerificationCache {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly clock: () => number;
  private readonly verifyFn: (ring: KeyRing, token: string, now: number) => Capability;
  private readonly denyList: DenyList | undefined;
  private readonly unsubscribe: Array<() => void>;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(
    private readonly ring: KeyRing,
    options: VerificationCacheOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.maxEntries = options.maxEntries ?? 10_000;
    if (!(this.ttlMs >= 0) || !(Number.isInteger(this.maxEntries) && this.maxEntries >= 1)) {
      throw new MailboxError('E_CONFIG', 'verification cache needs ttlMs ≥ 0 and maxEntries ≥ 1');
    }
    this.clock = options.clock ?? Date.now;
    this.verifyFn = options.verify ?? verifyToken;
    this.denyList = options.denyList;
    this.unsubscribe = [ring.onChange(() => this.clear())];
    if (options.purgeOn) this.unsubscribe.push(options.purgeOn(() => this.clear()));
  }

  /** `verify(ring, token, now)` with memory; throws `E_CAP_AUTH` exactly when it would. */
  verify(token: string): Capability {
    return this.verifyKeyed(token, this.keyOf(token));
  }

  /** The cache key of a token. A caller that sees the same token again keeps it for `verifyKeyed`. */
  keyOf(token: string): string {
    return createHash('sha256').update(token).digest('base64');
  }

  /** `verify` with the key already computed (`keyOf(token)`): what a connection pays per request. */
  verifyKeyed(token: string, key: string): Capability {
    const now = this.clock();
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      if (hit.capability.isExpired(now)) {
        this.entries.delete(key);
        hit.capability.assertLive(now);
      }
      this.assertNotRevoked(hit.capability, now, key);
      if (now - hit.storedAt < this.ttlMs && this.ring.isValid(hit.capability.kid, now)) {
        // Re-insert: Map order is recency order, the first key is the least recently used.
        this.entries.delete(key);
        this.entries.set(key, hit);
        this.hits++;
        return hit.capability;
      }
      this.entries.delete(key);
    }
    this.misses++;
    const capability = this.verifyFn(this.ring, token, now);
    this.assertNotRevoked(capability, now, key);
    if (this.ttlMs > 0) {
      this.entries.set(key, { capability, storedAt: now });
      if (this.entries.size > this.maxEntries) {
        this.entries.delete(this.entries.keys().next().value!);
        this.evictions++;
      }
    }
    return capability;
  }

  clear(): void {
    this.entries.clear();
  }

  /** A verified capability of token id `tokenId` still in the cache, if any (to learn its KID and expiry when it is revoked). */
  find(tokenId: string): Capability | undefined {
    for (const { capability } of this.entries.values()) if (capability.tokenId === tokenId) return capability;
    return undefined;
  }

  private assertNotRevoked(capability: Capability, now: number, key: string): void {
    if (this.denyList === undefined || this.denyList.size === 0 || !this.denyList.isRevoked(capability.tokenId, now)) return;
    this.entries.delete(key);
    throw new MailboxError('E_CAP_AUTH', `capability token ${capability.fingerprint} was revoked`);
  }

  stats(): VerificationCacheStats {
    return { hits: this.hits, misses: this.misses, evictions: this.evictions, size: this.entries.size };
  }

  /** Stops listening to the ring and to `purgeOn`; the cache keeps working but no longer clears on rotation. */
  dispose(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    this.clear();
  }
}
