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
  /**
   * Runs a SEND whose keys are all known (the shard's normal path). `keys` are its items'
   * idempotency keys, computed once here (cache mode only), for `admit` and the queue.
   */
  enqueue(event: SendRequest, keys: readonly string[] | undefined, now: number): void;
}

interface Parked {
  event: SendRequest;
  keys: string[];
}

export class SendGate {
  private parked: Parked[] = [];
  private reading = false;
  /**
   * What the store said about keys of the parked SENDs: the live record, or undefined when it
   * holds none. Kept here, not in the RAM window, which may be smaller than one batch.
   */
  private readonly checked = new Map<string, DedupEntry | undefined>();

  constructor(private readonly deps: SendGateDeps) {}

  /** A SEND arrives: runs now, or waits behind a read (its own or an earlier SEND's). */
  offer(event: SendRequest, now: number): void {
    if (this.deps.dedup().mode === 'resident') return this.deps.enqueue(event, undefined, now);
    const keys = event.items.map((item) => dedupKey(item.tenant, item.topic, item.idemKey));
    if (this.parked.length === 0 && !this.mustRead(keys, now)) return this.deps.enqueue(event, keys, now);
    this.parked.push({ event, keys });
    this.run(now);
  }

  /** The store answered a read (`entries` in the order of `keys`), or failed to (`entries` undefined). */
  answered(keys: readonly string[], entries: ReadonlyArray<DedupEntry | undefined> | undefined, error: unknown, now: number): void {
    this.reading = false;
    if (entries === undefined) {
      // The SEND that needed the read is refused (retryable); the ones behind it go on.
      this.parked.shift()?.event.reply.reject(
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

  /** Whether `admit` has anything to do. */
  get holdsAnswers(): boolean {
    return this.checked.size > 0;
  }

  /** Right before a SEND item runs: the store's record of its key joins the RAM window. */
  admit(key: string, now: number): void {
    const stored = this.checked.get(key);
    if (stored !== undefined) this.deps.dedup().admit(key, stored, now);
    this.checked.delete(key);
  }

  /** The shard restarts or rebuilds: every parked SEND is refused, answers in flight are void. */
  reset(error: MailboxError): void {
    for (const p of this.parked) p.event.reply.reject(error);
    this.parked = [];
    this.reading = false;
    this.checked.clear();
  }

  private run(now: number): void {
    while (this.parked.length > 0 && !this.reading) {
      const head = this.parked[0]!;
      const missing = this.keysToRead(head.keys, now);
      if (missing.length === 0) {
        this.parked.shift();
        this.deps.enqueue(head.event, head.keys, now);
        continue;
      }
      this.reading = true;
      this.deps.read(missing);
    }
    if (this.parked.length === 0) this.checked.clear();
  }

  /** Whether any key may be in the store but is neither in RAM nor answered yet (no array built). */
  private mustRead(keys: readonly string[], now: number): boolean {
    for (const key of keys) if (this.unknown(key, now)) return true;
    return false;
  }

  private keysToRead(keys: readonly string[], now: number): string[] {
    return keys.filter((key) => this.unknown(key, now));
  }

  private unknown(key: string, now: number): boolean {
    const dedup = this.deps.dedup();
    return !this.checked.has(key) && dedup.lookup(key, now) === undefined && dedup.mayBeStored(key);
  }
}
