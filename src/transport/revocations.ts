/**
 * The deny list of a running server and where it is kept: `<dataDir>/revoked.json` (0600,
 * written atomically, read at start), or memory alone in amnesia mode.
 *
 *   { "version": 1, "revoked": [ { "id": "<32 hex>", "kid": "k1", "expiresAt": 1764770000000, "revokedAt": 1764700000000 } ] }
 *
 * A revocation is in force in memory before it is written: a failed write is reported to the
 * operator, who retries, but never leaves the token usable meanwhile. Entries past their
 * expiry, or of a key no longer in the ring, are dropped at start and at every revocation.
 * A file that exists but cannot be read is `E_CONFIG` and the server does not start: starting
 * without its revocations would let revoked tokens back in (fail closed).
 */
import { DenyList, type KeyRing, type Revocation } from '../auth/index.ts';
import { MailboxError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { readPrivateJson, writePrivateAtomic } from './private-json.ts';

export const REVOKED_FILE = 'revoked.json';

export interface RevocationsOptions {
  ring: KeyRing;
  /** Where the list is kept; undefined keeps it in memory only (amnesia). */
  path?: string;
  logger?: Logger;
  /** Wall-clock ms; default Date.now. */
  clock?: () => number;
}

function parseEntries(value: unknown, path: string): Revocation[] {
  const bad = (why: string): never => {
    throw new MailboxError('E_CONFIG', `revocation list ${path} ${why}; fix it or restore it from a backup (removing it un-revokes every token on it)`);
  };
  const list = (value as { revoked?: unknown } | null)?.revoked;
  if (typeof value !== 'object' || value === null || (value as { version?: unknown }).version !== 1 || !Array.isArray(list)) return bad('is not {"version":1,"revoked":[…]}');
  return list.map((raw: unknown, i) => {
    const e = raw as Partial<Revocation> | null;
    const time = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
    if (typeof e !== 'object' || e === null || typeof e.id !== 'string' || !/^[0-9a-f]{32}$/.test(e.id) || !time(e.revokedAt)) return bad(`entry ${i} has no valid id and revokedAt`);
    if ((e.kid !== undefined && typeof e.kid !== 'string') || (e.expiresAt !== undefined && !time(e.expiresAt))) return bad(`entry ${i} has an invalid kid or expiresAt`);
    return { id: e.id, revokedAt: e.revokedAt!, ...(e.kid !== undefined ? { kid: e.kid } : {}), ...(e.expiresAt !== undefined ? { expiresAt: e.expiresAt } : {}) };
  });
}

export class Revocations {
  readonly list: DenyList;
  private readonly clock: () => number;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly options: RevocationsOptions,
    entries: Revocation[],
  ) {
    this.clock = options.clock ?? Date.now;
    this.list = new DenyList(entries);
    this.list.prune(this.clock(), (kid) => this.kidInRing(kid));
  }

  /** The list kept at `options.path` (none yet: an empty one), or an empty list in memory. */
  static async open(options: RevocationsOptions): Promise<Revocations> {
    if (options.path === undefined) return new Revocations(options, []);
    const value = await readPrivateJson(options.path, 'revocation list');
    return new Revocations(options, value === undefined ? [] : parseEntries(value, options.path));
  }

  /** Where the list is kept (`memory` in amnesia mode). */
  get where(): string {
    return this.options.path ?? 'memory';
  }

  /**
   * Revokes every token with id `id` from now on; in force before this resolves, and saved
   * when it resolves. `E_NOT_FOUND` for a KID the ring does not hold; `E_INTERNAL` when the
   * file cannot be written (the revocation holds in memory until the next restart).
   */
  revoke(entry: { id: string; kid?: string; expiresAt?: number }): Promise<Revocation> {
    // A mistyped KID would make the entry lapse at once while the real token stays good.
    if (entry.kid !== undefined && !this.kidInRing(entry.kid)) {
      return Promise.reject(new MailboxError('E_NOT_FOUND', `KID ${entry.kid} is not in the key ring (mailbox keys list): its tokens fail anyway; check the id, or give it without @KID`));
    }
    const now = this.clock();
    const revoked = this.list.revoke({ ...entry, revokedAt: now });
    this.list.prune(now, (kid) => this.kidInRing(kid));
    this.options.logger?.info({ event: 'token_revoked', tokenId: revoked.id, kid: revoked.kid, expiresAt: revoked.expiresAt }, `token ${revoked.id} revoked`);
    const run = this.queue.then(() => this.save());
    this.queue = run.catch(() => undefined);
    return run.then(() => revoked);
  }

  private kidInRing(kid: string): boolean {
    return this.options.ring.isValid(kid, this.clock());
  }

  private async save(): Promise<void> {
    const path = this.options.path;
    if (path === undefined) return;
    try {
      await writePrivateAtomic(path, `${JSON.stringify({ version: 1, revoked: this.list.list() }, null, 2)}\n`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'write failed';
      throw new MailboxError('E_INTERNAL', `the revocation is in force but could not be saved to ${path} (${code}): it is lost at the next restart unless retried`);
    }
  }
}
