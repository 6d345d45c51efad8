/**
 * SENDs of a paged shard wait here, in arrival order, while idempotency keys they need are read
 * from the store: a key missing from the RAM window that the filter says may be stored must be
 * looked up before the SEND can be told whether it repeats an earlier one. A SEND that waits
 * holds back every SEND behind it, so one producer's messages keep their order.
 */
import type { DedupWindow } from '../src/domain/dedup-window.ts';
import { dedupKey } from '../src/domain/dedup-window.ts';
import type { DedupEntry } from '../src/domain/types.ts';
import { MailboxError, toMailboxError } from '../src/errors.ts';
import type { ShardRequest } from './shard-events.ts';

export type SendRequest = Extract<ShardRequest, { type: 'send' }>;

export interface SendGateDeps {
  /** The window of the shard's current queue. */
  dedup(): DedupWindow;
  /** Reads `keys` once every op before is durable; the answer comes back through `answered`. */
  read(keys: string[]): void;
  /** Runs a SEND whose keys are all known (the shard's normal path). */
  enqueue(event: SendRequest, now: number): void;
}

export class SendGate {
  private parked: SendRequest[] = [];
  private reading = false;
  /**
   * What the store said about keys of the parked SENDs: the live record, or undefined when it
   * holds none. Kept here, not in the RAM window, which may be smaller than one batch.
   */
  private readonly checked = new Map<string, DedupEntry | undefined>();

  constructor(private readonly deps: SendGateDeps) {}

  /** A SEND arrives: runs now, or waits behind a read (its own or an earlier SEND's). */
  offer(event: SendRequest, now: number): void {
    if (this.parked.length === 0 && this.keysToRead(event, now).length === 0) return this.deps.enqueue(event, now);
    this.parked.push(event);
    this.run(now);
  }

  /** The store answered a read (`entries` in the order of `keys`), or failed to (`entries` undefined). */
  answered(keys: readonly string[], entries: ReadonlyArray<DedupEntry | undefined> | undefined, error: unknown, now: number): void {
    this.reading = false;
    if (entries === undefined) {
      // The SEND that needed the read is refused (retryable); the ones behind it go on.
      this.parked.shift()?.reply.reject(
        new MailboxError('E_UNAVAILABLE', `storage: idempotency lookup failed (${toMailboxError(error).message})`, { retryAfterMs: 200 }),
      );
    } else {
      keys.forEach((key, i) => {
        const entry = entries[i];
        this.checked.set(key, entry !== undefined && entry.expiresAt > now ? entry : undefined);
      });
    }
    this.run(now);
  }

  /** Whether `admit` has anything to do (so the hot path skips building keys). */
  get holdsAnswers(): boolean {
    return this.checked.size > 0;
  }

  /** Right before a SEND item runs: the store's record of its key joins the RAM window. */
  admit(item: { tenant: SendRequest['items'][number]['tenant']; topic: string; idemKey: string }, now: number): void {
    const key = dedupKey(item.tenant, item.topic, item.idemKey);
    const stored = this.checked.get(key);
    if (stored !== undefined) this.deps.dedup().admit(key, stored, now);
    this.checked.delete(key);
  }

  /** The shard restarts or rebuilds: every parked SEND is refused, answers in flight are void. */
  reset(error: MailboxError): void {
    for (const e of this.parked) e.reply.reject(error);
    this.parked = [];
    this.reading = false;
    this.checked.clear();
  }

  private run(now: number): void {
    while (this.parked.length > 0 && !this.reading) {
      const head = this.parked[0]!;
      const keys = this.keysToRead(head, now);
      if (keys.length === 0) {
        this.parked.shift();
        this.deps.enqueue(head, now);
        continue;
      }
      this.reading = true;
      this.deps.read(keys);
    }
    if (this.parked.length === 0) this.checked.clear();
  }

  /** Keys of the SEND that may be in the store but are not in RAM, nor answered yet. */
  private keysToRead(event: SendRequest, now: number): string[] {
    const dedup = this.deps.dedup();
    if (dedup.mode === 'resident') return [];
    const keys: string[] = [];
    for (const item of event.items) {
      const key = dedupKey(item.tenant, item.topic, item.idemKey);
      if (!this.checked.has(key) && dedup.lookup(key, now) === undefined && dedup.mayBeStored(key)) keys.push(key);
    }
    return keys;
  }
}
