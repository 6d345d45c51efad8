/**
 * Revoked token ids. A token id (16 random bytes, hex) is shared by a minted token and every
 * token attenuated from it, so revoking an id revokes that whole family.
 *
 * An entry lasts until the token could not verify anyway: past its `expiresAt` (the token's
 * own expiry, or one the operator gave), or once its KID has left the key ring. An entry that
 * knows neither is kept. The verification cache asks `isRevoked` on every hit, so a revocation
 * bites on the next request of every connection, cached or not.
 *
 * In memory only; src/transport/revocations.ts keeps it in `<dataDir>/revoked.json`.
 */
import { MailboxError } from '../errors.ts';
import { isValidKid, TOKEN_ID_BYTES } from './token.ts';

export interface Revocation {
  /** The token id, 32 lower-case hex digits. */
  id: string;
  /** The KID the token names, when known: the entry goes once that key is out of the ring. */
  kid?: string;
  /** Wall-clock ms after which the entry is dropped (the token has expired by then). */
  expiresAt?: number;
  /** Wall-clock ms of the revocation. */
  revokedAt: number;
}

const TOKEN_ID_RE = new RegExp(`^[0-9a-f]{${TOKEN_ID_BYTES * 2}}$`);

/**
 * A token id as operators give it: `<32 hex>` or the log form `<32 hex>@<KID>`. Throws
 * `E_SCHEMA` otherwise; the message never repeats the input (it might be a whole token).
 */
export function parseTokenRef(text: string): { id: string; kid?: string } {
  const at = text.indexOf('@');
  const id = (at < 0 ? text : text.slice(0, at)).toLowerCase();
  const kid = at < 0 ? undefined : text.slice(at + 1);
  if (!TOKEN_ID_RE.test(id) || (kid !== undefined && !isValidKid(kid))) {
    throw new MailboxError('E_SCHEMA', `a token id is ${TOKEN_ID_BYTES * 2} hex digits, optionally followed by @KID (as \`mailbox token inspect\` and the logs show it)`);
  }
  return kid === undefined ? { id } : { id, kid };
}

export class DenyList {
  private readonly entries = new Map<string, Revocation>();

  constructor(initial: Iterable<Revocation> = []) {
    for (const entry of initial) this.entries.set(entry.id, { ...entry });
  }

  get size(): number {
    return this.entries.size;
  }

  /** Whether tokens with this id are refused at `now`. */
  isRevoked(id: string, now: number): boolean {
    const entry = this.entries.get(id);
    return entry !== undefined && (entry.expiresAt === undefined || now < entry.expiresAt);
  }

  /**
   * Adds (or widens) an entry. A second revocation of the same id keeps the later expiry and
   * any KID either one knew: revoking again never shortens a revocation.
   */
  revoke(entry: Revocation): Revocation {
    const old = this.entries.get(entry.id);
    const merged: Revocation = { id: entry.id, revokedAt: old?.revokedAt ?? entry.revokedAt };
    const kid = entry.kid ?? old?.kid;
    if (kid !== undefined) merged.kid = kid;
    // No expiry on either side means "until the key goes": the stronger of the two.
    const expiresAt = old === undefined ? entry.expiresAt : old.expiresAt === undefined || entry.expiresAt === undefined ? undefined : Math.max(old.expiresAt, entry.expiresAt);
    if (expiresAt !== undefined) merged.expiresAt = expiresAt;
    this.entries.set(entry.id, merged);
    return { ...merged };
  }

  /**
   * Drops entries past their expiry, and those whose KID `kidInRing` says is gone. Returns how
   * many went.
   */
  prune(now: number, kidInRing?: (kid: string) => boolean): number {
    let dropped = 0;
    for (const [id, entry] of this.entries) {
      const expired = entry.expiresAt !== undefined && now >= entry.expiresAt;
      const keyGone = entry.kid !== undefined && kidInRing !== undefined && !kidInRing(entry.kid);
      if (expired || keyGone) {
        this.entries.delete(id);
        dropped++;
      }
    }
    return dropped;
  }

  list(): Revocation[] {
    return [...this.entries.values()].map((e) => ({ ...e }));
  }
}
