/**
 * The key ring: KID → root secret, one active KID for minting, and rotation with a grace
 * period during which tokens of the previous keys still verify. Times are wall-clock ms, the
 * same clock that `verify` and expiry caveats use.
 *
 * Secrets never leave this object except through `secretFor`, which only mint and verify call;
 * `toJSON` and `util.inspect` show KIDs and retirement times, never key material.
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { MailboxError } from '../errors.ts';
import { isValidKid } from './token.ts';

export const MIN_SECRET_BYTES = 32;

/** A new root secret: base64 of 32 random bytes, as `auth.keys` holds them. */
export function generateKey(): string {
  return randomBytes(MIN_SECRET_BYTES).toString('base64');
}

interface KeyEntry {
  secret: Buffer;
  /** Wall-clock ms from which tokens of this key fail; undefined while it is not retiring. */
  retireAt?: number;
}

/** What the ring may say about a key in logs and dumps. */
export interface KeyInfo {
  kid: string;
  active: boolean;
  retireAt?: number;
}

function toSecret(kid: string, secret: Uint8Array | string): Buffer {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'base64') : Buffer.from(secret);
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new MailboxError('E_CONFIG', `auth key ${kid}: a secret must be at least ${MIN_SECRET_BYTES} bytes`);
  }
  return bytes;
}

function checkKid(kid: string): void {
  if (!isValidKid(kid)) throw new MailboxError('E_CONFIG', `auth key id must be 1-64 characters of [A-Za-z0-9._-]`);
}

export class KeyRing {
  private readonly keys = new Map<string, KeyEntry>();
  private activeKid: string;
  private readonly listeners = new Set<() => void>();

  /** A ring of one key, active. `secret` is raw bytes or base64 text (≥ 32 bytes). */
  constructor(activeKid: string, secret: Uint8Array | string) {
    checkKid(activeKid);
    this.keys.set(activeKid, { secret: toSecret(activeKid, secret) });
    this.activeKid = activeKid;
  }

  /** From the `auth` section of the configuration: every key verifies, `activeKid` mints. */
  static fromConfig(auth: { keys: Record<string, string>; activeKid: string }): KeyRing {
    const active = auth.keys[auth.activeKid];
    if (active === undefined) throw new MailboxError('E_CONFIG', `auth.activeKid ${auth.activeKid} names no key in auth.keys`);
    const ring = new KeyRing(auth.activeKid, active);
    for (const [kid, secret] of Object.entries(auth.keys)) {
      if (kid !== auth.activeKid) ring.add(kid, secret);
    }
    return ring;
  }

  /** The KID new tokens are minted with. */
  get active(): string {
    return this.activeKid;
  }

  /** Adds a key that verifies (until `retireAt`, if given) but does not mint. */
  add(kid: string, secret: Uint8Array | string, retireAt?: number): void {
    checkKid(kid);
    if (this.keys.has(kid)) throw new MailboxError('E_CONFIG', `auth key ${kid} is already in the ring`);
    this.keys.set(kid, retireAt === undefined ? { secret: toSecret(kid, secret) } : { secret: toSecret(kid, secret), retireAt });
    this.changed();
  }

  /**
   * Makes `newKid` the active key. Every other key keeps verifying until `now + graceMs`
   * (a key already retiring keeps its earlier date), then fails. Keys past their date are
   * dropped here.
   */
  rotate(newKid: string, secret: Uint8Array | string, graceMs: number, now: number): void {
    checkKid(newKid);
    if (!(Number.isFinite(graceMs) && graceMs >= 0)) throw new MailboxError('E_CONFIG', 'rotation grace must be a non-negative number of ms');
    if (this.keys.has(newKid)) throw new MailboxError('E_CONFIG', `auth key ${newKid} is already in the ring`);
    const entry: KeyEntry = { secret: toSecret(newKid, secret) };
    const retireAt = now + graceMs;
    for (const old of this.keys.values()) {
      old.retireAt = old.retireAt === undefined ? retireAt : Math.min(old.retireAt, retireAt);
    }
    this.keys.set(newKid, entry);
    this.activeKid = newKid;
    this.prune(now);
    this.changed();
  }

  /**
   * Takes every key and the active KID of `other` in one step (a keys.json another instance
   * rewrote): no request sees half of each ring. The old secrets are wiped; `other` must not be used after.
   */
  adopt(other: KeyRing): void {
    const previous = [...this.keys.values()];
    this.keys.clear();
    for (const [kid, entry] of other.keys) this.keys.set(kid, entry);
    this.activeKid = other.activeKid;
    other.keys.clear();
    for (const entry of previous) if (![...this.keys.values()].includes(entry)) entry.secret.fill(0);
    this.changed();
  }

  /** Drops keys whose grace has ended; returns how many. */
  prune(now: number): number {
    let dropped = 0;
    for (const [kid, entry] of this.keys) {
      if (entry.retireAt !== undefined && now >= entry.retireAt) {
        entry.secret.fill(0);
        this.keys.delete(kid);
        dropped++;
      }
    }
    if (dropped > 0) this.changed();
    return dropped;
  }

  /** True while tokens of `kid` verify at `now`. */
  isValid(kid: string, now: number): boolean {
    const entry = this.keys.get(kid);
    return entry !== undefined && (entry.retireAt === undefined || now < entry.retireAt);
  }

  /**
   * The root secret of `kid` if it verifies at `now`. Internal to src/auth (mint, verify):
   * nothing else has a reason to hold key material.
   */
  secretFor(kid: string, now: number): Buffer | undefined {
    return this.isValid(kid, now) ? this.keys.get(kid)!.secret : undefined;
  }

  /** The active KID and its secret, for minting. Internal to src/auth, like `secretFor`. */
  activeKey(): { kid: string; secret: Buffer } {
    return { kid: this.activeKid, secret: this.keys.get(this.activeKid)!.secret };
  }

  /** Calls `listener` whenever keys are added, rotated or dropped; returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** KIDs with their state; never secrets. */
  list(): KeyInfo[] {
    return [...this.keys].map(([kid, entry]) =>
      entry.retireAt === undefined ? { kid, active: kid === this.activeKid } : { kid, active: kid === this.activeKid, retireAt: entry.retireAt },
    );
  }

  toJSON(): { active: string; keys: KeyInfo[] } {
    return { active: this.activeKid, keys: this.list() };
  }

  [inspect.custom](): string {
    return `KeyRing ${JSON.stringify(this.toJSON())}`;
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}
