/**
 * One WebSocket connection: reads OAP/1 frames (size checked before buffering), reassembles
 * chunked requests, verifies the capability of every request, runs it on the runtime through
 * one session per tenant, and writes replies and coalesced DELIVER events.
 */
import type WebSocket from 'ws';
import { MailboxError, toMailboxError } from '../errors.ts';
import type { Delivery, TenantId } from '../domain/types.ts';
import { TokenBucket } from '../domain/token-bucket.ts';
import type { Capability, Op } from '../auth/index.ts';
import {
  ChunkReassembler, FLAGS, HEADER_SIZE, MAX_BODY, MAX_FRAME, OPS, PROTOCOL_VERSION, CHUNK_SIZE, MAX_PAYLOAD, MAX_BATCH,
  decodeAnyRequest, decodeBody, decodeFrame, encodeError, encodeValueMessage, errorToWire, opName,
  toWireDelivery, toWireDlqEntry, type AnyRequest, type AssembledMessage,
} from '../protocol/index.ts';
import { corkForTick } from '../protocol/cork.ts';
import { encodeDeliverEvent } from '../protocol/encode-deliver.ts';
import { holdWrite, writesHeld } from '../chaos-control/socket-delay.ts';
import type { Metrics, RejectReason } from '../observability/metrics.ts';
import type { Logger } from '../observability/logger.ts';
import { formatCorrId } from '../observability/corr.ts';
import type { MailboxRuntime } from '../runtime/mailbox.ts';
import type { Session } from '../runtime/api.ts';
import type { SessionHandle } from '../runtime/session-handle.ts';
import type { Authorizer } from './authorizer.ts';
import { ConnectionAudit, type AuditBudget } from './audit.ts';

export interface ConnectionDeps {
  mailbox: MailboxRuntime;
  authorizer: Authorizer;
  metrics: Metrics;
  logger: Logger;
  /** The server-wide share of the audit trail, over every connection. */
  auditBudget?: AuditBudget;
}

/** Close code of a socket that missed its HELLO deadline (an application code: 4000 + HTTP 408). */
export const HELLO_TIMEOUT_CLOSE = 4008;
/** Close code when a token a push subscription was opened with is revoked (`mailbox token revoke`). */
export const REVOKED_CLOSE = 4401;

/** The body of a reply that carries nothing (ACK). */
const EMPTY = {};
/**
 * A SEND refused for a rate quota: the connection is not read again for the refusal's
 * retryAfterMs, at most this long. A client that honours retryAfterMs loses nothing; one that
 * floods regardless waits in TCP, not in this server's CPU (each refusal costs a decode, an
 * authorization and an answer; measured in bench/README, Fairness).
 */
const MAX_QUOTA_HOLD_MS = 1_000;
/**
 * ...and at least this long: at 1,000/s a refusal's retryAfterMs is 1 ms, and a flood held for
 * 1 ms is refused again at once (measured: ~1,700 refusals/s left of ~8,900 at 10× a 1,000/s
 * quota). A client that honours retryAfterMs is read at most this much later than it asked.
 */
const MIN_QUOTA_HOLD_MS = 10;
/** Payload bytes per DELIVER event, so events stay single frames and small ones never wait behind big ones. */
const EVENT_PAYLOAD_BYTES = 48 * 1024;
const REJECT_REASON: Partial<Record<string, RejectReason>> = {
  E_SCHEMA: 'schema', E_FRAME_TOO_LARGE: 'schema', E_CAP_AUTH: 'auth', E_CAP_SCOPE: 'auth', E_SATURATED: 'saturated',
};

interface Request {
  op: number;
  tenant: TenantId;
  corrId: bigint;
  ackReq: boolean;
  cap: Uint8Array;
  /** performance.now() when the request was read. */
  started: number;
  /** Milliseconds a long-poll RECV waited for a message: counted in recv_wait_seconds, not in request latency. */
  waitedMs?: number;
}

export class Connection {
  private readonly sessions = new Map<TenantId, Session>();
  private readonly subTenant = new Map<string, TenantId>();
  /** The token id each subscription was opened with: deliveries stop when it is revoked. */
  private readonly subToken = new Map<string, string>();
  private readonly reassembler = new ChunkReassembler({ maxMessageBytes: MAX_BODY });
  private readonly quotas = new Map<string, TokenBucket>();
  private readonly pendingDeliveries = new Map<string, Delivery[]>();
  private flushScheduled = false;
  /** Chunked messages still being written, and whether a round is under way. */
  private readonly streams: Buffer[][] = [];
  private streaming = false;
  /** corr_id of server events: a per-connection counter from 1 (PROTOCOL.md). */
  private eventSeq = 0n;
  private helloToken: string | undefined;
  /** The last token this connection presented, decoded and with its cache key: clients send the same one on every request. */
  private lastToken: { bytes: Buffer; text: string; key: string } | undefined;
  private closed = false;
  private readonly expiryTimer: NodeJS.Timeout;
  /** Refused tokens, scopes and frames, logged at warn (rate-limited). */
  private readonly audit: ConnectionAudit;
  /** Closes a socket that neither completed HELLO nor presented a valid token in time; cleared once it did. */
  private helloTimer: NodeJS.Timeout | undefined;
  /** Set while reading is paused after a quota refusal. */
  private holdTimer: NodeJS.Timeout | undefined;
  /** Messages the socket had already delivered when reading paused: handled in order when it resumes. */
  private held: Array<[Buffer, boolean]> = [];

  constructor(
    private readonly ws: WebSocket,
    private readonly deps: ConnectionDeps,
    readonly remote: string,
  ) {
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('close', () => this.onClose());
    ws.on('error', (err) => deps.logger.debug({ event: 'ws_error', remote, err }, 'websocket error'));
    this.expiryTimer = setInterval(() => this.expireStreams(), 5_000);
    this.expiryTimer.unref();
    this.audit = new ConnectionAudit(deps.logger, remote, deps.auditBudget);
    const helloMs = deps.mailbox.config.helloTimeoutMs;
    this.helloTimer = setTimeout(() => {
      this.deps.metrics.rejected('hello_timeout');
      this.ws.close(HELLO_TIMEOUT_CLOSE, `HELLO not completed within ${helloMs} ms`);
    }, helloMs);
    this.helloTimer.unref();
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.holdTimer !== undefined) {
      this.held.push([data, isBinary]);
      return;
    }
    this.handleMessage(data, isBinary);
  }

  private handleMessage(data: Buffer, isBinary: boolean): void {
    if (!isBinary) return this.ws.close(1003, 'OAP/1 frames are binary');
    let message: AssembledMessage | undefined;
    try {
      const frame = decodeFrame(data);
      if (!(frame.header.flags & FLAGS.REQ)) throw new MailboxError('E_SCHEMA', 'flags: clients send requests only');
      message = this.reassembler.push(frame, performance.now());
    } catch (err) {
      // Answer on the header's corr_id, op and tenant, or all zeros when there is no whole header
      // (PROTOCOL.md §2): WebSocket delimits messages, so a bad one cannot desynchronise the next.
      const e = toMailboxError(err);
      this.count(e);
      // Answered without dispatch, but answered: requests_total counts it with its code.
      this.deps.metrics.answered('ws', (data.length >= HEADER_SIZE ? opName(data.readUInt16BE(10)) : undefined) ?? 'UNKNOWN', e.status);
      const whole = data.length >= HEADER_SIZE;
      const corrId = e.corrId ?? (whole ? data.readBigUInt64BE(30) : 0n);
      const op = whole ? data.readUInt16BE(10) : 0;
      this.audit.refused(e, { corrId, tenant: rawTenant(data), op: opLabel(op) }, performance.now());
      return this.write([encodeError(e, corrId, rawTenant(data), op)]);
    }
    if (message) void this.onRequest(message);
  }

  private onRequest(message: AssembledMessage): void {
    const { header } = message;
    const req: Request = { op: header.op, tenant: header.tenant, corrId: header.corrId, ackReq: (header.flags & FLAGS.ACK_REQ) !== 0, cap: message.cap, started: performance.now() };
    this.deps.metrics.inflight('ws', 1);
    let decoded: AnyRequest;
    try {
      decoded = decodeAnyRequest(req.op, decodeBody(message.body));
      if (this.submit(decoded, req)) return;
    } catch (err) {
      if ((req.op === OPS.SEND || req.op === OPS.SEND_BATCH) && err instanceof MailboxError && err.code === 'E_SATURATED') this.holdOff(err.retryAfterMs);
      return this.finish(req, undefined, err);
    }
    this.execute(decoded, req).then((body) => this.finish(req, body), (err: unknown) => this.finish(req, undefined, err));
  }

  /**
   * SEND, SEND_BATCH, ACK and ACK_BATCH: handed to the shards with a callback (one shard event
   * per shard, no promise) and answered from the outcomes; false for the other operations.
   */
  private submit(request: AnyRequest, req: Request): boolean {
    const { tenant } = req;
    switch (request.op) {
      case OPS.SEND: {
        const cap = this.capability(req, 'send', request.body.topic);
        this.takeQuota(cap, 1);
        this.handle(tenant).sendWire([request.body], (outcomes) => {
          const r = outcomes[0]!;
          if (r instanceof MailboxError) this.finish(req, undefined, r);
          else this.finish(req, r);
        });
        return true;
      }
      case OPS.SEND_BATCH: {
        const cap = this.capability(req, 'send', undefined, false);
        const items = request.body.items;
        for (let i = 0; i < items.length; i++) this.deps.authorizer.authorize(cap, 'send', tenant, items[i]!.topic);
        this.takeQuota(cap, items.length);
        this.handle(tenant).sendWire(items, (outcomes) => {
          const results = outcomes as unknown[];
          for (let i = 0; i < outcomes.length; i++) {
            const r = outcomes[i];
            if (r instanceof MailboxError) (this.count(r), (results[i] = { error: errorToWire(r) }));
          }
          this.finish(req, { results });
        });
        return true;
      }
      case OPS.ACK: {
        this.leaseCapability(req, 'ack');
        this.handle(tenant).ackWire([request.body], (outcomes) => {
          const r = outcomes[0];
          if (r) this.finish(req, undefined, r);
          else this.finish(req, EMPTY);
        });
        return true;
      }
      case OPS.ACK_BATCH: {
        this.leaseCapability(req, 'ack');
        this.handle(tenant).ackWire(request.body.items, (outcomes) => {
          const results = outcomes as unknown[];
          for (let i = 0; i < outcomes.length; i++) {
            const r = outcomes[i];
            if (r) (this.count(r), (results[i] = errorToWire(r)));
          }
          this.finish(req, { results });
        });
        return true;
      }
      default:
        return false;
    }
  }

  /** Answers a request (its value, or the error that refused it) and counts it. */
  private finish(req: Request, body: unknown, err?: unknown): void {
    let status = 200;
    if (err === undefined) {
      if (req.ackReq && !this.closed) this.write(encodeValueMessage({ flags: FLAGS.RESP, code: 200, op: req.op, tenant: req.tenant, corrId: req.corrId }, body));
    } else {
      const e = toMailboxError(err);
      status = e.status;
      this.count(e);
      this.audit.refused(e, { corrId: req.corrId, tenant: req.tenant, op: opLabel(req.op), token: req.cap.length > 0 ? textOf(req.cap) : this.helloToken }, performance.now());
      if (e.code === 'E_INTERNAL') this.deps.logger.error({ event: 'request_failed', corr_id: formatCorrId(req.corrId), op: opName(req.op) ?? 'UNKNOWN', err: e }, 'request failed');
      if (!this.closed) this.write([encodeError(e, req.corrId, req.tenant, req.op)]);
    }
    this.deps.metrics.inflight('ws', -1);
    const waited = req.waitedMs ?? 0;
    if (waited > 0) this.deps.metrics.recvWait(waited / 1000);
    this.deps.metrics.request('ws', opName(req.op) ?? 'UNKNOWN', status, Math.max(0, performance.now() - req.started - waited) / 1000);
  }

  private async execute(request: AnyRequest, req: Request): Promise<unknown> {
    const { tenant } = req;
    switch (request.op) {
      case OPS.HELLO: {
        // A token presented on HELLO serves later requests of this connection that carry none.
        if (req.cap.length > 0) {
          this.deps.authorizer.verify(textOf(req.cap));
          this.helloToken = textOf(req.cap);
        }
        if (!request.body.versions.includes(PROTOCOL_VERSION)) throw new MailboxError('E_SCHEMA', `versions: this server speaks OAP/${PROTOCOL_VERSION}`);
        this.authenticated();
        return {
          version: PROTOCOL_VERSION,
          limits: { maxFrame: MAX_FRAME, chunkSize: CHUNK_SIZE, maxPayload: Math.min(MAX_PAYLOAD, this.deps.mailbox.config.queue.maxPayloadBytes), maxBatch: MAX_BATCH },
          features: ['send_batch', 'ack_batch', 'subscribe', 'chunking', 'dlq', 'payload_hash:sha256'],
        };
      }
      case OPS.PING:
        return {};
      case OPS.RECV: {
        this.capability(req, 'recv', request.body.topic);
        const timing = { waitedMs: 0 };
        const deliveries = await (this.session(tenant) as SessionHandle).recv({ ...request.body, maxBytes: Math.min(request.body.maxBytes ?? MAX_PAYLOAD, MAX_PAYLOAD) }, timing);
        req.waitedMs = timing.waitedMs;
        return { deliveries: deliveries.map(toWireDelivery) };
      }
      case OPS.SUBSCRIBE: {
        const cap = this.capability(req, 'recv', request.body.topic);
        const subscriptionId = await this.session(tenant).subscribe(request.body);
        this.subTenant.set(subscriptionId, tenant);
        this.subToken.set(subscriptionId, cap.tokenId);
        return { subscriptionId };
      }
      case OPS.UNSUBSCRIBE: {
        this.capability(req, 'recv', undefined, false);
        await this.session(tenant).unsubscribe(request.body.subscriptionId);
        this.subTenant.delete(request.body.subscriptionId);
        this.subToken.delete(request.body.subscriptionId);
        return {};
      }
      case OPS.CREDIT:
        // Widens the window; the session knows only its own subscriptions (another tenant's or connection's: E_NOT_FOUND).
        this.capability(req, 'recv', undefined, false);
        await this.session(tenant).credit(request.body.subscriptionId, request.body.n);
        return {};
      case OPS.NACK: {
        this.leaseCapability(req, 'nack');
        const { msgId, leaseId, ...options } = request.body;
        await this.session(tenant).nack(msgId, leaseId, options);
        return {};
      }
      case OPS.EXTEND: {
        this.leaseCapability(req, 'nack');
        return { leaseDeadline: await this.session(tenant).extend(request.body.msgId, request.body.leaseId, request.body.ms) };
      }
      case OPS.DLQ_LIST: {
        this.capability(req, 'admin', request.body.topic);
        const entries = await this.deps.mailbox.dlq.list(request.body, tenant);
        return { entries: entries.map(toWireDlqEntry) };
      }
      case OPS.DLQ_REPROCESS:
        this.capability(req, 'admin', request.body.topic);
        return { count: await this.deps.mailbox.dlq.reprocess(request.body, tenant) };
      case OPS.DLQ_PURGE:
        this.capability(req, 'admin', request.body.topic);
        return { count: await this.deps.mailbox.dlq.purge(request.body, tenant) };
    }
  }

  /** Verifies the request's token (or the one HELLO presented) and authorizes op/topic/tenant. */
  private capability(req: Request, op: Op, topic: string | undefined, checkTopic = true): Capability {
    const cap = this.verifyToken(req.cap.length > 0 ? req.cap : undefined);
    if (checkTopic) this.deps.authorizer.authorize(cap, op, req.tenant, topic);
    else this.deps.authorizer.authorizeLeaseOp(cap, op, req.tenant);
    return cap;
  }

  /** The capability of the request's token (or HELLO's); decoding and hashing are skipped for a token seen just before. */
  private verifyToken(bytes: Uint8Array | undefined): Capability {
    const last = this.lastToken;
    if (bytes === undefined) {
      const text = this.helloToken;
      if (text === undefined) return this.deps.authorizer.verify(undefined);
      return last?.text === text ? this.deps.authorizer.verifyKeyed(text, last.key) : this.rememberToken(Buffer.from(text, 'utf8'), text);
    }
    if (last !== undefined && last.bytes.equals(bytes)) return this.deps.authorizer.verifyKeyed(last.text, last.key);
    return this.rememberToken(Buffer.from(bytes), textOf(bytes));
  }

  /** Keeps a token seen for the first time (its bytes owned, its cache key made once) and verifies it. */
  private rememberToken(bytes: Buffer, text: string): Capability {
    const key = this.deps.authorizer.cache.keyOf(text);
    this.lastToken = { bytes, text, key };
    const cap = this.deps.authorizer.verifyKeyed(text, key);
    this.authenticated();
    return cap;
  }

  /** HELLO succeeded or a token verified: the HELLO deadline no longer applies. */
  private authenticated(): void {
    if (this.helloTimer === undefined) return;
    clearTimeout(this.helloTimer);
    this.helloTimer = undefined;
  }

  private leaseCapability(req: Request, op: Op): void {
    this.capability(req, op, undefined, false);
  }

  /** The token's own `quota` caveat: SENDs per second for whoever holds it. */
  private takeQuota(cap: Capability, n: number): void {
    if (cap.quota === undefined) return;
    let bucket = this.quotas.get(cap.tokenId);
    if (!bucket) this.quotas.set(cap.tokenId, (bucket = new TokenBucket(cap.quota, Math.max(1, cap.quota), performance.now())));
    if (!bucket.tryTake(n, performance.now())) {
      this.deps.metrics.rejected('quota');
      const wait = bucket.waitMs(n, performance.now());
      throw new MailboxError('E_SATURATED', `token quota of ${cap.quota}/s exhausted`, { retryAfterMs: Number.isFinite(wait) ? wait : 1000 });
    }
  }

  /** The tenant's session as the runtime made it (a SessionHandle), for the wire-only entries. */
  private handle(tenant: TenantId): SessionHandle {
    return this.session(tenant) as SessionHandle;
  }

  private session(tenant: TenantId): Session {
    let s = this.sessions.get(tenant);
    if (!s || s.closed) {
      if (this.closed) throw new MailboxError('E_UNAVAILABLE', 'connection closed');
      s = this.deps.mailbox.openSession({
        tenant,
        onDeliver: (subId, deliveries) => this.queueDeliveries(subId, deliveries),
        onClose: (reason) => {
          // A session that ends under a live connection (killed, crashed) takes the connection with it:
          // the client reconnects and resubscribes, and its old leases were released.
          if (!this.closed && reason !== 'closed') this.ws.close(1011, `session ended: ${reason}`.slice(0, 120));
        },
      });
      this.sessions.set(tenant, s);
    }
    return s;
  }

  /** Deliveries of one tick are coalesced into as few DELIVER events as the size cap allows. */
  private queueDeliveries(subId: string, deliveries: Delivery[]): void {
    const list = this.pendingDeliveries.get(subId);
    if (list) list.push(...deliveries);
    else this.pendingDeliveries.set(subId, deliveries.slice());
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushDeliveries());
    }
  }

  private flushDeliveries(): void {
    this.flushScheduled = false;
    if (this.closed) return this.pendingDeliveries.clear();
    const frames: Buffer[] = [];
    if (this.deps.authorizer.anyRevoked) for (const [subscriptionId] of this.pendingDeliveries) {
      // Revoked while subscribed: the connection ends (its session's leases come back at once,
      // session_lost) and the SDK's reconnect is refused at its HELLO. Checked once per flush.
      const token = this.subToken.get(subscriptionId);
      if (token !== undefined && this.deps.authorizer.revoked(token)) {
        this.pendingDeliveries.clear();
        return this.ws.close(REVOKED_CLOSE, 'capability revoked');
      }
    }
    for (const [subscriptionId, deliveries] of this.pendingDeliveries) {
      const tenant = this.subTenant.get(subscriptionId) ?? deliveries[0]!.tenant;
      // Each event is deliveries[from..i), written straight into its frame (encode-deliver.ts).
      let from = 0;
      let bytes = 0;
      for (let i = 0; i < deliveries.length; i++) {
        const size = deliveries[i]!.payload.byteLength;
        if (i > from && bytes + size > EVENT_PAYLOAD_BYTES) {
          frames.push(...encodeDeliverEvent(tenant, ++this.eventSeq, subscriptionId, deliveries, from, i));
          from = i;
          bytes = 0;
        }
        bytes += size;
      }
      if (deliveries.length > from) frames.push(...encodeDeliverEvent(tenant, ++this.eventSeq, subscriptionId, deliveries, from, deliveries.length));
    }
    this.pendingDeliveries.clear();
    this.write(frames);
  }

  /**
   * Single-frame messages go out at once; a chunked message joins the round robin of open
   * streams, one frame per stream per round, so a big message never holds back small ones.
   */
  private write(frames: Buffer[]): void {
    // A socket-latency fault (chaos inject) holds writes back, in order; off, this is two compares.
    if (writesHeld(this)) holdWrite(this, () => this.writeNow(frames));
    else this.writeNow(frames);
  }

  private writeNow(frames: Buffer[]): void {
    if (this.closed || this.ws.readyState !== 1) return;
    corkForTick(this.ws);
    if (frames.length === 1) {
      this.ws.send(frames[0]!, { binary: true });
      return;
    }
    this.streams.push(frames.slice());
    if (!this.streaming) this.nextRound();
  }

  /** Sends one frame of every open stream; the next round starts once that round reached the socket. */
  private nextRound(): void {
    if (this.closed || this.ws.readyState !== 1 || this.streams.length === 0) {
      this.streaming = false;
      this.streams.length = 0;
      return;
    }
    this.streaming = true;
    corkForTick(this.ws);
    const round = this.streams.splice(0);
    for (let i = 0; i < round.length; i++) {
      const stream = round[i]!;
      const last = i === round.length - 1;
      this.ws.send(stream.shift()!, { binary: true }, last ? () => this.nextRound() : undefined);
      if (stream.length > 0) this.streams.push(stream);
    }
  }

  private count(err: MailboxError): void {
    const reason = REJECT_REASON[err.code];
    if (reason) this.deps.metrics.rejected(reason);
  }

  private expireStreams(): void {
    const now = performance.now();
    for (const { header, error } of this.reassembler.expire(now)) {
      this.audit.refused(error, { corrId: header.corrId, tenant: header.tenant, op: opLabel(header.op) }, now);
      this.deps.metrics.answered('ws', opName(header.op) ?? 'UNKNOWN', error.status);
      this.write([encodeError(error, header.corrId, header.tenant, header.op)]);
    }
    this.audit.flush(now);
  }

  /** Reads nothing more from this client for `ms` (a quota refusal's retryAfterMs, bounded). */
  private holdOff(ms: number | undefined): void {
    if (this.holdTimer !== undefined || this.closed) return;
    this.ws.pause();
    this.holdTimer = setTimeout(() => {
      this.holdTimer = undefined;
      // What arrived before the pause goes first; a refusal among it holds off again.
      while (this.held.length > 0 && this.holdTimer === undefined && !this.closed) this.handleMessage(...this.held.shift()!);
      if (this.holdTimer === undefined && !this.closed) this.ws.resume();
    }, Math.min(Math.max(MIN_QUOTA_HOLD_MS, Math.ceil(ms ?? MAX_QUOTA_HOLD_MS)), MAX_QUOTA_HOLD_MS));
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.expiryTimer);
    if (this.holdTimer !== undefined) clearTimeout(this.holdTimer);
    this.held = [];
    this.authenticated();
    this.audit.flush();
    this.reassembler.clear();
    for (const s of this.sessions.values()) void s.close();
    this.sessions.clear();
  }

  /** Ends the connection (server shutdown). */
  close(code = 1001, reason = 'server shutting down'): void {
    this.ws.close(code, reason);
  }
}

/** The op's name for logs, or its number in hex when the server knows no such op. */
function opLabel(op: number): string {
  return opName(op) ?? `0x${op.toString(16).padStart(4, '0')}`;
}

function textOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/** The tenant bytes of a frame whose header failed to decode, for the error reply (the default tenant when cut short). */
function rawTenant(data: Buffer): TenantId {
  if (data.length < HEADER_SIZE) return '00000000000000000000000000000000' as TenantId;
  return data.subarray(12, 28).toString('hex') as TenantId; // header bytes 12..27
}
