/**
 * A shard's stable address. Actor instances come and go with restarts; callers hold the ref.
 * While no instance runs, requests wait in a bounded buffer; when an instance dies, every
 * request it had not answered is refused with E_UNAVAILABLE (retryable: it may or may not
 * have been committed, which at-least-once with idempotency keys allows).
 */
import { MailboxError } from '../src/errors.ts';
import type { TenantHolds } from '../src/domain/shard-queue.ts';
import type { ShardIndex, TenantId } from '../src/domain/types.ts';
import type { Reply, ShardEvent, ShardNotice, ShardRequest } from './shard-events.ts';

/** What the runtime reads of a running shard's queue: metrics, the tree, the in-flight bound. */
export interface ShardView {
  readonly leasedCount: number;
  depths(): { ready: number; leased: number; delayed: number; dlq: number };
  depthsByClass(classOf: (topic: string) => string): Map<string, { ready: number; leased: number }>;
  readonly residentMessages: number;
  /** What one tenant holds here, for the policy's per-tenant bounds (absent: the shard does not count). */
  tenantHolds?(tenant: TenantId): Readonly<TenantHolds> | undefined;
}

/** A running shard actor's core: ShardCore (its own queue) or SharedShardCore (Redis's queue). */
export interface ShardInstance {
  readonly queue: ShardView;
  idle(): boolean;
  dispose(reason: string): void;
}

const MAX_BUFFERED = 50_000;

/**
 * A reply a ShardRef tracks until it settles: answered once (a late second answer, or the
 * restart refusal after a commit, is dropped). One object per request, no closures: the wire
 * path subclasses it to write its response, the embedding API to settle a promise.
 */
export abstract class ShardReply<T> implements Reply<T> {
  settled = false;
  /** The ref that answers this reply if its shard dies first. */
  owner: ShardRef | undefined;

  resolve(value: T): void {
    if (this.settled) return;
    this.settled = true;
    this.owner?.forget(this);
    this.resolved(value);
  }

  reject(error: MailboxError): void {
    if (this.settled) return;
    this.settled = true;
    this.owner?.forget(this);
    this.rejected(error);
  }

  protected abstract resolved(value: T): void;
  protected abstract rejected(error: MailboxError): void;
}

/** The embedding API's reply: a promise, settled by the shard. */
class PromiseReply<T> extends ShardReply<T> {
  constructor(private readonly ok: (value: T) => void, private readonly fail: (error: MailboxError) => void) {
    super();
  }
  protected resolved(value: T): void {
    this.ok(value);
  }
  protected rejected(error: MailboxError): void {
    this.fail(error);
  }
}

export class ShardRef {
  private core: ShardInstance | undefined;
  private send: ((event: ShardEvent) => void) | undefined;
  private readonly pending = new Set<ShardReply<never>>();
  private buffer: ShardEvent[] = [];

  constructor(
    readonly index: ShardIndex,
    /** Told when a fresh instance is attached after a restart (sessions re-subscribe). */
    private readonly onAttach: (ref: ShardRef) => void = () => {},
  ) {}

  get running(): ShardInstance | undefined {
    return this.core;
  }

  attach(core: ShardInstance, send: (event: ShardEvent) => void): void {
    this.core = core;
    this.send = send;
    const buffered = this.buffer;
    this.buffer = [];
    for (const event of buffered) send(event);
    this.onAttach(this);
  }

  /** The instance ended: stop its timers, answer all it owed with E_UNAVAILABLE. */
  detach(core: ShardInstance, reason: string): void {
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
      const reply = new PromiseReply<T>(resolve, reject);
      this.submit(make(reply), reply);
    });
  }

  /**
   * Sends a request whose `reply` is `reply` (the wire path: no promise). The reply is
   * answered with E_UNAVAILABLE if the shard instance dies before it does.
   */
  submit<T>(event: ShardRequest, reply: ShardReply<T>): void {
    reply.owner = this;
    this.pending.add(reply as ShardReply<never>);
    this.deliver(event, reply as ShardReply<never>);
  }

  /** A tracked reply settled. */
  forget(reply: ShardReply<never> | ShardReply<unknown>): void {
    this.pending.delete(reply as ShardReply<never>);
  }

  notify(notice: ShardNotice): void {
    this.deliver(notice);
  }

  private deliver(event: ShardEvent, pending?: ShardReply<never>): void {
    if (this.send) {
      this.send(event);
    } else if (this.buffer.length < MAX_BUFFERED) {
      this.buffer.push(event);
    } else {
      pending?.reject(new MailboxError('E_UNAVAILABLE', `shard ${this.index} is restarting and its buffer is full`, { retryAfterMs: 500 }));
    }
  }
}
