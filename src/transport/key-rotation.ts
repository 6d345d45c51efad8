/**
 * Key rotation as an operator command (`mailbox keys rotate`, POST /admin/keys/rotate): a new
 * KID with a new secret becomes active, the keys before it verify until the grace ends, then
 * they are dropped. The new key is on disk (keys.json, atomically) before it signs or verifies
 * anything: a rotation that cannot be saved changes nothing. After it, `caps.rotate` goes out
 * on the bus (the verification cache empties; the ring's own change already emptied it).
 *
 * Keys from `auth.keys` (configuration) are the operator's to rotate there: refused here.
 * Amnesia rotates in memory only, like its keys.
 */
import { ANY_TENANT, generateKey, mint, type KeyRing } from '../auth/index.ts';
import type { EventBus } from '../bus/bus.ts';
import type { MailboxEvents } from '../bus/events.ts';
import { MailboxError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { withoutRetired, writeKeyFile, type KeyFileData } from './key-file.ts';
import { writePrivateAtomic } from './private-json.ts';

/** The longest grace accepted: a year. */
export const MAX_GRACE_MS = 365 * 86_400_000;

/** What `mailbox keys list` shows of a key: never its secret. */
export interface KeyView {
  kid: string;
  active: boolean;
  /** Wall-clock ms the key was made, when known (not for `auth.keys`). */
  createdAt?: number;
  ageMs?: number;
  /** Wall-clock ms from which its tokens fail (a key a rotation replaced). */
  graceEndsAt?: number;
}

export interface RotationResult {
  active: string;
  previous: string;
  graceEndsAt: number;
  keys: KeyView[];
  /** The admin token file rewritten with a token of the new key (its old token lapses with the grace). */
  adminTokenFile?: string;
}

export interface KeyRotationOptions {
  ring: KeyRing;
  /** Where the keys live: `file` (keys.json at `path`), `memory` (amnesia) or `config` (auth.keys: rotation refused). */
  source: { kind: 'file'; path: string; data: KeyFileData } | { kind: 'memory'; data: KeyFileData } | { kind: 'config' };
  bus?: EventBus<MailboxEvents>;
  logger?: Logger;
  /** Rewritten with a `tenant=*` token of the new key after each rotation, so operators are not locked out when the grace ends. */
  adminTokenFile?: string;
  /** Wall-clock ms; default Date.now. */
  clock?: () => number;
}

/** The KID after `active` that no key has: k1 → k2, key-7 → key-8, other → other-2. */
export function nextKid(active: string, taken: (kid: string) => boolean): string {
  const m = /^(.*?)(\d+)$/.exec(active);
  const prefix = m ? m[1]! : `${active}-`;
  let n = m ? Number(m[2]) + 1 : 2;
  while (taken(`${prefix}${n}`) || `${prefix}${n}`.length > 64) {
    if (`${prefix}${n}`.length > 64) throw new MailboxError('E_CONFIG', `cannot derive a new KID from ${active}`);
    n++;
  }
  return `${prefix}${n}`;
}

export class KeyRotation {
  private readonly ring: KeyRing;
  private readonly clock: () => number;
  private data: KeyFileData | undefined;
  /** Rotations one at a time: two at once would each write a file missing the other's key. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: KeyRotationOptions) {
    this.ring = options.ring;
    this.clock = options.clock ?? Date.now;
    this.data = options.source.kind === 'config' ? undefined : options.source.data;
  }

  /** Whether the keys live in keys.json (not amnesia, not auth.keys). */
  get fileBacked(): boolean {
    return this.options.source.kind === 'file';
  }

  /** The key file as last read or written by this process (undefined for auth.keys). */
  get fileData(): KeyFileData | undefined {
    return this.data;
  }

  /**
   * Runs `fn` between rotations, never during one: a reload of keys.json must not read the
   * file this process is writing and then race the rotation that wrote it.
   */
  exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Takes a keys.json another process wrote; call inside `exclusive` (the caller adopts the ring). */
  adoptData(data: KeyFileData): void {
    this.data = data;
  }

  /** Makes a new key active; the others verify for `graceMs` more. */
  rotate(graceMs: number): Promise<RotationResult> {
    const run = this.queue.then(() => this.rotateNow(graceMs));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Every key in the ring with its state, keys past their grace dropped first. */
  async list(): Promise<{ active: string; keys: KeyView[] }> {
    const run = this.queue.then(async () => {
      const now = this.clock();
      this.ring.prune(now);
      const data = this.data;
      if (data !== undefined) {
        const kept = withoutRetired(data, now);
        if (Object.keys(kept.keys).length !== Object.keys(data.keys).length) {
          await this.save(kept);
          this.data = kept;
        }
      }
      return { active: this.ring.active, keys: this.views(now) };
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async rotateNow(graceMs: number): Promise<RotationResult> {
    if (!(Number.isSafeInteger(graceMs) && graceMs >= 0 && graceMs <= MAX_GRACE_MS)) {
      throw new MailboxError('E_SCHEMA', `graceMs must be a whole number of ms from 0 to ${MAX_GRACE_MS} (365 days)`);
    }
    const data = this.data;
    if (data === undefined) {
      throw new MailboxError('E_CONFIG', 'the signing keys come from auth.keys in the configuration: rotate them there (add a KID, set auth.activeKid, restart; docs/OPERATIONS.md, Tokens)');
    }
    const now = this.clock();
    const previous = this.ring.active;
    const kid = nextKid(previous, (k) => Object.hasOwn(data.keys, k) || this.ring.list().some((i) => i.kid === k));
    const secret = generateKey();
    const graceEndsAt = now + graceMs;
    const info = { ...data.info };
    for (const old of Object.keys(data.keys)) {
      const retireAt = info[old]?.retireAt;
      info[old] = { ...info[old], retireAt: retireAt === undefined ? graceEndsAt : Math.min(retireAt, graceEndsAt) };
    }
    info[kid] = { createdAt: now };
    const next = withoutRetired({ activeKid: kid, keys: { ...data.keys, [kid]: secret }, info }, now);
    // On disk first: a key that signs tokens must survive a restart.
    await this.save(next);
    this.ring.rotate(kid, secret, graceMs, now);
    this.data = next;
    this.options.bus?.publish('caps.rotate', { kid, previous, graceEndsAt });
    this.options.logger?.info({ event: 'key_rotated', kid, previous, graceEndsAt: new Date(graceEndsAt).toISOString() }, `signing key ${kid} is active; ${previous} verifies until ${new Date(graceEndsAt).toISOString()}`);
    const result: RotationResult = { active: kid, previous, graceEndsAt, keys: this.views(now) };
    if (await this.rewriteAdminToken()) result.adminTokenFile = this.options.adminTokenFile!;
    return result;
  }

  /** A fresh admin token of the active key in the admin token file; false when there is none or it cannot be written (logged). */
  private async rewriteAdminToken(): Promise<boolean> {
    const path = this.options.adminTokenFile;
    if (!path) return false;
    try {
      await writePrivateAtomic(path, `${mint(this.ring, { caveats: [{ kind: 'tenant', tenant: ANY_TENANT }] })}\n`);
      this.options.logger?.info({ event: 'admin_token_written', path, kid: this.ring.active }, `admin token written to ${path}`);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'write failed';
      this.options.logger?.warn({ event: 'admin_token_not_written', path, code }, `the rotation holds, but the admin token file ${path} could not be rewritten (${code}): mint one with mailbox token mint --tenant '*'`);
      return false;
    }
  }

  private async save(data: KeyFileData): Promise<void> {
    const source = this.options.source;
    if (source.kind !== 'file') return;
    try {
      await writeKeyFile(source.path, data);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
      throw new MailboxError('E_INTERNAL', `cannot write the signing key file ${source.path}: ${code}; the keys are unchanged`);
    }
  }

  private views(now: number): KeyView[] {
    return this.ring.list().map((k) => {
      const createdAt = this.data?.info[k.kid]?.createdAt;
      return {
        kid: k.kid,
        active: k.active,
        ...(createdAt !== undefined ? { createdAt, ageMs: Math.max(0, now - createdAt) } : {}),
        ...(k.retireAt !== undefined ? { graceEndsAt: k.retireAt } : {}),
      };
    });
  }
}
