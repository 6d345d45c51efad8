/**
 * Chunked streams. A body larger than CHUNK_SIZE travels as frames sharing one corr_id:
 * the first has START, the last END, those between neither; every frame but the last
 * carries exactly CHUNK_SIZE body bytes, the last 1..CHUNK_SIZE. A message that fits one
 * frame is sent with START|END. Streams of different corr_ids may interleave.
 */
import { MailboxError } from '../errors.ts';
import type { TenantId } from '../domain/types.ts';
import { FLAGS, SINGLE } from './flags.ts';
import { writeHeader, type FrameHeader } from './header.ts';
import { CHUNK_SIZE, HEADER_SIZE, MAX_BODY } from './limits.ts';

/** A whole message to encode. `flags` holds the kind (REQ, RESP or EVENT) and maybe ACK_REQ; no chunk bits. */
export interface MessageParams {
  flags: number;
  /** 0 on requests and events (default); a status on responses. */
  code?: number;
  op: number;
  tenant: TenantId;
  corrId: bigint;
  /** Capability, on requests only; travels in the first frame. */
  cap?: Uint8Array;
  /** The encoded msgpack body, at most MAX_BODY bytes. */
  body: Uint8Array;
}

const EMPTY = new Uint8Array(0);
const CHUNK_BITS = FLAGS.START | FLAGS.END;

/**
 * Splits a message into frames: one START|END frame when the body fits CHUNK_SIZE, else a
 * START … END stream. ACK_REQ and the capability go on the first frame only. The frames
 * are views into one allocation. Throws E_FRAME_TOO_LARGE above MAX_BODY, E_SCHEMA on a
 * header rule broken.
 */
export function chunkFrames(params: MessageParams): Buffer[] {
  const { body, op, tenant, corrId } = params;
  const code = params.code ?? 0;
  const cap = params.cap ?? EMPTY;
  if ((params.flags & CHUNK_BITS) !== 0) {
    throw new MailboxError('E_SCHEMA', 'flags: START/END are set by the encoder, not the caller');
  }
  if (body.length > MAX_BODY) {
    throw new MailboxError('E_FRAME_TOO_LARGE', `body: ${body.length} bytes exceeds the ${MAX_BODY}-byte message limit`);
  }
  const n = body.length <= CHUNK_SIZE ? 1 : Math.ceil(body.length / CHUNK_SIZE);
  const all = Buffer.allocUnsafe(n * HEADER_SIZE + cap.length + body.length);
  const frames = new Array<Buffer>(n);
  let off = 0;
  for (let i = 0; i < n; i++) {
    const from = i * CHUNK_SIZE;
    const to = Math.min(from + CHUNK_SIZE, body.length);
    const capLen = i === 0 ? cap.length : 0;
    let flags: number;
    if (n === 1) flags = params.flags | SINGLE;
    else if (i === 0) flags = params.flags | FLAGS.START;
    else flags = (params.flags & ~FLAGS.ACK_REQ) | (i === n - 1 ? FLAGS.END : 0);
    const len = HEADER_SIZE + capLen + (to - from);
    const frame = all.subarray(off, off + len);
    writeHeader(frame, len, capLen, { flags, code, op, tenant, corrId });
    if (capLen) frame.set(cap, HEADER_SIZE);
    frame.set(body.subarray(from, to), HEADER_SIZE + capLen);
    frames[i] = frame;
    off += len;
  }
  return frames;
}

/** A complete message: the header and capability of its first frame, and the whole body. */
export interface AssembledMessage {
  header: FrameHeader;
  cap: Uint8Array;
  body: Uint8Array;
}

/** A stream `expire` dropped: the header of its START frame and the refusal to report. */
export interface ExpiredStream {
  header: FrameHeader;
  error: MailboxError;
}

export interface ReassemblerOptions {
  /** Largest assembled body; default MAX_BODY. */
  maxMessageBytes?: number;
  /** Streams open at once on this connection; default 16. */
  maxOpenStreams?: number;
  /** Bytes buffered across all open streams; default 4 × MAX_BODY. */
  maxBufferedBytes?: number;
  /** A stream must END within this long of its START; default 30 s. */
  streamTimeoutMs?: number;
  /** retryAfterMs on the E_SATURATED refusals; default 100. */
  retryAfterMs?: number;
}

interface Stream {
  header: FrameHeader;
  cap: Uint8Array;
  chunks: Uint8Array[];
  bytes: number;
  deadline: number;
}

/** Refused streams whose remaining frames are dropped silently (bounded). */
const MAX_TOMBSTONES = 64;

/**
 * Reassembles the chunked streams of one connection (one direction). Feed it every decoded
 * frame; it returns each complete message and refuses — with a MailboxError carrying the
 * corr_id — whatever breaks the chunking rules or its limits. After a refusal the rest of
 * that stream is discarded silently, so one stream yields at most one refusal.
 * Streams are keyed by (kind, corr_id): a response and an event may share a corr_id.
 */
export class ChunkReassembler {
  private readonly maxMessageBytes: number;
  private readonly maxOpenStreams: number;
  private readonly maxBufferedBytes: number;
  private readonly streamTimeoutMs: number;
  private readonly retryAfterMs: number;
  /** Indexed by kind: 0 REQ, 1 RESP, 2 EVENT. */
  private readonly streams = [new Map<bigint, Stream>(), new Map<bigint, Stream>(), new Map<bigint, Stream>()];
  private readonly tombstones = [new Map<bigint, number>(), new Map<bigint, number>(), new Map<bigint, number>()];
  private open = 0;
  private buffered = 0;

  constructor(options: ReassemblerOptions = {}) {
    this.maxMessageBytes = options.maxMessageBytes ?? MAX_BODY;
    this.maxOpenStreams = options.maxOpenStreams ?? 16;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 4 * MAX_BODY;
    this.streamTimeoutMs = options.streamTimeoutMs ?? 30_000;
    this.retryAfterMs = options.retryAfterMs ?? 100;
  }

  /** Streams currently open. */
  get openStreams(): number {
    return this.open;
  }

  /** Body bytes held by open streams. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /**
   * Takes one decoded frame (from `decodeFrame`); returns the message it completes, or
   * undefined while a stream is still open. `nowMs` is monotonic time.
   */
  push(frame: { header: FrameHeader; cap: Uint8Array; body: Uint8Array }, nowMs: number): AssembledMessage | undefined {
    const { header, body } = frame;
    const kind = header.flags & FLAGS.REQ ? 0 : header.flags & FLAGS.RESP ? 1 : 2;
    const streams = this.streams[kind]!;
    const id = header.corrId;
    const bits = header.flags & CHUNK_BITS;

    if (bits === SINGLE) {
      if (streams.size !== 0 && streams.has(id)) {
        this.drop(kind, id);
        throw this.refuse('E_SCHEMA', id, 'a single frame reuses the corr_id of an open stream');
      }
      if (body.length > this.maxMessageBytes) {
        throw this.refuse('E_FRAME_TOO_LARGE', id, `message exceeds ${this.maxMessageBytes} bytes`);
      }
      return { header, cap: frame.cap, body };
    }

    if (bits === FLAGS.START) {
      this.tombstones[kind]!.delete(id);
      if (streams.has(id)) {
        this.drop(kind, id);
        this.bury(kind, id, nowMs);
        throw this.refuse('E_SCHEMA', id, 'START reuses the corr_id of an open stream');
      }
      if (body.length !== CHUNK_SIZE) {
        this.bury(kind, id, nowMs);
        throw this.refuse('E_SCHEMA', id, `a START frame must carry exactly ${CHUNK_SIZE} body bytes`);
      }
      if (this.open >= this.maxOpenStreams) {
        this.bury(kind, id, nowMs);
        throw this.refuse('E_SATURATED', id, `more than ${this.maxOpenStreams} open streams`);
      }
      this.admit(kind, id, body.length, nowMs);
      streams.set(id, { header, cap: frame.cap, chunks: [body], bytes: body.length, deadline: nowMs + this.streamTimeoutMs });
      this.open++;
      this.buffered += body.length;
      return undefined;
    }

    const stream = streams.get(id);
    if (stream === undefined) {
      const tombstones = this.tombstones[kind]!;
      if (tombstones.has(id)) {
        if (bits === FLAGS.END) tombstones.delete(id);
        return undefined;
      }
      throw this.refuse('E_SCHEMA', id, 'a continuation frame for a corr_id with no open stream (START missing)');
    }
    const last = bits === FLAGS.END;
    const fail = (code: 'E_SCHEMA' | 'E_FRAME_TOO_LARGE', message: string): MailboxError => {
      this.drop(kind, id);
      if (!last) this.bury(kind, id, nowMs);
      return this.refuse(code, id, message);
    };
    const h = stream.header;
    if (header.op !== h.op || header.tenant !== h.tenant || header.code !== h.code) {
      throw fail('E_SCHEMA', 'a continuation frame differs from its START in op, tenant or code');
    }
    if (last ? body.length === 0 : body.length !== CHUNK_SIZE) {
      throw fail('E_SCHEMA', last ? 'an END frame must carry body bytes' : `a middle frame must carry exactly ${CHUNK_SIZE} body bytes`);
    }
    if (stream.bytes + body.length > this.maxMessageBytes) {
      throw fail('E_FRAME_TOO_LARGE', `message exceeds ${this.maxMessageBytes} bytes`);
    }
    if (this.buffered + body.length > this.maxBufferedBytes) {
      this.drop(kind, id);
      if (!last) this.bury(kind, id, nowMs);
      throw this.refuse('E_SATURATED', id, `more than ${this.maxBufferedBytes} bytes buffered in open streams`);
    }
    stream.chunks.push(body);
    stream.bytes += body.length;
    this.buffered += body.length;
    if (!last) return undefined;
    this.drop(kind, id);
    return { header: h, cap: stream.cap, body: Buffer.concat(stream.chunks, stream.bytes) };
  }

  /**
   * Drops every stream whose START is older than the timeout at `nowMs`; returns them with
   * the E_SCHEMA refusal to send back. The caller drives time.
   */
  expire(nowMs: number): ExpiredStream[] {
    const out: ExpiredStream[] = [];
    for (let kind = 0; kind < 3; kind++) {
      // Insertion order is START order, and every deadline is START + the same timeout.
      for (const [id, stream] of this.streams[kind]!) {
        if (stream.deadline > nowMs) break;
        this.drop(kind, id);
        this.bury(kind, id, nowMs);
        out.push({ header: stream.header, error: this.refuse('E_SCHEMA', id, `stream did not END within ${this.streamTimeoutMs} ms`) });
      }
      for (const [id, deadline] of this.tombstones[kind]!) {
        if (deadline > nowMs) break;
        this.tombstones[kind]!.delete(id);
      }
    }
    return out;
  }

  /** Forgets everything (the connection ended). */
  clear(): void {
    for (let kind = 0; kind < 3; kind++) {
      this.streams[kind]!.clear();
      this.tombstones[kind]!.clear();
    }
    this.open = 0;
    this.buffered = 0;
  }

  private admit(kind: number, id: bigint, bytes: number, nowMs: number): void {
    if (bytes > this.maxMessageBytes) {
      this.bury(kind, id, nowMs);
      throw this.refuse('E_FRAME_TOO_LARGE', id, `message exceeds ${this.maxMessageBytes} bytes`);
    }
    if (this.buffered + bytes > this.maxBufferedBytes) {
      this.bury(kind, id, nowMs);
      throw this.refuse('E_SATURATED', id, `more than ${this.maxBufferedBytes} bytes buffered in open streams`);
    }
  }

  private drop(kind: number, id: bigint): void {
    const stream = this.streams[kind]!.get(id);
    if (stream === undefined) return;
    this.streams[kind]!.delete(id);
    this.open--;
    this.buffered -= stream.bytes;
  }

  private bury(kind: number, id: bigint, nowMs: number): void {
    const tombstones = this.tombstones[kind]!;
    tombstones.delete(id);
    if (tombstones.size >= MAX_TOMBSTONES) tombstones.delete(tombstones.keys().next().value!);
    tombstones.set(id, nowMs + this.streamTimeoutMs);
  }

  private refuse(code: 'E_SCHEMA' | 'E_FRAME_TOO_LARGE' | 'E_SATURATED', corrId: bigint, message: string): MailboxError {
    const full = `stream ${corrId}: ${message}`;
    return code === 'E_SATURATED'
      ? new MailboxError(code, full, { corrId, retryAfterMs: this.retryAfterMs })
      : new MailboxError(code, full, { corrId });
  }
}
