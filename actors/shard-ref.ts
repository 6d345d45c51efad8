/**
 * A shard's stable address. Actor instances come and go with restarts; callers hold the ref.
 * While no instance runs, requests wait in a bounded buffer; when an instance dies, every
 * request it had not answered is refused with E_UNAVAILABLE (retryable: it may or may not
 * have been committed, which at-least-once with idempotency keys allows).
 */
import { MailboxError } from '../src/errors.ts';
import type { ShardIndex } from '../src/domain/types.ts';
import type { ShardCore } from './shard-core.ts';
import type { Reply, ShardEvent, ShardNotice, ShardRequest } from './shard-events.ts';

const MAX_BUFFERED = 50_000;

type Pending = Reply<never> & { settled: boolean };

export class ShardRef {
  private core: ShardCore | undefined;
  private send: ((event: ShardEvent) => void) | undefined;
  private readonly pending = new Set<Pending>();
  private buffer: ShardEvent[] = [];

  constructor(
    readonly index: ShardIndex,
    /** Told when a fresh instance is attached after a restart (sessions re-subscribe). */
    private readonly onAttach: (ref: ShardRef) => void = () => {},
  ) {}

  get running(): ShardCore | undefined {
    return this.core;
  }

  attach(core: ShardCore, send: (event: ShardEvent) => void): void {
    this.core = core;
    this.send = send;
    const buffered = this.buffer;
    this.buffer = [];
    for (const event of buffered) send(event);
    this.onAttach(this);
  }

  /** The instance ended: stop its timers, answer all it owed with E_UNAVAILABLE. */
  detach(core: ShardCore, reason: string): void {
    if (this.core !== core) return;
    core.dispose(reason);
    this.core = undefined;
    this.send = undefined;
    const error = new MailboxError('E_UNAVAILABLE', `shard ${this.index} restarting: ${reason}`, { retryAfterMs: 100 });
    for (const p of this.pending) p.reject(error);
    this.pending.clear();
  }

  request<T>(make: (reply: Reply<T>) => ShardRequest): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = {
        settled: false,
        resolve: (value: never) => {
          if (pending.settled) return;
          pending.settled = true;
          this.pending.delete(pending);
          resolve(value as T);
        },
        reject: (error: MailboxError) => {
          if (pending.settled) return;
          pending.settled = true;
          this.pending.delete(pending);
          reject(error);
        },
      };
      this.pending.add(pending);
      this.deliver(make(pending as unknown as Reply<T>), pending);
    });
  }

  notify(notice: ShardNotice): void {
    this.deliver(notice);
  }

  private deliver(event: ShardEvent, pending?: Pending): void {
    if (this.send) {
      this.send(event);
    } else if (this.buffer.length < MAX_BUFFERED) {
      this.buffer.push(event);
    } else {
      pending?.reject(new MailboxError('E_UNAVAILABLE', `shard ${this.index} is restarting and its buffer is full`, { retryAfterMs: 500 }));
    }
  }
}
