/**
 * Errors on the wire. A failed request is answered with a RESP frame whose `code` is the
 * error's status (ERROR_CODES in src/errors.ts is the one wire code ↔ status table) and
 * whose body is `{code, message, corrId, retryAfterMs?}`; corrId is the request's corr_id
 * as a decimal string. Inside batch results an error is `{code, message, retryAfterMs?}`.
 */
import { MailboxError, isErrorCode, type ErrorCode } from '../errors.ts';
import type { TenantId } from '../domain/types.ts';
import { schemaError, keys, object, onlyKeys, optInt, reqStr, type Obj, type StrRule } from './fields.ts';
import { chunkFrames } from './chunks.ts';
import { FLAGS } from './flags.ts';
import { encodeBody } from './body.ts';
import { MAX_DURATION_MS, MAX_ERROR_MESSAGE_BYTES } from './limits.ts';
import type { ErrorBody, WireError } from './types.ts';

const MESSAGE: StrRule = { max: MAX_ERROR_MESSAGE_BYTES, min: 0 };
const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** Cuts a message to the wire's byte limit without splitting a character. */
function clip(message: string): string {
  if (Buffer.byteLength(message, 'utf8') <= MAX_ERROR_MESSAGE_BYTES) return message;
  const buf = Buffer.from(message, 'utf8').subarray(0, MAX_ERROR_MESSAGE_BYTES - 3);
  return `${buf.toString('utf8').replace(/\uFFFD+$/, '')}...`;
}

/** The batch-item form of an error. */
export function errorToWire(err: MailboxError): WireError {
  const out: WireError = { code: err.code, message: clip(err.message) };
  if (err.retryAfterMs !== undefined) out.retryAfterMs = Math.max(0, Math.min(MAX_DURATION_MS, Math.round(err.retryAfterMs)));
  return out;
}

/** The body of an error response. */
export function errorBody(err: MailboxError, corrId: bigint): ErrorBody {
  const out: ErrorBody = { code: err.code, message: clip(err.message), corrId: corrId.toString() };
  if (err.retryAfterMs !== undefined) out.retryAfterMs = Math.max(0, Math.min(MAX_DURATION_MS, Math.round(err.retryAfterMs)));
  return out;
}

/**
 * The error response frame for a request: RESP|START|END, code = the error's status,
 * app_proto_id = the request's op (0 when it was unreadable).
 */
export function encodeError(err: MailboxError, corrId: bigint, tenant: TenantId, op = 0): Buffer {
  const frames = chunkFrames({ flags: FLAGS.RESP, code: err.status, op, tenant, corrId, body: encodeBody(errorBody(err, corrId)) });
  return frames[0]!;
}

/** Known codes pass; an unknown one becomes E_INTERNAL, keeping the original in the message. */
function codeOf(o: Obj, path: string): { code: ErrorCode; prefix: string } {
  const code = reqStr(o, 'code', path, { max: 64, ident: true });
  return isErrorCode(code) ? { code, prefix: '' } : { code: 'E_INTERNAL', prefix: `${code}: ` };
}

const WIRE_ERROR = keys('code', 'message', 'retryAfterMs');
/** Decodes a batch-item error; throws E_SCHEMA when malformed. */
export function decodeWireError(v: unknown, path: string): WireError {
  const o = object(v, path);
  onlyKeys(o, WIRE_ERROR, path);
  const { code, prefix } = codeOf(o, path);
  const out: WireError = { code, message: prefix + reqStr(o, 'message', path, MESSAGE) };
  const retryAfterMs = optInt(o, 'retryAfterMs', path, 0, MAX_DURATION_MS);
  if (retryAfterMs !== undefined) out.retryAfterMs = retryAfterMs;
  return out;
}

/** A MailboxError from a batch-item error. */
export function errorFromWire(w: WireError, corrId?: bigint): MailboxError {
  const options: { retryAfterMs?: number; corrId?: bigint } = {};
  if (w.retryAfterMs !== undefined) options.retryAfterMs = w.retryAfterMs;
  if (corrId !== undefined) options.corrId = corrId;
  return new MailboxError(w.code, w.message, options);
}

const ERROR_BODY = keys('code', 'message', 'corrId', 'retryAfterMs');
/**
 * The MailboxError an error response body stands for, with `corrId` set. Unknown codes
 * become E_INTERNAL. Throws E_SCHEMA when the body is malformed.
 */
export function decodeError(body: unknown): MailboxError {
  const o = object(body, '');
  onlyKeys(o, ERROR_BODY, '');
  const { code, prefix } = codeOf(o, '');
  const message = prefix + reqStr(o, 'message', '', MESSAGE);
  const corrText = reqStr(o, 'corrId', '', { max: 20 });
  if (!/^(0|[1-9][0-9]*)$/.test(corrText) || BigInt(corrText) > U64_MAX) {
    throw schemaError('corrId', 'must be a decimal u64 string');
  }
  const retryAfterMs = optInt(o, 'retryAfterMs', '', 0, MAX_DURATION_MS);
  return new MailboxError(code, message, retryAfterMs === undefined
    ? { corrId: BigInt(corrText) }
    : { corrId: BigInt(corrText), retryAfterMs });
}

