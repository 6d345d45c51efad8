/**
 * One WebSocket connection speaking OAP/1: frames out, frames in, chunk reassembly, and the
 * table of requests awaiting a reply on this socket. A lost socket fails exactly its own
 * requests; the client opens a new Connection (a new epoch) to reconnect.
 */
import WebSocket from 'ws';
import { MailboxError, toMailboxError } from '../errors.ts';
import { corkForTick, uncorkNow } from '../protocol/cork.ts';
import {
  CHUNK_SIZE, ChunkReassembler, FLAGS, HEADER_SIZE, MAX_CAP, STATUS_OK, decodeBody, decodeError, decodeFrame,
  decodeResponse, encodeMessage, type FrameHeader, type MessageParams, type RequestOpId,
} from '../protocol/index.ts';
import { displayUrl } from './endpoints.ts';

type TenantId = MessageParams['tenant'];

/** A request awaiting its reply. `resolve` gets the decoded, schema-checked response body. */
export interface Pending {
  op: number;
  resolve(value: unknown): void;
  reject(err: MailboxError): void;
}

export interface ConnectionHooks {
  /** A complete EVENT message (body still encoded). */
  onEvent(conn: Connection, header: FrameHeader, body: Uint8Array): void;
  /** Something that went wrong with no caller to tell. */
  onError(err: MailboxError): void;
  /** The socket is gone; called once, after every pending request was rejected with `err`. */
  onClose(conn: Connection, err: MailboxError): void;
}

export interface ConnectionParams {
  url: string;
  tenant: TenantId;
  cap: Uint8Array;
  epoch: number;
  timeoutMs: number;
  /** Trusted CA certificates for wss:// (ClientOptions.ca). */
  ca?: string | Buffer | Array<string | Buffer>;
}

/** The largest frame OAP/1 allows; ws refuses longer messages before buffering them. */
const MAX_WIRE_FRAME = HEADER_SIZE + MAX_CAP + CHUNK_SIZE;
const EXPIRE_EVERY_MS = 5_000;

export class Connection {
  readonly epoch: number;
  /** The URL this socket was opened to, as the application gave it. */
  readonly url: string;
  /** Frames handed to the socket. */
  framesSent = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly reassembler = new ChunkReassembler();
  private readonly expiry: NodeJS.Timeout;
  private nextCorrId = 1;
  private closedWith: MailboxError | undefined;
  private idleWaiter: (() => void) | undefined;

  private constructor(
    private readonly ws: WebSocket,
    private readonly params: ConnectionParams,
    private readonly hooks: ConnectionHooks,
  ) {
    this.epoch = params.epoch;
    this.url = params.url;
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('error', (err: Error) => {
      this.closedWith ??= new MailboxError('E_UNAVAILABLE', `socket error: ${err.message}`, { cause: err });
    });
    ws.on('close', (code: number, reason: Buffer) => this.onSocketClose(code, reason));
    this.expiry = setInterval(() => this.expireStreams(), EXPIRE_EVERY_MS);
    this.expiry.unref();
  }

  /** Opens the socket; rejects with E_UNAVAILABLE (retryable) when it cannot. */
  static open(params: ConnectionParams, hooks: ConnectionHooks): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(params.url, {
        maxPayload: MAX_WIRE_FRAME,
        perMessageDeflate: false,
        handshakeTimeout: params.timeoutMs,
        ...(params.ca !== undefined ? { ca: params.ca } : {}),
      });
      const fail = (err: Error): void => {
        ws.removeAllListeners();
        ws.on('error', () => {});
        ws.terminate();
        reject(new MailboxError('E_UNAVAILABLE', `cannot connect to ${displayUrl(params.url)}: ${err.message}`, { cause: err }));
      };
      ws.once('error', fail);
      ws.once('close', () => fail(new Error('closed during the handshake')));
      ws.once('open', () => {
        ws.removeAllListeners();
        resolve(new Connection(ws, params, hooks));
      });
    });
  }

  /** True until the socket closes or `close()` is called. */
  get alive(): boolean {
    return this.closedWith === undefined;
  }

  /** Requests awaiting a reply on this connection. */
  get inflight(): number {
    return this.pending.size;
  }

  /**
   * Sends one request (`body` already schema-checked and encoded). With `pending` the frame
   * carries ACK_REQ and the reply settles it; without, the request is one-way and only a
   * failure is answered (reported through `onError`). Never throws: failures reject `pending`.
   */
  request(op: RequestOpId, body: Uint8Array, pending?: Pending): void {
    if (this.closedWith !== undefined) {
      pending?.reject(this.closedWith);
      return;
    }
    const id = this.nextCorrId++;
    let frames: Buffer[];
    try {
      frames = encodeMessage({
        flags: pending === undefined ? FLAGS.REQ : FLAGS.REQ | FLAGS.ACK_REQ,
        op, tenant: this.params.tenant, corrId: BigInt(id), cap: this.params.cap, body,
      });
    } catch (err) {
      const e = toMailboxError(err);
      if (pending) pending.reject(e);
      else this.hooks.onError(e);
      return;
    }
    if (pending !== undefined) this.pending.set(id, pending);
    // Each chunk is its own WebSocket message; ws queues them in order on the socket, and the
    // frames of one tick leave in one write.
    corkForTick(this.ws);
    for (let i = 0; i < frames.length; i++) this.ws.send(frames[i]!);
    this.framesSent += frames.length;
  }

  /** Puts the frames written so far this tick on the wire now (see uncorkNow). */
  pushOut(): void {
    uncorkNow(this.ws);
  }

  /** Resolves once no request awaits a reply, or after `timeoutMs` (whichever is first). */
  whenIdle(timeoutMs: number): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.idleWaiter = undefined;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.idleWaiter = done;
    });
  }

  /** Closes the socket; pending requests are rejected with `err`. */
  close(err = new MailboxError('E_UNAVAILABLE', 'client closed')): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = err;
    this.ws.close(1000);
    // A peer that never answers the close handshake must not hold the process open.
    setTimeout(() => this.ws.terminate(), 1_000).unref();
  }

  /** Drops the socket at once, as a network failure would (used by tests and by a failed HELLO). */
  terminate(err: MailboxError): void {
    this.closedWith ??= err;
    this.ws.terminate();
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (!isBinary) {
      this.hooks.onError(new MailboxError('E_SCHEMA', 'a text WebSocket message is not OAP/1; ignored'));
      return;
    }
    let header: FrameHeader | undefined;
    try {
      const frame = decodeFrame(data);
      header = frame.header;
      const message = this.reassembler.push(frame, performance.now());
      if (message === undefined) return;
      header = message.header;
      if (header.flags & FLAGS.RESP) this.onResponse(header, message.body);
      else if (header.flags & FLAGS.EVENT) this.hooks.onEvent(this, header, message.body);
      else this.hooks.onError(new MailboxError('E_SCHEMA', `a REQ frame from the server (op ${header.op}); ignored`));
    } catch (err) {
      const e = toMailboxError(err);
      // A refused response stream still names its request: fail that caller, not a bystander.
      if (header !== undefined && header.flags & FLAGS.RESP && this.settle(header.corrId, undefined, e)) return;
      this.hooks.onError(e);
    }
  }

  private onResponse(header: FrameHeader, body: Uint8Array): void {
    const id = Number(header.corrId);
    const pending = this.pending.get(id);
    if (pending === undefined) {
      // Spec: ignore a RESP we are not waiting for. One-way requests are only answered on
      // failure, and the caller asked not to hear; surface it as a diagnostic anyway.
      if (header.code !== STATUS_OK) this.hooks.onError(errorOf(body, header));
      return;
    }
    if (header.code !== STATUS_OK) {
      this.settle(header.corrId, undefined, errorOf(body, header));
      return;
    }
    if (header.op !== pending.op) {
      this.settle(header.corrId, undefined, new MailboxError('E_SCHEMA', `reply to op ${pending.op} came back as op ${header.op}`));
      return;
    }
    let value: unknown;
    try {
      value = decodeResponse(header.op as RequestOpId, decodeBody(body));
    } catch (err) {
      this.settle(header.corrId, undefined, toMailboxError(err));
      return;
    }
    this.settle(header.corrId, value, undefined);
  }

  /** Removes and settles the pending request `corrId`; false when there is none. */
  private settle(corrId: bigint, value: unknown, err: MailboxError | undefined): boolean {
    const id = Number(corrId);
    const pending = this.pending.get(id);
    if (pending === undefined) return false;
    this.pending.delete(id);
    if (err === undefined) pending.resolve(value);
    else pending.reject(err);
    if (this.pending.size === 0 && this.idleWaiter !== undefined) this.idleWaiter();
    return true;
  }

  private expireStreams(): void {
    for (const { header, error } of this.reassembler.expire(performance.now())) {
      if (!(header.flags & FLAGS.RESP && this.settle(header.corrId, undefined, error))) this.hooks.onError(error);
    }
  }

  private onSocketClose(code: number, reason: Buffer): void {
    clearInterval(this.expiry);
    this.reassembler.clear();
    const text = reason.length > 0 ? `: ${reason.toString('utf8')}` : '';
    const err = this.closedWith ?? new MailboxError('E_UNAVAILABLE', `connection closed (${code}${text})`);
    this.closedWith = err;
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(err);
    if (this.idleWaiter !== undefined) this.idleWaiter();
    this.hooks.onClose(this, err);
  }
}

function errorOf(body: Uint8Array, header: FrameHeader): MailboxError {
  try {
    return decodeError(decodeBody(body));
  } catch (err) {
    return new MailboxError('E_INTERNAL', `status ${header.code} with an unreadable error body`, { cause: err, corrId: header.corrId });
  }
}
