/**
 * Making tokens and looking at them: mint (needs the key ring), attenuate (needs only the
 * token), inspect and tokenFingerprint (need nothing, verify nothing).
 */
import { MailboxError } from '../errors.ts';
import { DEFAULT_TENANT } from '../domain/types.ts';
import { decodeCaveat, encodeCaveat, type Caveat, type UnknownCaveat } from './caveats.ts';
import type { KeyRing } from './keyring.ts';
import { chainSignature, decodeToken, encodeToken, extendSignature, newTokenId } from './token.ts';

export interface MintOptions {
  /**
   * Restrictions signed into the token; none makes a token that may do everything (admin)
   * for the default tenant. A token for every tenant says so: `{ kind: 'tenant', tenant: ANY_TENANT }`.
   */
  caveats?: readonly Caveat[];
}

/**
 * A new token signed with the ring's active key. It always carries a tenant caveat: the
 * default tenant's when `caveats` name none, so that a holder who appends a tenant caveat
 * (attenuate) narrows the token and can never rebind it to another tenant.
 *
 * @example
 * const token = mint(ring, { caveats: [{ kind: 'op', ops: ['send'] }, { kind: 'topic', pattern: 'user:42:*' }] });
 */
export function mint(ring: KeyRing, options: MintOptions = {}): string {
  const given = options.caveats ?? [];
  const bound = given.some((c) => c.kind === 'tenant') ? given : [{ kind: 'tenant', tenant: DEFAULT_TENANT } as const, ...given];
  const caveats = bound.map(encodeCaveat);
  const { kid, secret } = ring.activeKey();
  const tokenId = newTokenId();
  return encodeToken({ tokenId, kid, caveats, sig: chainSignature(secret, tokenId, kid, caveats) });
}

/**
 * The token with one more caveat, computed offline from its signature: the result can do
 * at most what the original could. Throws `E_CAP_AUTH` when `token` is not a well-formed
 * token (the signature itself is not checked here; a forged input stays forged) and
 * `E_SCHEMA` when the caveat is invalid or the token is full (64 caveats or 4096 bytes).
 */
export function attenuate(token: string, caveat: Caveat): string {
  const raw = decodeToken(token);
  if (raw === undefined) throw new MailboxError('E_CAP_AUTH', 'capability token is malformed');
  const text = encodeCaveat(caveat);
  return encodeToken({ ...raw, caveats: [...raw.caveats, text], sig: extendSignature(raw.sig, text) });
}

/** What a token says about itself, unverified. Carries no signature and no key material. */
export interface TokenInfo {
  tokenId: string;
  kid: string;
  caveats: Array<Caveat | UnknownCaveat>;
}

/** Reads a token without verifying it (CLI `token inspect`). Throws `E_CAP_AUTH` when malformed. */
export function inspect(token: string): TokenInfo {
  const raw = decodeToken(token);
  if (raw === undefined) throw new MailboxError('E_CAP_AUTH', 'capability token is malformed');
  return {
    tokenId: raw.tokenId.toString('hex'),
    kid: raw.kid,
    caveats: raw.caveats.map((text) => decodeCaveat(text) ?? { kind: 'unknown', text }),
  };
}

/**
 * The only form of a token fit for logs: `<tokenId hex>@<KID>`, or `malformed`. Never the
 * token, its caveats or its signature.
 */
export function tokenFingerprint(token: string): string {
  const raw = decodeToken(token);
  return raw === undefined ? 'malformed' : `${raw.tokenId.toString('hex')}@${raw.kid}`;
}
