/**
 * MailboxClient: the SDK applications use to talk to svc-mailbox over OAP/1.
 *
 * What it does for the caller:
 * - coalesces every `send()` of one tick into one SEND_BATCH and every `ack()` into one
 *   ACK_BATCH (see batcher.ts), each caller still getting its own result;
 * - pipelines any number of requests, bounded by the `maxInflight` window;
 * - verifies every delivery's SHA-256 and NACKs (reason `integrity`) the ones that fail;
 * - takes one URL or several (instances of one deployment), connects to the first that
 *   answers, and on a lost connection reconnects with jittered backoff to the next URL of the
 *   list each attempt (round robin, see endpoints.ts), re-subscribes there, and refuses
 *   locally to settle a delivery of a lost connection (E_STALE_LEASE).
 */
import { MailboxError, toMailboxError } from '../errors.ts';
import { restartDelay } from '../domain/backoff.ts';
import {
  CHUNK_SIZE, MAX_BATCH, MAX_CAP, MAX_PAYLOAD, OPS, decodeBody, decodeEvent, decodeRequest, encodeBody, hashPayload, isTenantId, verifyPayload,
  type AckRequest, type FrameHeader, type HelloLimits, type MessageParams, type RequestOpId, type ResponseMap,
  type SendRequest, type WireDelivery,
} from '../protocol/index.ts';
import { decodeDeliverWith } from '../protocol/decode-deliver.ts';
import { SEND_BATCH_HEAD, sendItemBound } from '../protocol/encode-batch.ts';
import { ackBatchOn, sendBatchOn } from './batch-requests.ts';
import { Batch, TickBatcher } from './batcher.ts';
import type { Connection, ConnectionHooks } from './connection.ts';
import { LeasedDelivery, type LeaseOwner } from './delivery.ts';
import { DlqClient } from './dlq.ts';
import { Endpoints } from './endpoints.ts';
import { handshake } from './handshake.ts';
import { SubscriptionRegistry } from './subscriptions.ts';
import type {
  ClientDelivery, ClientOptions, ClientStats, DeliveryHandler, LeaseId, MsgId, NackOptions, RecvInput, SendInput,
  SendResult, SubscribeInput, Subscription,
} from './types.ts';
import { InflightWindow } from './window.ts';

type TenantId = MessageParams['tenant'];
type Rng = Parameters<typeof restartDelay>[2];

const DEFAULT_TENANT = '00000000000000000000000000000000' as TenantId;
/**
 * Body bytes per SEND_BATCH: one chunk, so the server decodes the frame in place instead of
 * reassembling (copying) a stream. Items are weighed by an upper bound of their encoded size.
 */
const SEND_BATCH_BYTES = CHUNK_SIZE - SEND_BATCH_HEAD;
const RECONNECT_BASE_MS = 100;
const rng: Rng = { next: Math.random };

type State = 'open' | 'closing' | 'closed';


/** The least retryAfterMs a call refused while reconnecting carries. */
const MIN_RETRY_HINT_MS = 50;
export class MailboxClient {
  /**
   * Dead-letter queue operations.
   * @example
   * const entries = await client.dlq.list({ topic: 'jobs', reason: 'expired', limit: 50 });
   */
  readonly dlq: DlqClient;
  private conn: Connection | undefined;
  private state: State = 'open';
  private closing: Promise<void> | undefined;
  private serverLimits: HelloLimits = { maxFrame: 0, chunkSize: 0, maxPayload: MAX_PAYLOAD, maxBatch: MAX_BATCH };
  private epochs = 0;
  private failedAttempts = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectAt = 0;
  private readonly tenant: TenantId;
  private readonly cap: Uint8Array;
  private readonly subs: SubscriptionRegistry;
  private readonly window: InflightWindow;
  private readonly sends: TickBatcher<SendRequest, SendResult>;
  private readonly acks: TickBatcher<AckRequest, void>;
  private readonly counters = { reconnects: 0, framesSent: 0, sendBatches: 0, ackBatches: 0, deliveriesReceived: 0, integrityFailures: 0 };
  private readonly hooks: ConnectionHooks = {
    onEvent: (conn, header, body) => this.onEvent(conn, header, body),
    onError: (err) => this.report(err),
    onClose: (conn, err) => this.onConnectionLost(conn, err),
  };
  /** How deliveries settle: refused locally when their connection is gone (E_STALE_LEASE). */
  private readonly leases: LeaseOwner = {
    ackLease: (msgId, leaseId, epoch) => this.refuseLease<void>(epoch) ?? this.enqueueAck({ msgId, leaseId }),
    nackLease: (msgId, leaseId, epoch, options) => this.refuseLease<void>(epoch) ?? this.nack(msgId, leaseId, options),
    extendLease: (msgId, leaseId, epoch, ms) => this.refuseLease<number>(epoch) ?? this.extend(msgId, leaseId, ms),
  };
  private readonly releaseSlot = (): void => this.window.release();

  private constructor(private readonly endpoints: Endpoints, private readonly options: ClientOptions) {
    if (typeof options.token !== 'string' || options.token.length === 0) throw new MailboxError('E_CONFIG', 'token: required');
    this.cap = Buffer.from(options.token, 'utf8');
    if (this.cap.length > MAX_CAP) throw new MailboxError('E_CONFIG', `token: longer than ${MAX_CAP} bytes`);
    const tenant = options.tenant ?? DEFAULT_TENANT;
    if (!isTenantId(tenant)) throw new MailboxError('E_CONFIG', 'tenant: must be 32 lower-case hex digits');
    this.tenant = tenant;
    this.window = new InflightWindow(options.maxInflight ?? 10_000);
    this.sends = new TickBatcher({
      maxItems: () => this.serverLimits.maxBatch, maxBytes: SEND_BATCH_BYTES, flush: (b) => this.flushSends(b), onSettle: this.releaseSlot,
      onFull: () => this.conn?.pushOut(),
    });
    this.acks = new TickBatcher({
      maxItems: () => this.serverLimits.maxBatch, maxBytes: Infinity, flush: (b) => this.flushAcks(b), onSettle: this.releaseSlot,
      onFull: () => this.conn?.pushOut(),
    });
    this.dlq = new DlqClient((op, request) => this.call(op, request, false));
    this.subs = new SubscriptionRegistry({
      current: () => this.conn,
      release: (d, reason) => this.release(d.msgId, d.leaseId, d.epoch, reason),
      report: (err) => this.report(err),
    });
  }

  /**
   * Opens a connection, says HELLO (version 1) and keeps the server's limits.
   *
   * `urls` is one ws:// or wss:// URL, or a list of instances of one deployment. The first
   * connect tries each URL once, in list order from a random entry (so that many clients
   * given the same list spread over the instances rather than all piling onto the first),
   * and keeps the first that answers; a skipped URL is reported through `onError`. After a
   * lost connection every reconnect attempt takes the next URL of the list (round robin).
   *
   * Rejects with E_CONFIG when `urls` is empty or an entry is not a ws(s) URL; with
   * E_UNAVAILABLE naming every URL tried when none can be reached (the first connect does
   * not retry); or with the server's error (e.g. E_CAP_AUTH) when an instance refuses HELLO:
   * a refusal is an answer, so the client stops there rather than try the token elsewhere.
   * @example
   * const client = await MailboxClient.connect('ws://127.0.0.1:9410', { token: process.env.MAILBOX_TOKEN! });
   * @example
   * const client = await MailboxClient.connect(['wss://mb-1.internal:9410', 'wss://mb-2.internal:9410'], { token });
   * console.log('connected to', client.url);
   */
  static async connect(urls: string | readonly string[], options: ClientOptions): Promise<MailboxClient> {
    // A random start index (Endpoints takes it modulo the list's length).
    const client = new MailboxClient(new Endpoints(urls, Math.floor(rng.next() * 2 ** 31)), options);
    client.conn = await client.firstConnection();
    return client;
  }

  /** The server's limits from HELLO (of the current or last connection). */
  get limits(): Readonly<HelloLimits> {
    return this.serverLimits;
  }

  get connected(): boolean {
    return this.conn !== undefined;
  }

  /**
   * The URL of the current connection, exactly as given to `connect` (so it may hold what
   * the application put in it); undefined while disconnected.
   */
  get url(): string | undefined {
    return this.conn?.url;
  }

  /**
   * Sends one message; resolves once it is durable. Sends of one tick travel together in
   * one SEND_BATCH. Safe to retry with the same idemKey after a retryable error.
   * @example
   * const { msgId, duplicate } = await client.send({ topic: 'user:42:inbox', idemKey: 'order-1001', payload: 'hello' });
   */
  send(input: SendInput): Promise<SendResult> {
    if (this.state !== 'open') return Promise.reject(this.unavailable());
    let item: SendRequest;
    try {
      item = this.toSendRequest(input);
    } catch (err) {
      return Promise.reject(toMailboxError(err));
    }
    const weight = sendItemBound(item);
    const slot = this.window.acquire();
    return slot === undefined ? this.sends.add(item, weight) : slot.then(() => this.sends.add(item, weight));
  }

  /**
   * Sends many messages; each entry is that input's result or its MailboxError, in order.
   * @example
   * const results = await client.sendBatch(orders.map((o) => ({ topic: 'orders', idemKey: o.id, payload: JSON.stringify(o) })));
   * const failed = results.filter((r) => r instanceof MailboxError);
   */
  sendBatch(inputs: readonly SendInput[]): Promise<Array<SendResult | MailboxError>> {
    return Promise.all(inputs.map((input) => this.send(input).catch(toMailboxError)));
  }

  /**
   * Leases up to `maxMessages` ready messages for `visibilityMs`, long-polling up to
   * `waitMs` for the first. Deliveries failing their integrity check are NACKed and left out.
   * @example
   * const batch = await client.recv({ topic: 'jobs', visibilityMs: 5000, maxMessages: 32, waitMs: 1000 });
   * for (const d of batch) await d.ack();
   */
  async recv(input: RecvInput): Promise<ClientDelivery[]> {
    const res = await this.call(OPS.RECV, {
      topic: input.topic, maxMessages: input.maxMessages ?? 1, visibilityMs: input.visibilityMs, maxBytes: input.maxBytes,
      waitMs: input.waitMs,
    }, false);
    // The reply came in on the current connection (a lost one rejects its requests); if it
    // was lost since, epoch 0 makes every delivery stale, as its leases are.
    const conn = this.conn;
    return this.accept(conn, res.deliveries, this.tenant);
  }

  /**
   * Opens a push subscription; `handler` gets each delivery (see `SubscribeInput.concurrency`
   * for ordering). A handler that throws NACKs its delivery and reports through `onError`.
   * Survives reconnects: the client subscribes again on each new connection.
   * @example
   * const sub = client.subscribe({ topic: 'jobs', visibilityMs: 5000, prefetch: 256 }, async (d) => {
   *   await handle(d.payload);
   *   await d.ack();
   * });
   */
  subscribe(input: SubscribeInput, handler: DeliveryHandler): Subscription {
    const request = decodeRequest(OPS.SUBSCRIBE, { topic: input.topic, visibilityMs: input.visibilityMs, prefetch: input.prefetch });
    const concurrency = Math.max(1, Math.min(request.prefetch, Math.floor(input.concurrency ?? 1)));
    const sub = this.subs.add(request, concurrency, handler);
    if (this.state !== 'open') void sub.close();
    return sub;
  }

  /**
   * Acknowledges a lease by ids. Acks of one tick travel together in one ACK_BATCH.
   * @example
   * await client.ack(d.msgId, d.leaseId);
   */
  ack(msgId: MsgId | string, leaseId: LeaseId | string): Promise<void> {
    if (this.state === 'closed') return Promise.reject(this.unavailable());
    let item: AckRequest;
    try {
      item = decodeRequest(OPS.ACK, { msgId, leaseId });
    } catch (err) {
      return Promise.reject(toMailboxError(err));
    }
    return this.enqueueAck(item);
  }

  /**
   * Returns a leased message for redelivery after `delayMs` (or the server's backoff).
   * @example
   * await client.nack(d.msgId, d.leaseId, { delayMs: 1000, reason: 'busy' });
   */
  async nack(msgId: MsgId | string, leaseId: LeaseId | string, options: NackOptions = {}): Promise<void> {
    await this.call(OPS.NACK, { msgId, leaseId, delayMs: options.delayMs, reason: options.reason }, true);
  }

  /**
   * Moves a lease deadline to now + `ms`, clamped to the server's cap (`queue.maxVisibilityMs`);
   * resolves with the deadline granted (wall-clock ms).
   * @example
   * const deadline = await client.extend(d.msgId, d.leaseId, 10_000);
   */
  async extend(msgId: MsgId | string, leaseId: LeaseId | string, ms: number): Promise<number> {
    return (await this.call(OPS.EXTEND, { msgId, leaseId, ms }, true)).leaseDeadline;
  }

  /**
   * Round trip to the server; resolves with the time it took in ms.
   * @example
   * const rttMs = await client.ping();
   */
  async ping(): Promise<number> {
    const start = performance.now();
    await this.call(OPS.PING, {}, false);
    return performance.now() - start;
  }

  /**
   * Closes the client: stops subscriptions (their queued deliveries are NACKed, running
   * handlers may still settle), flushes pending batches, waits up to `closeTimeoutMs` for
   * in-flight replies, then closes the socket. Later calls reject with E_UNAVAILABLE.
   * @example
   * await client.close();
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** Counters of this client since it was created. */
  stats(): ClientStats {
    return {
      connected: this.conn !== undefined,
      epoch: this.conn?.epoch ?? 0,
      reconnects: this.counters.reconnects,
      inflight: this.window.inflight,
      framesSent: this.counters.framesSent + (this.conn?.framesSent ?? 0),
      sendBatches: this.counters.sendBatches,
      ackBatches: this.counters.ackBatches,
      deliveriesReceived: this.counters.deliveriesReceived,
      integrityFailures: this.counters.integrityFailures,
    };
  }

  // ---- requests -------------------------------------------------------------------------

  /**
   * Validates `request` against the schema of `op` (one check: the validated copy is what
   * gets encoded), takes an in-flight slot and sends it on the current connection.
   * `settling` calls (ack/nack/extend) are still accepted while the client is closing.
   */
  private call<K extends RequestOpId>(op: K, request: unknown, settling: boolean): Promise<ResponseMap[K]> {
    if (this.state === 'closed' || (this.state === 'closing' && !settling)) return Promise.reject(this.unavailable());
    let body: Uint8Array;
    try {
      body = encodeBody(decodeRequest(op, request));
    } catch (err) {
      return Promise.reject(toMailboxError(err));
    }
    const slot = this.window.acquire();
    const reply = slot === undefined ? this.issue(op, body) : slot.then(() => this.issue(op, body));
    return reply.then(this.passResult, this.passError) as Promise<ResponseMap[K]>;
  }

  private readonly passResult = <T>(value: T): T => {
    this.window.release();
    return value;
  };

  private readonly passError = (err: unknown): never => {
    this.window.release();
    throw err;
  };

  private issue(op: RequestOpId, body: Uint8Array): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const conn = this.conn;
      if (conn === undefined) reject(this.unavailable());
      else conn.request(op, body, { op, resolve, reject });
    });
  }

  private toSendRequest(input: SendInput): SendRequest {
    const payload = typeof input.payload === 'string' ? Buffer.from(input.payload, 'utf8') : input.payload;
    if (payload instanceof Uint8Array && payload.length > this.serverLimits.maxPayload) {
      throw new MailboxError('E_FRAME_TOO_LARGE', `payload: ${payload.length} bytes exceeds the server's ${this.serverLimits.maxPayload}`);
    }
    return decodeRequest(OPS.SEND, { topic: input.topic, idemKey: input.idemKey, payload, attrs: input.attrs, delayMs: input.delayMs });
  }

  private enqueueAck(item: AckRequest): Promise<void> {
    const slot = this.window.acquire();
    return slot === undefined ? this.acks.add(item, 0) : slot.then(() => this.acks.add(item, 0));
  }

  private flushSends(batch: Batch<SendRequest, SendResult>): void {
    const conn = this.conn;
    if (conn === undefined) batch.rejectAll(this.unavailable());
    else if (sendBatchOn(conn, batch)) this.counters.sendBatches++;
  }

  private flushAcks(batch: Batch<AckRequest, void>): void {
    const conn = this.conn;
    if (conn === undefined) batch.rejectAll(this.unavailable());
    else if (ackBatchOn(conn, batch)) this.counters.ackBatches++;
  }

  /** A delivery of another connection than the current one: its lease is gone. */
  private refuseLease<T>(epoch: number): Promise<T> | undefined {
    if (this.state === 'closed') return Promise.reject(this.unavailable());
    if (this.conn?.epoch === epoch) return undefined;
    return Promise.reject(new MailboxError(
      'E_STALE_LEASE', `the lease belongs to connection epoch ${epoch}, which was lost; the server released it (session_lost)`,
    ));
  }

  /** One-way NACK of a delivery no handler will see (integrity failure, closed subscription). */
  private release(msgId: MsgId, leaseId: LeaseId, epoch: number, reason: string): void {
    const conn = this.conn;
    if (conn === undefined || conn.epoch !== epoch) return;
    conn.request(OPS.NACK, encodeBody(decodeRequest(OPS.NACK, { msgId, leaseId, reason })));
  }

  private unavailable(): MailboxError {
    if (this.state !== 'open') return new MailboxError('E_UNAVAILABLE', `client is ${this.state}`);
    // While a connect attempt is out the next one is 0 ms away; a caller told 0 would retry in a
    // tight loop until it lands, so it is told to wait at least a little.
    const wait = Math.max(MIN_RETRY_HINT_MS, Math.ceil(this.reconnectAt - performance.now()));
    const failures = this.endpoints.describeFailures();
    return new MailboxError('E_UNAVAILABLE', `not connected (reconnecting)${failures === undefined ? '' : `: ${failures}`}`, { retryAfterMs: wait });
  }

  private report(err: MailboxError): void {
    const onError = this.options.onError;
    if (onError === undefined) return;
    try {
      onError(err);
    } catch {
      // An application callback must not break the connection's read loop.
    }
  }

  // ---- deliveries -----------------------------------------------------------------------

  /** Verifies each delivery's hash: the good ones become ClientDeliveries, the bad ones are NACKed. */
  private accept(conn: Connection | undefined, wire: WireDelivery[], tenant: string): LeasedDelivery[] {
    const epoch = conn?.epoch ?? 0;
    const all = new Array<LeasedDelivery>(wire.length);
    for (let i = 0; i < wire.length; i++) all[i] = LeasedDelivery.fromWire(wire[i]!, tenant, epoch, this.leases);
    return this.verified(all);
  }

  /** Keeps the deliveries whose payload hashes to their payloadHash (checked once, on the received bytes); NACKs the rest. */
  private verified(all: LeasedDelivery[]): LeasedDelivery[] {
    let out: LeasedDelivery[] | undefined;
    for (let i = 0; i < all.length; i++) {
      const d = all[i]!;
      this.counters.deliveriesReceived++;
      if (hashPayload(d.payload) === d.payloadHash) {
        out?.push(d);
        continue;
      }
      out ??= all.slice(0, i);
      this.counters.integrityFailures++;
      this.release(d.msgId, d.leaseId, d.epoch, 'integrity');
      try {
        verifyPayload(d);
      } catch (err) {
        this.report(toMailboxError(err));
      }
    }
    return out ?? all;
  }

  private onEvent(conn: Connection, header: FrameHeader, body: Uint8Array): void {
    if (header.op !== OPS.DELIVER) decodeEvent(header.op, undefined); // throws: not an event op
    const { epoch } = conn;
    const { tenant } = header;
    const leases = this.leases;
    const event = decodeDeliverWith(decodeBody(body), (msgId, topic, attempt, leaseId, enqueuedAt, leaseDeadline, payload, payloadHash, attrs) =>
      new LeasedDelivery(msgId, topic, attempt, leaseId, enqueuedAt, leaseDeadline, payload, payloadHash, attrs, tenant, epoch, leases));
    this.subs.dispatch(event.subscriptionId, this.verified(event.deliveries));
  }

  // ---- connection lifecycle -------------------------------------------------------------

  /**
   * Each URL once, from the endpoints' start: the first that answers HELLO (the URLs skipped
   * on the way are reported through onError), or E_UNAVAILABLE naming every URL tried.
   */
  private async firstConnection(): Promise<Connection> {
    const skipped: MailboxError[] = [];
    for (let i = 0; i < this.endpoints.urls.length; i++) {
      try {
        const conn = await this.establish(this.endpoints.next());
        for (const e of skipped) this.report(e);
        return conn;
      } catch (err) {
        const e = toMailboxError(err);
        if (!e.retryable) throw e;
        skipped.push(e);
      }
    }
    const cause = skipped.length === 1 ? skipped[0] : new AggregateError(skipped, 'every URL failed');
    throw new MailboxError('E_UNAVAILABLE', this.endpoints.describeFailures() ?? 'cannot connect', { cause });
  }

  /**
   * Opens a socket to `url` and says HELLO; keeps the server's limits. A retryable failure
   * (unreachable, HELLO unanswered, instance draining) is recorded against the URL and
   * rethrown as `cannot reach <url>: <why>`; a refusal (e.g. E_CAP_AUTH) is rethrown as is.
   */
  private async establish(url: string): Promise<Connection> {
    try {
      const { conn, limits } = await handshake(
        { url, tenant: this.tenant, cap: this.cap, epoch: ++this.epochs, timeoutMs: this.options.connectTimeoutMs ?? 10_000, ...(this.options.ca !== undefined ? { ca: this.options.ca } : {}) },
        this.hooks, this.options.clientName ?? 'svc-mailbox-client',
      );
      this.serverLimits = limits;
      this.endpoints.reached();
      return conn;
    } catch (err) {
      const e = toMailboxError(err);
      if (!e.retryable) throw e;
      const unreachable = this.endpoints.failed(url, e);
      // Keep the server's retry hint (a draining or saturated instance says when to come back).
      if (e.retryAfterMs === undefined) throw unreachable;
      throw new MailboxError(e.code, unreachable.message, { cause: e, retryAfterMs: e.retryAfterMs });
    }
  }

  private onConnectionLost(conn: Connection, err: MailboxError): void {
    if (conn !== this.conn) return; // a connection that never finished HELLO, or an old one
    this.counters.framesSent += conn.framesSent;
    this.conn = undefined;
    this.subs.connectionLost();
    if (this.state !== 'open') return;
    this.report(err);
    if (this.options.reconnect === false) {
      this.closing ??= this.shutdown();
      return;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const delay = restartDelay({ baseMs: RECONNECT_BASE_MS, maxMs: this.options.maxReconnectDelayMs ?? 10_000 }, this.failedAttempts, rng);
    this.reconnectAt = performance.now() + delay;
    this.reconnectTimer = setTimeout(() => void this.reconnect(), delay);
  }

  private async reconnect(): Promise<void> {
    this.reconnectTimer = undefined;
    let conn: Connection;
    try {
      conn = await this.establish(this.endpoints.next());
    } catch (err) {
      if (this.state !== 'open') return;
      this.failedAttempts++;
      this.report(toMailboxError(err));
      this.scheduleReconnect();
      return;
    }
    if (this.state !== 'open') {
      conn.close();
      return;
    }
    this.conn = conn;
    if (!conn.alive) {
      // Lost between HELLO and here: its close was ignored as not yet current.
      this.onConnectionLost(conn, new MailboxError('E_UNAVAILABLE', 'connection lost right after HELLO'));
      return;
    }
    const failedAttempts = this.failedAttempts;
    this.failedAttempts = 0;
    this.counters.reconnects++;
    await this.subs.resubscribe(conn);
    if (conn !== this.conn) return;
    try {
      this.options.onReconnect?.({ epoch: conn.epoch, failedAttempts, url: conn.url });
    } catch {
      // Application callback; nothing to undo.
    }
  }

  private async shutdown(): Promise<void> {
    this.state = 'closing';
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    const deadline = performance.now() + (this.options.closeTimeoutMs ?? 5_000);
    const left = (): number => Math.max(0, deadline - performance.now());
    await withTimeout(this.subs.stopAll(), left());
    this.sends.flush();
    this.acks.flush();
    const conn = this.conn;
    if (conn !== undefined) await conn.whenIdle(left());
    this.state = 'closed';
    this.window.releaseAll();
    if (conn !== undefined) {
      this.counters.framesSent += conn.framesSent;
      this.conn = undefined;
      conn.close(new MailboxError('E_UNAVAILABLE', 'client closed before the reply arrived'));
    }
  }
}

function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void p.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
