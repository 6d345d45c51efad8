/**
 * Capability checks at the edge: every request is verified (through the cache) and
 * authorized for its op, topic and tenant before it reaches the runtime. Fail closed.
 */
import { MailboxError } from '../errors.ts';
import type { TenantId } from '../domain/types.ts';
import { VerificationCache, type Capability, type KeyRing, type Op } from '../auth/index.ts';

export class Authorizer {
  readonly cache: VerificationCache;

  constructor(readonly ring: KeyRing, ttlMs: number) {
    this.cache = new VerificationCache(ring, { ttlMs });
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
