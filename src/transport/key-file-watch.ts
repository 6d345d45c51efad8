/**
 * Keeps a running server's key ring in step with `<dataDir>/keys.json` when another process
 * rewrites it (a second instance sharing the file, `mailbox keys rotate` sent to another
 * instance). `fs.watch` on the directory notices most changes at once; a stat every
 * `periodMs` catches what it misses (network file systems, a watcher that died).
 *
 * A file that reads and parses replaces the ring in one step and publishes `caps.rotate`
 * when the active KID changed (the verification cache empties on any ring change anyway).
 * A file that cannot be read or is invalid keeps the ring in force and is reported once per
 * distinct reason (log naming the file and reason, never key bytes; `keyring_reload_failures_total`);
 * `failure` says since when, so the edge can fail closed once cached verifications are older than the TTL.
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { KeyRing } from '../auth/index.ts';
import type { EventBus } from '../bus/bus.ts';
import type { MailboxEvents } from '../bus/events.ts';
import type { Logger } from '../observability/logger.ts';
import { readKeyFile, ringFromKeyFile } from './key-file.ts';
import type { KeyRotation } from './key-rotation.ts';

export interface KeyFileWatchOptions {
  path: string;
  ring: KeyRing;
  rotation: KeyRotation;
  periodMs: number;
  logger: Logger;
  bus?: EventBus<MailboxEvents>;
  /** Counts refused reloads (`keyring_reload_failures_total`). */
  onFailure?: () => void;
  /** Wall-clock ms; default Date.now. */
  clock?: () => number;
}

/** Why the key file is not in force: what E_UNAVAILABLE says, and since when (wall-clock ms). */
export interface KeyFileFailure {
  reason: string;
  since: number;
}

/** The stat fields that change when the file is replaced or rewritten. */
function signature(s: { mtimeMs: number; size: number; ino: number; mode: number }): string {
  return `${s.mtimeMs}:${s.size}:${s.ino}:${s.mode}`;
}

export class KeyFileWatch {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private seen: string | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private failed: KeyFileFailure | undefined;
  private readonly clock: () => number;

  constructor(private readonly options: KeyFileWatchOptions) {
    this.clock = options.clock ?? Date.now;
  }

  /** Remembers the file as it is now (the ring was read from it) and starts watching. */
  async start(): Promise<void> {
    this.seen = await stat(this.options.path).then(signature, () => undefined);
    try {
      this.watcher = watch(dirname(this.options.path), (_event, name) => {
        if (name === null || name === basename(this.options.path)) void this.check();
      });
      this.watcher.on('error', () => this.watcher?.close());
      // Never what keeps a process alive (a start that fails after this point need not stop it).
      this.watcher.unref();
    } catch {
      // The periodic check still runs.
    }
    this.timer = setInterval(() => void this.check(), this.options.periodMs);
    this.timer.unref();
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Set while the file cannot be read or is invalid. */
  get failure(): KeyFileFailure | undefined {
    return this.failed;
  }

  /** Looks at the file now; resolves when that look (and any it had to repeat) is done. */
  check(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.look();
      } while (this.again);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async look(): Promise<void> {
    const { path } = this.options;
    let sig: string;
    try {
      sig = signature(await stat(path));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.fail(code === 'ENOENT' ? 'no such file' : (code ?? 'stat failed'));
      return;
    }
    if (sig === this.seen && this.failed === undefined) return;
    try {
      const { rotation, ring: inForce } = this.options;
      // Between rotations: this process's own rotation writes the file before it changes the ring.
      const outcome = await rotation.exclusive(async (): Promise<{ failed?: string; changed?: boolean; previous?: string }> => {
        const data = await readKeyFile(path);
        if (data === undefined) return { failed: 'no such file' };
        this.seen = sig;
        if (JSON.stringify(data) === JSON.stringify(rotation.fileData)) return { changed: false };
        const ring = ringFromKeyFile(data, this.clock());
        const previous = inForce.active;
        inForce.adopt(ring);
        rotation.adoptData(data);
        return { changed: true, previous };
      });
      if (outcome.failed !== undefined) return this.fail(outcome.failed);
      this.recovered();
      const { previous } = outcome;
      if (!outcome.changed || previous === undefined) return;
      const kid = inForce.active;
      const retiring = inForce.list().find((k) => k.kid === previous)?.retireAt;
      this.options.logger.info({ event: 'keyring_reloaded', path, kid, previous, keys: inForce.list().map((k) => k.kid) }, `key ring reloaded from ${path}: ${kid} signs`);
      if (kid !== previous) this.options.bus?.publish('caps.rotate', { kid, previous, graceEndsAt: retiring ?? this.clock() });
    } catch (err) {
      this.fail(this.reasonOf(err));
    }
  }

  /** The reason without the file's path (the message adds it) and never any file content. */
  private reasonOf(err: unknown): string {
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('E') && !code.startsWith('E_')) return code;
    const message = err instanceof Error ? err.message : String(err);
    const errno = /: (E[A-Z]+)$/.exec(message);
    if (errno) return errno[1]!;
    return message.split(this.options.path).join('').replace(/^signing key file\s*:?\s*/, '').split(';')[0]!.trim() || 'invalid';
  }

  private fail(reason: string): void {
    if (this.failed?.reason === reason) return;
    this.failed = { reason, since: this.failed?.since ?? this.clock() };
    this.options.onFailure?.();
    this.options.logger.warn({ event: 'keyring_reload_failed', path: this.options.path, reason }, `key ring ${this.options.path} cannot be read: ${reason}; the ring in force stays`);
  }

  private recovered(): void {
    if (this.failed === undefined) return;
    this.failed = undefined;
    this.options.logger.info({ event: 'keyring_readable', path: this.options.path }, `key ring ${this.options.path} is readable again`);
  }
}
