/**
 * A bare OAP/1 client over `ws` for the tests that must see or send exact bytes: it records
 * every frame the server writes (raw size and decoded header), reassembles responses and
 * events, and can send any bytes at all, malformed or not.
 */
import WebSocket from 'ws';
import {
  ChunkReassembler, FLAGS, HEADER_SIZE, OPS, decodeBody, decodeError, decodeFrame, encodeBody, encodeMessage,
  type FrameHeader,
} from '../../../src/protocol/index.ts';
import { MailboxError } from '../../../src/errors.ts';

export const DEFAULT_TENANT = '00000000000000000000000000000000' as FrameHeader['tenant'];

/** One frame as it came off the socket. */
export interface SeenFrame {
  /** Bytes of the WebSocket message (the whole OAP/1 frame). */
  size: number;
  header: FrameHeader;
  bodyLen: number;
}

/** A whole response or event, body decoded (msgpack → JS). */
export interface RawMessage {
  header: FrameHeader;
  body: unknown;
  /** The frames it arrived in. */
  frames: SeenFrame[];
}

export interface Closed {
  code: number;
  reason: string;
}

export interface RequestOptions {
  cap?: string | Uint8Array;
  tenant?: FrameHeader['tenant'];
  /** Default true: ask for an answer even on success. */
  ackReq?: boolean;
  corrId?: bigint;
}

type Waiter = { match: (m: RawMessage) => boolean; resolve: (m: RawMessage) => void };

export class RawClient {
  /** Every frame received, in order. */
  readonly frames: SeenFrame[] = [];
  /** Every assembled response, in order. */
  readonly responses: RawMessage[] = [];
  /** Every assembled event, in order. */
  readonly events: RawMessage[] = [];
  /** Frames or streams this client could not decode (the server sent something invalid). */
  readonly undecodable: unknown[] = [];
  readonly closed: Promise<Closed>;
  private readonly reassembler = new ChunkReassembler();
  private readonly streamFrames = new Map<string, SeenFrame[]>();
  private waiters: Waiter[] = [];
  private nextId = 1n;
  private closedWith: Closed | undefined;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => {
        this.closedWith = { code, reason: reason.toString('utf8') };
        resolve(this.closedWith);
      });
    });
    ws.on('error', () => {}); // the close event reports what happened
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
  }

  static connect(url: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 2 * 1024 * 1024 });
      ws.once('open', () => {
        ws.removeListener('error', reject);
        resolve(new RawClient(ws));
      });
      ws.once('error', reject);
    });
  }

  get isOpen(): boolean {
    return this.closedWith === undefined && this.ws.readyState === WebSocket.OPEN;
  }

  /** A fresh corr_id (from 1). */
  corrId(): bigint {
    return this.nextId++;
  }

  /** Sends bytes as one binary WebSocket message; resolves once written (or the socket failed). */
  sendRaw(data: Uint8Array | string, binary = true): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState !== WebSocket.OPEN) return resolve();
      this.ws.send(data, { binary }, () => resolve());
    });
  }

  /** Encodes and sends a request (chunked when large); returns its corr_id. */
  async send(op: number, body: unknown, options: RequestOptions = {}): Promise<bigint> {
    const corrId = options.corrId ?? this.corrId();
    const cap = typeof options.cap === 'string' ? Buffer.from(options.cap, 'utf8') : options.cap;
    const frames = encodeMessage({
      flags: FLAGS.REQ | (options.ackReq === false ? 0 : FLAGS.ACK_REQ),
      op, tenant: options.tenant ?? DEFAULT_TENANT, corrId, body: encodeBody(body), ...(cap ? { cap } : {}),
    });
    for (const f of frames) await this.sendRaw(f);
    return corrId;
  }

  /** Sends a request and waits for its response (success or error frame). */
  async request(op: number, body: unknown, options: RequestOptions = {}, timeoutMs = 20_000): Promise<RawMessage> {
    const corrId = options.corrId ?? this.corrId();
    const reply = this.waitFor((m) => (m.header.flags & FLAGS.RESP) !== 0 && m.header.corrId === corrId, timeoutMs, `reply to corr_id ${corrId}`);
    await this.send(op, body, { ...options, corrId });
    return reply;
  }

  /** PING with ACK_REQ; resolves when the server answered 200. */
  async ping(timeoutMs = 20_000): Promise<void> {
    const reply = await this.request(OPS.PING, {}, {}, timeoutMs);
    if (reply.header.code !== 200) throw new Error(`PING answered ${reply.header.code}`);
  }

  /**
   * The first response or event (already received or still to come) that `match` accepts.
   * Rejects when the socket closes first or after `timeoutMs`.
   */
  waitFor(match: (m: RawMessage) => boolean, timeoutMs: number, what: string): Promise<RawMessage> {
    const seen = [...this.responses, ...this.events].find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.push(waiter);
      void this.closed.then((c) => {
        if (!this.waiters.includes(waiter)) return;
        this.waiters = this.waiters.filter((w) => w !== waiter);
        clearTimeout(timer);
        reject(new Error(`connection closed (${c.code} ${c.reason}) while waiting for ${what}`));
      });
    });
  }

  close(): Promise<Closed> {
    if (this.closedWith === undefined) this.ws.close(1000);
    setTimeout(() => this.ws.terminate(), 2_000).unref();
    return this.closed;
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (!isBinary || data.length < HEADER_SIZE) {
      this.undecodable.push(new Error(`non-OAP/1 WebSocket message (${isBinary ? 'binary' : 'text'}, ${data.length} bytes)`));
      return;
    }
    try {
      const frame = decodeFrame(data);
      const seen: SeenFrame = { size: data.length, header: frame.header, bodyLen: frame.body.length };
      this.frames.push(seen);
      const key = `${frame.header.flags & (FLAGS.RESP | FLAGS.EVENT)}:${frame.header.corrId}`;
      const list = this.streamFrames.get(key) ?? [];
      list.push(seen);
      this.streamFrames.set(key, list);
      const message = this.reassembler.push(frame, performance.now());
      if (!message) return;
      this.streamFrames.delete(key);
      const m: RawMessage = { header: message.header, body: decodeBody(message.body), frames: list };
      (m.header.flags & FLAGS.EVENT ? this.events : this.responses).push(m);
      for (const w of this.waiters.filter((x) => x.match(m))) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(m);
      }
    } catch (err) {
      this.undecodable.push(err);
    }
  }
}

/** The error a non-200 response carries (decoded strictly, as a client must). */
export function errorOf(m: RawMessage): MailboxError {
  if (m.header.code === 200) throw new Error(`corr_id ${m.header.corrId} succeeded; expected an error`);
  return decodeError(m.body);
}
