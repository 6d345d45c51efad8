/**
 * A push subscription on the client side: the queue of deliveries the server pushed and
 * the loop that hands them to the application's handler.
 *
 * Dispatch: deliveries start in arrival order, at most `concurrency` handler calls at a
 * time (default 1, i.e. strictly one after another). The server's credit window
 * (`prefetch`) bounds the queue: credit only comes back when a delivery is settled, so the
 * queue never holds more than `prefetch` deliveries.
 */
import { MailboxError } from '../errors.ts';
import { MAX_REASON_BYTES, type SubscribeRequest } from '../protocol/index.ts';
import type { LeasedDelivery } from './delivery.ts';
import type { DeliveryHandler, Subscription } from './types.ts';

/** What a subscription needs from its client. */
export interface SubscriptionHost {
  /** NACKs a delivery that will never reach the handler (one-way, reason given). */
  release(delivery: LeasedDelivery, reason: string): void;
  reportError(err: MailboxError): void;
  /** Forgets the subscription and ends it on the server. */
  unsubscribe(sub: PushSubscription): Promise<void>;
}

export class PushSubscription implements Subscription {
  id: string | undefined;
  readonly ready: Promise<void>;
  private settleReady: ((err?: MailboxError) => void) | undefined;
  private queue: LeasedDelivery[] = [];
  private head = 0;
  private active = 0;
  private isClosed = false;
  private closing: Promise<void> | undefined;
  private idleWaiters: Array<() => void> = [];

  constructor(
    /** The SUBSCRIBE body, already schema-checked; sent again on every reconnect. */
    readonly request: SubscribeRequest,
    private readonly concurrency: number,
    private readonly handler: DeliveryHandler,
    private readonly host: SubscriptionHost,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.settleReady = (err) => (err === undefined ? resolve() : reject(err));
    });
    // Awaiting `ready` is optional: a refusal is also reported through onError.
    this.ready.catch(() => {});
  }

  get topic(): string {
    return this.request.topic;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  get running(): number {
    return this.active;
  }

  /** The server accepted SUBSCRIBE under `id` (first time or after a reconnect). */
  bound(id: string): void {
    this.id = id;
    this.settleReady?.();
    this.settleReady = undefined;
  }

  /** The server refused SUBSCRIBE for good: the subscription is closed. */
  failed(err: MailboxError): void {
    this.settleReady?.(err);
    this.settleReady = undefined;
    this.stopDispatch('unsubscribed');
  }

  /** Deliveries pushed by the server, integrity already checked. */
  push(deliveries: LeasedDelivery[]): void {
    if (this.isClosed) {
      for (const d of deliveries) this.host.release(d, 'unsubscribed');
      return;
    }
    for (const d of deliveries) this.queue.push(d);
    this.pump();
  }

  /**
   * The socket is gone: the server released every lease of it (`session_lost`), so the
   * queued deliveries are dropped without a word. Handlers still running keep theirs;
   * their settle calls fail locally with E_STALE_LEASE.
   */
  connectionLost(): void {
    this.id = undefined;
    this.queue = [];
    this.head = 0;
  }

  /** Stops handing out deliveries, NACKs the queued ones, and resolves when no handler runs. */
  stop(): Promise<void> {
    this.stopDispatch('unsubscribed');
    return this.whenIdle();
  }

  /**
   * Ends the subscription (see `Subscription.close`).
   * @example
   * const sub = client.subscribe({ topic: 'jobs', prefetch: 64 }, async (d) => d.ack());
   * // … later
   * await sub.close();
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopDispatch('unsubscribed');
      await this.host.unsubscribe(this);
      await this.whenIdle();
    })();
    return this.closing;
  }

  private stopDispatch(reason: string): void {
    this.isClosed = true;
    this.settleReady?.(new MailboxError('E_UNAVAILABLE', `subscription ${this.topic} closed before the server accepted it`));
    this.settleReady = undefined;
    const queued = this.queue;
    const from = this.head;
    this.queue = [];
    this.head = 0;
    for (let i = from; i < queued.length; i++) this.host.release(queued[i]!, reason);
  }

  private pump(): void {
    while (this.active < this.concurrency && this.head < this.queue.length && !this.isClosed) {
      const d = this.queue[this.head++]!;
      if (this.head === this.queue.length) {
        this.queue = [];
        this.head = 0;
      } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      this.active++;
      void this.run(d);
    }
  }

  private async run(d: LeasedDelivery): Promise<void> {
    try {
      await this.handler(d);
    } catch (err) {
      this.onHandlerError(d, err);
    }
    this.active--;
    if (this.active === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
    this.pump();
  }

  private onHandlerError(d: LeasedDelivery, err: unknown): void {
    const text = err instanceof Error ? err.message : String(err);
    this.host.reportError(new MailboxError('E_INTERNAL', `subscription ${this.topic}: handler failed on ${d.msgId}: ${text}`, { cause: err }));
    d.nack({ reason: clipUtf8(`handler: ${text}`, MAX_REASON_BYTES) }).catch((e: unknown) => {
      // Already settled by the handler, or its lease went with the socket: nothing to undo.
      if (e instanceof MailboxError && (e.code === 'E_STALE_LEASE' || e.code === 'E_NOT_FOUND' || e.code === 'E_UNAVAILABLE')) return;
      this.host.reportError(e instanceof MailboxError ? e : new MailboxError('E_INTERNAL', String(e), { cause: e }));
    });
  }

  private whenIdle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

/** Cuts `s` to at most `max` UTF-8 bytes without splitting a character. */
export function clipUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s, 'utf8') <= max) return s;
  return Buffer.from(s, 'utf8').subarray(0, max).toString('utf8').replace(/\uFFFD+$/, '');
}
