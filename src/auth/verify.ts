/**
 * Server side: recompute a token's chain from the key ring, then turn its caveats into a
 * `Capability` that answers "may this token do op X on topic Y for tenant Z".
 *
 * Failures to prove a token are `E_CAP_AUTH`; a proven token asked to step outside its
 * caveats is `E_CAP_SCOPE`. No error message contains the token.
 */
import { timingSafeEqual } from 'node:crypto';
import { MailboxError } from '../errors.ts';
import { DEFAULT_TENANT, type TenantId } from '../domain/types.ts';
import { ANY_TENANT, decodeCaveat, expandOps, OPS, topicMatcher, topicMatches, type Caveat, type Op, type TopicMatcher } from './caveats.ts';
import type { KeyRing } from './keyring.ts';
import { chainSignature, decodeToken } from './token.ts';

export interface CapabilityFields {
  tokenId: string;
  kid: string;
  caveats: readonly Caveat[];
}

/** What a verified token may do. Immutable; holds no token text and no key. */
export class Capability {
  readonly tokenId: string;
  readonly kid: string;
  /** Operations allowed: the intersection of every op caveat (all five when there is none). */
  readonly ops: ReadonlySet<Op>;
  /** Every matcher must accept a topic; empty means any topic. */
  readonly topics: readonly TopicMatcher[];
  /**
   * The tenant this token acts for: the one its tenant caveats name, `*` (ANY_TENANT) when
   * they all say `*`, the default tenant when it has none. When two name different
   * tenants, it acts for no tenant at all.
   */
  readonly tenant: TenantId | typeof ANY_TENANT;
  /** Wall-clock ms from which the token is refused: the earliest expiry caveat. */
  readonly expiry?: number;
  /** Most SENDs per second for this token: the lowest quota caveat. */
  readonly quota?: number;
  private readonly tenantConflict: boolean;

  constructor(fields: CapabilityFields) {
    this.tokenId = fields.tokenId;
    this.kid = fields.kid;
    let ops = new Set<Op>(OPS);
    const topics: TopicMatcher[] = [];
    let tenant: TenantId | typeof ANY_TENANT | undefined;
    let tenantConflict = false;
    let expiry: number | undefined;
    let quota: number | undefined;
    for (const caveat of fields.caveats) {
      switch (caveat.kind) {
        case 'op': {
          const granted = expandOps(caveat.ops);
          ops = new Set([...ops].filter((op) => granted.has(op)));
          break;
        }
        case 'topic':
          topics.push(topicMatcher(caveat.pattern));
          break;
        case 'tenant':
          // Intersection: `*` keeps whatever is bound; a named tenant binds, or conflicts with another.
          if (caveat.tenant === ANY_TENANT) tenant ??= ANY_TENANT;
          else if (tenant === undefined || tenant === ANY_TENANT) tenant = caveat.tenant;
          else if (tenant !== caveat.tenant) tenantConflict = true;
          break;
        case 'expiry':
          expiry = expiry === undefined ? caveat.at : Math.min(expiry, caveat.at);
          break;
        case 'quota':
          quota = quota === undefined ? caveat.perSecond : Math.min(quota, caveat.perSecond);
          break;
      }
    }
    this.ops = ops;
    this.topics = topics;
    this.tenantConflict = tenantConflict;
    this.tenant = tenant ?? DEFAULT_TENANT;
    if (expiry !== undefined) this.expiry = expiry;
    if (quota !== undefined) this.quota = quota;
  }

  /** `<tokenId>@<KID>`: how logs name this token. */
  get fingerprint(): string {
    return `${this.tokenId}@${this.kid}`;
  }

  isExpired(now: number): boolean {
    return this.expiry !== undefined && now >= this.expiry;
  }

  /**
   * Throws `E_CAP_AUTH` once the token has expired. For holders that keep a capability
   * across many requests (a session); `verify` and the cache already check it.
   */
  assertLive(now: number): void {
    if (this.isExpired(now)) throw new MailboxError('E_CAP_AUTH', `capability token ${this.fingerprint} expired`);
  }

  /**
   * Throws `E_CAP_SCOPE` unless the token allows `op`, on `topic` and for `tenant`. A token
   * with topic caveats refuses a request that names no topic: an operation across all
   * topics needs a token not limited to some. Likewise a request that names no tenant acts
   * across tenants (a backup) and needs a `tenant=*` token. DLQ and other operator calls
   * check `authorize('admin', …)`.
   *
   * @example cap.authorize('send', 'user:42:inbox', tenantId)
   */
  authorize(op: Op, topic?: string, tenant?: string): void {
    if (!this.ops.has(op)) {
      const allowed = this.ops.size === 0 ? 'none' : [...this.ops].join(',');
      throw new MailboxError('E_CAP_SCOPE', `operation ${op} is outside this token's scope (allowed: ${allowed})`);
    }
    if (this.topics.length > 0) {
      if (topic === undefined) throw new MailboxError('E_CAP_SCOPE', `operation ${op} names no topic but this token is limited to some topics`);
      if (!this.topics.every((m) => topicMatches(m, topic))) {
        throw new MailboxError('E_CAP_SCOPE', `topic ${JSON.stringify(topic)} is outside this token's scope`);
      }
    }
    this.authorizeTenant(op, tenant);
  }

  /**
   * For ACK / NACK / EXTEND, which name no topic: checks the op and the tenant only. The
   * leaseId such a request carries (80 random bits, known only to the consumer that
   * received the message) is the proof that the topic was readable.
   */
  authorizeLease(op: Op, tenant: string): void {
    if (!this.ops.has(op)) throw new MailboxError('E_CAP_SCOPE', `operation ${op} is outside this token's scope`);
    this.authorizeTenant(op, tenant);
  }

  /** Whether this token may act for `tenant` (undefined: for every tenant at once). */
  actsFor(tenant?: string): boolean {
    if (this.tenantConflict) return false;
    if (this.tenant === ANY_TENANT) return true;
    return tenant !== undefined && tenant === this.tenant;
  }

  private authorizeTenant(op: Op, tenant: string | undefined): void {
    if (this.actsFor(tenant)) return;
    if (tenant === undefined) throw new MailboxError('E_CAP_SCOPE', `operation ${op} acts across tenants but this token is limited to one tenant (tenant=* allows every tenant)`);
    throw new MailboxError('E_CAP_SCOPE', `tenant ${JSON.stringify(tenant)} is outside this token's scope`);
  }

  /** Like `authorize`, as a boolean. */
  allows(op: Op, topic?: string, tenant?: string): boolean {
    try {
      this.authorize(op, topic, tenant);
      return true;
    } catch {
      return false;
    }
  }

  toJSON(): Record<string, unknown> {
    return {
      tokenId: this.tokenId,
      kid: this.kid,
      ops: [...this.ops],
      topics: this.topics,
      tenant: this.tenantConflict ? null : this.tenant,
      expiry: this.expiry,
      quota: this.quota,
    };
  }
}

function authError(message: string): MailboxError {
  return new MailboxError('E_CAP_AUTH', message);
}

/**
 * Proves `token` against the key ring at wall-clock `now` (ms) and returns what it may do.
 * Throws `E_CAP_AUTH` when the token is malformed, names an unknown or retired KID, its
 * chain does not match (any byte changed, a caveat removed), it carries a caveat this server
 * does not understand, or it has expired.
 */
export function verify(ring: KeyRing, token: string, now: number): Capability {
  const raw = decodeToken(token);
  if (raw === undefined) throw authError('capability token is malformed');
  const tokenId = raw.tokenId.toString('hex');
  const secret = ring.secretFor(raw.kid, now);
  if (secret === undefined) throw authError(`capability token ${tokenId}@${raw.kid} names an unknown or retired key`);
  const expected = chainSignature(secret, raw.tokenId, raw.kid, raw.caveats);
  if (!timingSafeEqual(expected, raw.sig)) throw authError('capability token signature does not verify');
  // Caveats are read only once the chain proves them: nothing unauthenticated is interpreted.
  const caveats: Caveat[] = [];
  for (const text of raw.caveats) {
    const caveat = decodeCaveat(text);
    if (caveat === undefined) throw authError(`capability token ${tokenId}@${raw.kid} carries a caveat this server does not understand`);
    caveats.push(caveat);
  }
  const capability = new Capability({ tokenId, kid: raw.kid, caveats });
  capability.assertLive(now);
  return capability;
}
