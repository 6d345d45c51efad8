/**
 * The 38-byte OAP/1 header, big-endian:
 *
 * | off | size | field        |
 * |-----|------|--------------|
 * | 0   | 4    | len          |
 * | 4   | 2    | ver (= 1)    |
 * | 6   | 2    | flags        |
 * | 8   | 2    | code         |
 * | 10  | 2    | app_proto_id |
 * | 12  | 16   | tenant_id    |
 * | 28  | 2    | cap_len      |
 * | 30  | 8    | corr_id      |
 */
import { MailboxError } from '../errors.ts';
import type { TenantId } from '../domain/types.ts';
import { checkFlags } from './flags.ts';
import { CHUNK_SIZE, HEADER_SIZE, MAX_CAP, MAX_FRAME, PROTOCOL_VERSION } from './limits.ts';

/** A decoded header. `tenant` is 32 lower-case hex digits; `corrId` a u64. */
export interface FrameHeader {
  /** Whole frame length in bytes, header included. */
  len: number;
  ver: number;
  flags: number;
  code: number;
  /** app_proto_id: the operation (see OPS). Not checked here, so an error reply can echo it. */
  op: number;
  tenant: TenantId;
  capLen: number;
  corrId: bigint;
}

const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** True for 32 lower-case hex digits. */
export function isTenantId(value: unknown): value is TenantId {
  if (typeof value !== 'string' || value.length !== 32) return false;
  for (let i = 0; i < 32; i++) {
    const c = value.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/**
 * Reads and checks a header. `buf` may be the whole frame or only a prefix of it (at least
 * the 38 header bytes), so a transport can refuse a frame before buffering its body.
 * Checks, in order: declared len ≤ MAX_FRAME (E_FRAME_TOO_LARGE, read from the first 4
 * bytes alone), len ≥ 38, whole header present, len not shorter than `buf`, ver = 1,
 * flags/code/capability rules, cap fits, body ≤ CHUNK_SIZE (E_FRAME_TOO_LARGE).
 * Every other refusal is E_SCHEMA.
 */
export function decodeHeader(buf: Uint8Array): FrameHeader {
  if (buf.length < 4) throw new MailboxError('E_SCHEMA', 'frame: shorter than the len field');
  const len = ((buf[0]! << 24) >>> 0) + (buf[1]! << 16) + (buf[2]! << 8) + buf[3]!;
  if (len > MAX_FRAME) {
    throw new MailboxError('E_FRAME_TOO_LARGE', `len: ${len} exceeds the ${MAX_FRAME}-byte frame limit`);
  }
  if (len < HEADER_SIZE) throw new MailboxError('E_SCHEMA', `len: ${len} is shorter than the header`);
  if (buf.length < HEADER_SIZE) throw new MailboxError('E_SCHEMA', 'frame: truncated header');
  if (buf.length > len) throw new MailboxError('E_SCHEMA', `len: ${len} but the frame has ${buf.length} bytes`);
  const view = new DataView(buf.buffer, buf.byteOffset, HEADER_SIZE);
  const ver = view.getUint16(4);
  if (ver !== PROTOCOL_VERSION) throw new MailboxError('E_SCHEMA', `ver: ${ver} is not supported (only 1)`);
  const flags = view.getUint16(6);
  const code = view.getUint16(8);
  const op = view.getUint16(10);
  const capLen = view.getUint16(28);
  checkFlags(flags, code, capLen);
  if (HEADER_SIZE + capLen > len) throw new MailboxError('E_SCHEMA', `cap_len: ${capLen} does not fit in len ${len}`);
  const bodyLen = len - HEADER_SIZE - capLen;
  if (bodyLen > CHUNK_SIZE) {
    throw new MailboxError('E_FRAME_TOO_LARGE', `body: ${bodyLen} bytes in one frame exceeds the ${CHUNK_SIZE}-byte chunk size`);
  }
  const tenant = Buffer.from(buf.buffer, buf.byteOffset + 12, 16).toString('hex') as TenantId;
  const corrId = view.getBigUint64(30);
  return { len, ver, flags, code, op, tenant, capLen, corrId };
}

/** The header fields a writer chooses; `len`, `ver` and `capLen` follow from the frame. */
export interface HeaderFields {
  flags: number;
  code: number;
  op: number;
  tenant: TenantId;
  corrId: bigint;
}

/**
 * Writes a checked header at offset 0 of `out` for a frame of `len` bytes. Throws
 * E_SCHEMA on a field out of range (a programmer error on the sending side).
 */
export function writeHeader(out: Buffer, len: number, capLen: number, fields: HeaderFields): void {
  if (len > MAX_FRAME) throw new MailboxError('E_FRAME_TOO_LARGE', `len: ${len} exceeds the ${MAX_FRAME}-byte frame limit`);
  if (capLen > MAX_CAP) throw new MailboxError('E_SCHEMA', `cap_len: ${capLen} exceeds ${MAX_CAP}`);
  if (len - HEADER_SIZE - capLen > CHUNK_SIZE) {
    throw new MailboxError('E_FRAME_TOO_LARGE', `body: more than ${CHUNK_SIZE} bytes in one frame; use encodeMessage`);
  }
  checkU16('flags', fields.flags);
  checkU16('code', fields.code);
  checkU16('op', fields.op);
  checkFlags(fields.flags, fields.code, capLen);
  if (!isTenantId(fields.tenant)) throw new MailboxError('E_SCHEMA', 'tenant: must be 32 lower-case hex digits');
  if (typeof fields.corrId !== 'bigint' || fields.corrId < 0n || fields.corrId > U64_MAX) {
    throw new MailboxError('E_SCHEMA', 'corrId: must be a bigint in u64 range');
  }
  out.writeUInt32BE(len, 0);
  out.writeUInt16BE(PROTOCOL_VERSION, 4);
  out.writeUInt16BE(fields.flags, 6);
  out.writeUInt16BE(fields.code, 8);
  out.writeUInt16BE(fields.op, 10);
  out.write(fields.tenant, 12, 16, 'hex');
  out.writeUInt16BE(capLen, 28);
  out.writeBigUInt64BE(fields.corrId, 30);
}

function checkU16(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new MailboxError('E_SCHEMA', `${name}: must be an integer in 0..65535`);
  }
}
