/**
 * The client's open subscriptions: SUBSCRIBE on the current connection (and again on every
 * new one), routing of DELIVER events by the server's subscription id, UNSUBSCRIBE.
 * Subscriptions outlive connections; their server ids do not.
 */
import { MailboxError, toMailboxError } from '../errors.ts';
import { OPS, encodeBody, type ResponseMap, type SubscribeRequest } from '../protocol/index.ts';
import type { Connection } from './connection.ts';
import type { LeasedDelivery } from './delivery.ts';
import { PushSubscription, type SubscriptionHost } from './subscription.ts';
import type { DeliveryHandler } from './types.ts';

export interface RegistryHost {
  /** The connection requests go to now; undefined while disconnected. */
  current(): Connection | undefined;
  /** One-way NACK of a delivery no handler will see. */
  release(delivery: LeasedDelivery, reason: string): void;
  report(err: MailboxError): void;
}

export class SubscriptionRegistry implements SubscriptionHost {
  private readonly open = new Set<PushSubscription>();
  private readonly byId = new Map<string, PushSubscription>();

  constructor(private readonly host: RegistryHost) {}

  /** Creates a subscription and subscribes it now if connected (else on the next connection). */
  add(request: SubscribeRequest, concurrency: number, handler: DeliveryHandler): PushSubscription {
    const sub = new PushSubscription(request, concurrency, handler, this);
    this.open.add(sub);
    const conn = this.host.current();
    if (conn !== undefined) void this.subscribeOn(conn, sub);
    return sub;
  }

  /** Routes pushed deliveries; those of an unknown or closed subscription are released. */
  dispatch(subscriptionId: string, deliveries: LeasedDelivery[]): void {
    const sub = this.byId.get(subscriptionId);
    if (sub !== undefined) sub.push(deliveries);
    else for (const d of deliveries) this.host.release(d, 'unsubscribed');
  }

  /** The connection is gone: every server id with it. */
  connectionLost(): void {
    this.byId.clear();
    for (const sub of this.open) sub.connectionLost();
  }

  /** Subscribes every open subscription on a new connection; resolves when all are answered. */
  async resubscribe(conn: Connection): Promise<void> {
    await Promise.all([...this.open].map((sub) => this.subscribeOn(conn, sub)));
  }

  /** Stops every subscription (the client is closing; the socket's end unsubscribes them). */
  async stopAll(): Promise<void> {
    const subs = [...this.open];
    this.open.clear();
    await Promise.all(subs.map((s) => s.stop()));
  }

  // SubscriptionHost

  release(delivery: LeasedDelivery, reason: string): void {
    this.host.release(delivery, reason);
  }

  reportError(err: MailboxError): void {
    this.host.report(err);
  }

  async unsubscribe(sub: PushSubscription): Promise<void> {
    this.open.delete(sub);
    const id = sub.id;
    const conn = this.host.current();
    if (id === undefined || conn === undefined) return;
    try {
      await new Promise((resolve, reject) => {
        conn.request(OPS.UNSUBSCRIBE, encodeBody({ subscriptionId: id }), { op: OPS.UNSUBSCRIBE, resolve, reject });
      });
    } catch (err) {
      const e = toMailboxError(err);
      if (e.code !== 'E_NOT_FOUND' && e.code !== 'E_UNAVAILABLE') this.host.report(e);
    } finally {
      this.byId.delete(id);
    }
  }

  /** Sends SUBSCRIBE; resolves (never rejects) once answered. */
  private subscribeOn(conn: Connection, sub: PushSubscription): Promise<void> {
    return new Promise((done) => {
      conn.request(OPS.SUBSCRIBE, encodeBody(sub.request), {
        op: OPS.SUBSCRIBE,
        // Runs synchronously when the reply is read: a DELIVER for the new id may be the
        // very next frame of the same socket read, before any promise continuation.
        resolve: (v) => {
          done();
          const { subscriptionId } = v as ResponseMap[typeof OPS.SUBSCRIBE];
          if (conn !== this.host.current()) return;
          if (sub.closed || !this.open.has(sub)) {
            conn.request(OPS.UNSUBSCRIBE, encodeBody({ subscriptionId }));
            return;
          }
          this.byId.set(subscriptionId, sub);
          sub.bound(subscriptionId);
        },
        reject: (err) => {
          done();
          // A lost connection re-subscribes on the next one by itself.
          if (!this.open.has(sub) || !conn.alive) return;
          this.host.report(err);
          if (err.retryable) {
            const retry = (): void => {
              if (this.open.has(sub) && conn === this.host.current()) void this.subscribeOn(conn, sub);
            };
            setTimeout(retry, err.retryAfterMs ?? 1_000).unref();
            return;
          }
          this.open.delete(sub);
          sub.failed(err);
        },
      });
    });
  }
}
