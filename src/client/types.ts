/**
 * The SDK's public shapes. They mirror the embedded API (src/runtime/api.ts) so that code
 * written against `createMailbox()` reads the same against a remote server. Branded ids
 * come from the protocol's body types: the client depends on src/protocol, not the domain.
 */
import type { MailboxError } from '../errors.ts';
import type { DlqReason, HelloLimits, WireDelivery, WireDlqEntry } from '../protocol/index.ts';

/** 26-character ULID of a message. */
export type MsgId = WireDelivery['msgId'];
/** One delivery attempt's lease; a newer attempt fences older ones. */
export type LeaseId = WireDelivery['leaseId'];
export type Attrs = Record<string, string>;
export type { DlqReason, HelloLimits as ServerLimits };

/** Options of `MailboxClient.connect(urls, options)`. */
export interface ClientOptions {
  /** Capability token (`mbx1.…`), sent in the capability bytes of every request. */
  token: string;
  /** u128 tenant as 32 lower-case hex digits; default all zeros (the default tenant). */
  tenant?: string;
  /**
   * Reconnect after the socket is lost (default true). The first connect never retries.
   * Each attempt takes the next URL of the list given to `connect` (round robin).
   * While reconnecting, calls fail fast with a retryable E_UNAVAILABLE whose retryAfterMs is
   * the time to the next attempt (its message names the URLs that failed since the loss);
   * nothing is queued behind a dead socket.
   */
  reconnect?: boolean;
  /** Ceiling of the jittered reconnect backoff (default 10,000 ms; base 100 ms). */
  maxReconnectDelayMs?: number;
  /** Most calls awaiting their result at once; further calls wait for a slot (default 10,000). */
  maxInflight?: number;
  /** How long `close()` waits for in-flight replies before it gives up on them (default 5,000 ms). */
  closeTimeoutMs?: number;
  /** WebSocket handshake + HELLO deadline per attempt (default 10,000 ms). */
  connectTimeoutMs?: number;
  /** Sent in HELLO as `client` (informational). */
  clientName?: string;
  /**
   * PEM certificate(s) of the CA that signed a wss:// server's certificate (a self-signed
   * certificate is its own CA). Replaces Node's default CA list for these sockets; without it
   * the default list applies. Verification is never turned off: an unknown CA fails the
   * connect with E_UNAVAILABLE naming the URL.
   */
  ca?: string | Buffer | Array<string | Buffer>;
  /**
   * Failures that belong to no caller: a delivery that failed its integrity check, a handler
   * that threw, a refused frame, a lost connection, a failed reconnect attempt.
   */
  onError?: (err: MailboxError) => void;
  /** Called after a reconnect: HELLO done and every open subscription re-subscribed. */
  onReconnect?: (info: ReconnectInfo) => void;
}

export interface ReconnectInfo {
  /** The new connection's epoch (1 for the first connection). */
  epoch: number;
  /** Failed attempts before this one succeeded. */
  failedAttempts: number;
  /** The URL it reconnected to (one of those given to `connect`, as given). */
  url: string;
}

export interface SendInput {
  topic: string;
  /** Same (tenant, topic, idemKey) within the replay window answers with the first msgId. */
  idemKey: string;
  /** Bytes, or a string sent as UTF-8. */
  payload: Uint8Array | string;
  attrs?: Attrs;
  /** Hold the message this long before it becomes ready. */
  delayMs?: number;
}

export interface SendResult {
  msgId: MsgId;
  /** True when the idemKey was seen before: msgId is the first send's. */
  duplicate: boolean;
}

export interface RecvInput {
  topic: string;
  /** Lease length; server default and cap apply. */
  visibilityMs?: number;
  /** Default 1. */
  maxMessages?: number;
  /** Stop adding once payloads reach this many bytes (at least one is returned). */
  maxBytes?: number;
  /** Long-poll: wait up to this long for a first message. */
  waitMs?: number;
}

export interface NackOptions {
  /** Redeliver after this long (default: the server's backoff). */
  delayMs?: number;
  /** Recorded in the message's history (≤ 256 bytes). */
  reason?: string;
}

export interface SubscribeInput {
  topic: string;
  visibilityMs?: number;
  /** Credit window: most unsettled deliveries the server pushes ahead (1..1000). */
  prefetch: number;
  /**
   * Handler calls running at once (default 1: one delivery at a time, in arrival order).
   * Above 1, deliveries start in order but may finish in any order. Capped at `prefetch`.
   */
  concurrency?: number;
}

/** A delivery handed to application code, with its settlement methods. */
export interface ClientDelivery {
  readonly msgId: MsgId;
  /** 32 hex digits, from the frame header. */
  readonly tenant: string;
  readonly topic: string;
  /** 1 on the first delivery; higher after expiry or NACK. */
  readonly attempt: number;
  readonly leaseId: LeaseId;
  /** Wall-clock ms. */
  readonly enqueuedAt: number;
  /** Wall-clock ms; settle before it or the message is delivered again. */
  readonly leaseDeadline: number;
  readonly payload: Uint8Array;
  readonly payloadHash: string;
  readonly attrs?: Attrs;
  /**
   * Acknowledge: the message is done. Coalesced with other acks of the same tick into one
   * ACK_BATCH. Rejects locally with E_STALE_LEASE when the delivery came in on a connection
   * that has since been lost (the server already released the lease).
   * @example
   * await d.ack();
   */
  ack(): Promise<void>;
  /**
   * Return the message for redelivery after `delayMs` (or the server's backoff).
   * @example
   * await d.nack({ delayMs: 1000, reason: 'busy' });
   */
  nack(options?: NackOptions): Promise<void>;
  /**
   * Move the lease deadline to now + `ms` (server-capped); resolves with the new deadline (wall-clock ms).
   * @example
   * const deadline = await d.extend(10_000);
   */
  extend(ms: number): Promise<number>;
}

/** Called with each pushed delivery. Throwing (or rejecting) NACKs the delivery. */
export type DeliveryHandler = (delivery: ClientDelivery) => void | Promise<void>;

export interface DlqListInput {
  topic?: string;
  reason?: DlqReason;
  /** 1..1000 */
  limit?: number;
  /** Page after this msgId (ascending msgId order). */
  after?: MsgId | string;
}

export interface DlqFilterInput {
  topic?: string;
  reason?: DlqReason;
  /** At most this many; default all that match. */
  limit?: number;
}

/** A dead-lettered message, with why and what happened to each attempt. */
export type DlqEntry = WireDlqEntry;

/** Counters of one client, across reconnects. */
export interface ClientStats {
  connected: boolean;
  /** Epoch of the current connection; 0 while disconnected. Grows with every connection attempt. */
  epoch: number;
  reconnects: number;
  /** Calls awaiting their result (the `maxInflight` window). */
  inflight: number;
  framesSent: number;
  /** Wire requests that carried more than one SEND (SEND_BATCH frames or streams). */
  sendBatches: number;
  /** Wire requests that carried more than one ACK. */
  ackBatches: number;
  deliveriesReceived: number;
  integrityFailures: number;
}

/**
 * A push subscription opened by `MailboxClient.subscribe`.
 * @example
 * const sub = client.subscribe({ topic: 'jobs', prefetch: 64 }, async (d) => d.ack());
 * await sub.ready;
 * // …
 * await sub.close();
 */
export interface Subscription {
  readonly topic: string;
  /** The server's id on the current connection; undefined until subscribed and while reconnecting. */
  readonly id: string | undefined;
  /**
   * Settles on the first SUBSCRIBE reply: resolves when the server accepted it, rejects
   * (and the subscription closes) when it refused it. Awaiting it is optional.
   */
  readonly ready: Promise<void>;
  readonly closed: boolean;
  /** Deliveries received and not yet handed to the handler. */
  readonly queued: number;
  /** Handler calls running now. */
  readonly running: number;
  /**
   * Unsubscribes, NACKs the deliveries not yet handed to the handler (reason
   * `unsubscribed`, so they return at once instead of after their lease), and waits for
   * running handler calls to finish.
   */
  close(): Promise<void>;
}
