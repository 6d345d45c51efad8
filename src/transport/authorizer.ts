/**
 * Capability checks at the edge: every request is verified (through the cache) and
 * authorized for its op, topic and tenant before it reaches the runtime. Fail closed.
 */
import { MailboxError } from '../errors.ts';
import type { TenantId } from '../domain/types.ts';
import { VerificationCache, verify as verifyToken, type Capability, type DenyList, type KeyRing, type Op } from '../auth/index.ts';
import type { EventBus } from '../bus/bus.ts';
import type { MailboxEvents } from '../bus/events.ts';

export interface AuthorizerOptions {
  /** Revoked token ids (`mailbox token revoke`): refused on every request, cached or not. */
  denyList?: DenyList;
  /** The runtime's bus: a `caps.rotate` event (`mailbox keys rotate`) empties the verification cache. */
  bus?: EventBus<MailboxEvents>;
  /** Wall-clock ms for expiry, grace and revocation; default Date.now (tests inject one). */
  clock?: () => number;
  /**
   * Why the key ring is not in force (keys.json unreadable or invalid), if it is not: a token
   * not verified in the last TTL is then refused with E_UNAVAILABLE (fail closed; cached ones still pass).
   */
  ringFailure?: () => { path: string; reason: string } | undefined;
}

export class Authorizer {
  readonly cache: VerificationCache;
  private readonly denyList: DenyList | undefined;
  private readonly now: () => number;

  constructor(readonly ring: KeyRing, ttlMs: number, options: AuthorizerOptions = {}) {
    const { denyList, bus, clock, ringFailure } = options;
    this.denyList = denyList;
    this.now = clock ?? Date.now;
    this.cache = new VerificationCache(ring, {
      ttlMs,
      ...(clock ? { clock } : {}),
      ...(denyList ? { denyList } : {}),
      ...(ringFailure ? { verify: (r: KeyRing, token: string, now: number): Capability => {
        const failure = ringFailure();
        if (failure) throw new MailboxError('E_UNAVAILABLE', `key ring ${failure.path} cannot be read: ${failure.reason}`);
        return verifyToken(r, token, now);
      } } : {}),
      ...(bus ? { purgeOn: (purge: () => void) => bus.subscribe('caps.rotate', purge) } : {}),
    });
  }

  /** Whether any token is revoked now: what outlives a request (push subscriptions) is checked only then. */
  get anyRevoked(): boolean {
    return this.denyList !== undefined && this.denyList.size > 0;
  }

  /** Whether the token `tokenId` was revoked (for what outlives a request: push subscriptions). */
  revoked(tokenId: string): boolean {
    return this.anyRevoked && this.denyList!.isRevoked(tokenId, this.now());
  }

  /** Verifies a token (E_CAP_AUTH when missing, malformed, forged or expired). */
  verify(token: string | undefined): Capability {
    if (!token) throw new MailboxError('E_CAP_AUTH', 'this operation needs a capability token');
    return this.cache.verify(token);
  }

  /** `verify` of a token whose cache key the caller kept (`cache.keyOf`). */
  verifyKeyed(token: string, key: string): Capability {
    return this.cache.verifyKeyed(token, key);
  }

  /** Op + topic + tenant (SEND, RECV, SUBSCRIBE, DLQ with a topic filter). */
  authorize(cap: Capability, op: Op, tenant: TenantId, topic?: string): void {
    cap.authorize(op, topic, tenant);
  }

  /**
   * Op + tenant only, for ACK / NACK / EXTEND: they name no topic, and the leaseId they carry
   * (80 random bits) is itself proof that this consumer received the message.
   */
  authorizeLeaseOp(cap: Capability, op: Op, tenant: TenantId): void {
    cap.authorizeLease(op, tenant);
  }
}
