/**
 * Whole frames: header + capability + body bytes. Bodies here are already-encoded msgpack.
 */
import { MailboxError } from '../errors.ts';
import { encodeBodyAfter } from './body.ts';
import { chunkFrames, type MessageParams } from './chunks.ts';
import { SINGLE } from './flags.ts';
import { decodeHeader, writeHeader, type FrameHeader } from './header.ts';
import { CHUNK_SIZE, HEADER_SIZE, MAX_CAP } from './limits.ts';

/** A frame split into its parts. `cap` and `body` are views into the frame's buffer (no copy). */
export interface DecodedFrame {
  header: FrameHeader;
  cap: Uint8Array;
  body: Uint8Array;
}

/** What `encodeFrame` writes: the fields of a message, but `flags` are the frame's full flags, chunk bits included. */
export type FrameParams = MessageParams;

const EMPTY = new Uint8Array(0);

/**
 * Encodes one frame. Throws E_FRAME_TOO_LARGE when the body exceeds CHUNK_SIZE (use
 * `encodeMessage`) and E_SCHEMA on any header rule broken.
 * @example
 * encodeFrame({ flags: FLAGS.REQ | FLAGS.START | FLAGS.END | FLAGS.ACK_REQ, op: OPS.PING,
 *   tenant: DEFAULT_TENANT, corrId: 1n, body: encodeBody({}) });
 */
export function encodeFrame(params: FrameParams): Buffer {
  const cap = params.cap ?? EMPTY;
  const len = HEADER_SIZE + cap.length + params.body.length;
  if (params.body.length > CHUNK_SIZE) {
    throw new MailboxError('E_FRAME_TOO_LARGE', `body: ${params.body.length} bytes exceeds one frame; use encodeMessage`);
  }
  if (cap.length > MAX_CAP) throw new MailboxError('E_SCHEMA', `cap: ${cap.length} bytes exceeds ${MAX_CAP}`);
  const out = Buffer.allocUnsafe(len);
  writeHeader(out, len, cap.length, { flags: params.flags, code: params.code ?? 0, op: params.op, tenant: params.tenant, corrId: params.corrId });
  out.set(cap, HEADER_SIZE);
  out.set(params.body, HEADER_SIZE + cap.length);
  return out;
}

/**
 * Decodes one frame: the header is checked first (size before anything else), then `len`
 * must equal `buf.length`. Throws MailboxError only.
 */
export function decodeFrame(buf: Uint8Array): DecodedFrame {
  const header = decodeHeader(buf);
  if (header.len !== buf.length) {
    throw new MailboxError('E_SCHEMA', `len: ${header.len} but the frame has ${buf.length} bytes`);
  }
  const capEnd = HEADER_SIZE + header.capLen;
  return { header, cap: buf.subarray(HEADER_SIZE, capEnd), body: buf.subarray(capEnd) };
}

/**
 * Encodes a whole message as one frame (START|END) when its body fits CHUNK_SIZE, else as a
 * chunked stream. See `chunkFrames`.
 */
export function encodeMessage(params: MessageParams): Buffer[] {
  return chunkFrames(params);
}

/**
 * Encodes a message without a capability (a response or an event) from its body value. The
 * body is packed after room for the header, so one that fits a frame goes out from the buffer
 * it was packed into: no second copy of every delivered payload. A bigger body is chunked as
 * by `encodeMessage`.
 */
export function encodeValueMessage(params: Omit<MessageParams, 'body' | 'cap'>, value: unknown): Buffer[] {
  if ((params.flags & SINGLE) !== 0) throw new MailboxError('E_SCHEMA', 'flags: START/END are set by the encoder, not the caller');
  const packed = encodeBodyAfter(value, HEADER_SIZE);
  if (packed.length - HEADER_SIZE > CHUNK_SIZE) return chunkFrames({ ...params, body: packed.subarray(HEADER_SIZE) });
  writeHeader(packed, packed.length, 0, { flags: params.flags | SINGLE, code: params.code ?? 0, op: params.op, tenant: params.tenant, corrId: params.corrId });
  return [packed];
}
