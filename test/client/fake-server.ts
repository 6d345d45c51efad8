/**
 * A minimal in-process OAP/1 server for the client tests: a `ws` server on 127.0.0.1:0
 * that decodes requests with the protocol codec, records every frame and request, and
 * answers with canned replies a test can override. It is not the real server: no
 * storage, no leases, no auth — only what the SDK's wire behaviour needs.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { MailboxError } from '../../src/errors.ts';
import {
  ChunkReassembler, FLAGS, OPS, STATUS_OK, decodeAnyRequest, decodeBody, decodeFrame, encodeError, encodeEventBody,
  encodeMessage, encodeResponseBody, hashPayload, type AnyRequest, type FrameHeader, type RequestOpId, type ResponseMap,
  type WireDelivery,
} from '../../src/protocol/index.ts';

export type Tenant = FrameHeader['tenant'];

export interface ReceivedFrame {
  conn: number;
  op: number;
  flags: number;
  capLen: number;
  bodyLen: number;
}

export interface ReceivedRequest {
  conn: number;
  corrId: bigint;
  flags: number;
  cap: string;
  req: AnyRequest;
}

/** What a handler returns: a response body, a MailboxError to send back, or NO_REPLY. */
export const NO_REPLY = Symbol('no reply');
export type Handler = (r: ReceivedRequest) => unknown;

let msgCounter = 0;
/** A fresh valid ULID-shaped msgId. */
export function nextMsgId(): string {
  return `01HGW2N7EHJVGFVK9Q5M${String(++msgCounter).padStart(6, '0')}`;
}

/** A wire delivery with a correct (or deliberately wrong) payload hash. */
export function makeDelivery(payload: string, options: { badHash?: boolean; topic?: string; leaseId?: string } = {}): WireDelivery {
  const bytes = Buffer.from(payload);
  return {
    msgId: nextMsgId() as WireDelivery['msgId'],
    topic: (options.topic ?? 'jobs') as WireDelivery['topic'],
    attempt: 1,
    leaseId: (options.leaseId ?? `lease-${msgCounter}`) as WireDelivery['leaseId'],
    enqueuedAt: Date.now(),
    leaseDeadline: Date.now() + 5_000,
    payload: bytes,
    payloadHash: options.badHash ? hashPayload(Buffer.from('something else')) : hashPayload(bytes),
  };
}

export class FakeServer {
  readonly frames: ReceivedFrame[] = [];
  readonly requests: ReceivedRequest[] = [];
  readonly sockets = new Map<number, WebSocket>();
  /** Overrides the canned replies; return undefined to fall back to them. */
  handler: Handler | undefined;
  private nextConn = 0;
  private nextSub = 0;
  private nextEvent = 1n;

  private constructor(private readonly wss: WebSocketServer) {
    wss.on('connection', (ws) => this.accept(ws));
  }

  static start(): Promise<FakeServer> {
    return new Promise((resolve) => {
      const wss: WebSocketServer = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => resolve(server));
      const server: FakeServer = new FakeServer(wss);
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}`;
  }

  /** Requests of one op, in arrival order. */
  ofOp(op: number): ReceivedRequest[] {
    return this.requests.filter((r) => r.req.op === op);
  }

  /** Pushes a DELIVER event on connection `conn`. */
  deliver(conn: number, subscriptionId: string, deliveries: WireDelivery[], tenant = '00000000000000000000000000000000'): void {
    const body = encodeEventBody(OPS.DELIVER, { subscriptionId, deliveries });
    const frames = encodeMessage({ flags: FLAGS.EVENT, op: OPS.DELIVER, tenant: tenant as Tenant, corrId: this.nextEvent++, body });
    const ws = this.sockets.get(conn);
    for (const f of frames) ws?.send(f);
  }

  /** Drops every connection at once, as a network failure would. */
  dropAll(): void {
    for (const ws of this.sockets.values()) ws.terminate();
  }

  /** Resolves once `pred` holds (polling), or fails after `ms`. */
  async waitFor(pred: () => boolean, ms = 2_000): Promise<void> {
    const until = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > until) throw new Error('FakeServer.waitFor: timed out');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  close(): Promise<void> {
    for (const ws of this.sockets.values()) ws.terminate();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }

  private accept(ws: WebSocket): void {
    const conn = ++this.nextConn;
    this.sockets.set(conn, ws);
    const reassembler = new ChunkReassembler();
    ws.on('close', () => this.sockets.delete(conn));
    ws.on('message', (data: Buffer) => {
      const frame = decodeFrame(data);
      const h = frame.header;
      this.frames.push({ conn, op: h.op, flags: h.flags, capLen: h.capLen, bodyLen: frame.body.length });
      const message = reassembler.push(frame, performance.now());
      if (message === undefined) return;
      const header = message.header;
      let received: ReceivedRequest;
      try {
        const req = decodeAnyRequest(header.op, decodeBody(message.body));
        received = { conn, corrId: header.corrId, flags: header.flags, cap: Buffer.from(message.cap).toString('utf8'), req };
      } catch (err) {
        ws.send(encodeError(err as MailboxError, header.corrId, header.tenant, header.op));
        return;
      }
      this.requests.push(received);
      const out = this.handler?.(received) ?? this.canned(received);
      if (out === NO_REPLY) return;
      if (out instanceof MailboxError) {
        ws.send(encodeError(out, header.corrId, header.tenant, header.op));
        return;
      }
      if ((header.flags & FLAGS.ACK_REQ) === 0) return;
      const body = encodeResponseBody(header.op as RequestOpId, out as ResponseMap[RequestOpId]);
      for (const f of encodeMessage({ flags: FLAGS.RESP, code: STATUS_OK, op: header.op, tenant: header.tenant, corrId: header.corrId, body })) ws.send(f);
    });
  }

  private canned(r: ReceivedRequest): unknown {
    const { req } = r;
    switch (req.op) {
      case OPS.HELLO:
        return { version: 1, limits: { maxFrame: 1_048_576, chunkSize: 65_536, maxPayload: 1_047_552, maxBatch: 1000 }, features: [] };
      case OPS.SEND:
        return { msgId: nextMsgId(), duplicate: false };
      case OPS.SEND_BATCH:
        return { results: req.body.items.map(() => ({ msgId: nextMsgId(), duplicate: false })) };
      case OPS.ACK_BATCH:
        return { results: req.body.items.map(() => null) };
      case OPS.SUBSCRIBE:
        return { subscriptionId: `sub-${++this.nextSub}` };
      case OPS.EXTEND:
        return { leaseDeadline: Date.now() + req.body.ms };
      case OPS.RECV:
        return { deliveries: [] };
      case OPS.DLQ_LIST:
        return { entries: [] };
      case OPS.DLQ_REPROCESS:
      case OPS.DLQ_PURGE:
        return { count: 0 };
      default:
        return {};
    }
  }
}
