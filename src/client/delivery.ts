/**
 * A delivery as application code sees it: the wire fields plus ack / nack / extend. Each
 * delivery remembers the connection epoch it arrived on: after a reconnect the server has
 * already released its lease (`session_lost`), so settling it on the new socket could only
 * fail or, worse, hit a newer lease of the same message. The owner refuses such calls
 * locally with E_STALE_LEASE.
 */
import type { WireDelivery } from '../protocol/index.ts';
import type { Attrs, ClientDelivery, LeaseId, MsgId, NackOptions } from './types.ts';

/** What a delivery settles through (the client). */
export interface LeaseOwner {
  ackLease(msgId: MsgId, leaseId: LeaseId, epoch: number): Promise<void>;
  nackLease(msgId: MsgId, leaseId: LeaseId, epoch: number, options?: NackOptions): Promise<void>;
  extendLease(msgId: MsgId, leaseId: LeaseId, epoch: number, ms: number): Promise<number>;
}

/** The one implementation of `ClientDelivery`; methods live on the prototype, so a delivery costs one object. */
export class LeasedDelivery implements ClientDelivery {
  readonly msgId: MsgId;
  readonly tenant: string;
  readonly topic: string;
  readonly attempt: number;
  readonly leaseId: LeaseId;
  readonly enqueuedAt: number;
  readonly leaseDeadline: number;
  readonly payload: Uint8Array;
  readonly payloadHash: string;
  readonly attrs?: Attrs;
  /** The connection epoch this delivery's lease belongs to. */
  readonly epoch: number;
  readonly #owner: LeaseOwner;

  constructor(
    msgId: MsgId, topic: string, attempt: number, leaseId: LeaseId, enqueuedAt: number, leaseDeadline: number,
    payload: Uint8Array, payloadHash: string, attrs: Attrs | undefined, tenant: string, epoch: number, owner: LeaseOwner,
  ) {
    this.msgId = msgId;
    this.tenant = tenant;
    this.topic = topic;
    this.attempt = attempt;
    this.leaseId = leaseId;
    this.enqueuedAt = enqueuedAt;
    this.leaseDeadline = leaseDeadline;
    this.payload = payload;
    this.payloadHash = payloadHash;
    if (attrs !== undefined) this.attrs = attrs;
    this.epoch = epoch;
    this.#owner = owner;
  }

  /** A delivery from a decoded WireDelivery (RECV replies). */
  static fromWire(w: WireDelivery, tenant: string, epoch: number, owner: LeaseOwner): LeasedDelivery {
    return new LeasedDelivery(
      w.msgId, w.topic, w.attempt, w.leaseId, w.enqueuedAt, w.leaseDeadline, w.payload, w.payloadHash, w.attrs, tenant, epoch, owner,
    );
  }

  /**
   * Acknowledges the delivery: the message is done and deleted. Acks of one tick share one
   * ACK_BATCH request.
   * @example
   * await d.ack();
   */
  ack(): Promise<void> {
    return this.#owner.ackLease(this.msgId, this.leaseId, this.epoch);
  }

  /**
   * Returns the message for redelivery after `delayMs` (or the server's backoff).
   * @example
   * await d.nack({ delayMs: 1000, reason: 'busy' });
   */
  nack(options?: NackOptions): Promise<void> {
    return this.#owner.nackLease(this.msgId, this.leaseId, this.epoch, options);
  }

  /**
   * Moves the lease deadline to now + `ms`, clamped to the server's cap; resolves with the deadline granted.
   * @example
   * const deadline = await d.extend(10_000);
   */
  extend(ms: number): Promise<number> {
    return this.#owner.extendLease(this.msgId, this.leaseId, this.epoch, ms);
  }
}
