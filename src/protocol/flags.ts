/**
 * OAP/1 header flags and the rules that tie them to `code` and the capability.
 */
import { MailboxError } from '../errors.ts';

/** Header flag bits. Any other bit set is refused. */
export const FLAGS = {
  /** A request (client → server). */
  REQ: 0x01,
  /** A response to the request with the same corr_id (server → client). */
  RESP: 0x02,
  /** A server-initiated event such as DELIVER (server → client). */
  EVENT: 0x04,
  /** First frame of a message. */
  START: 0x08,
  /** Last frame of a message. A message in one frame sets START|END. */
  END: 0x10,
  /** On the first frame of a request: reply even on success (without it, only errors are answered). */
  ACK_REQ: 0x20,
} as const;

export type FrameKind = 'req' | 'resp' | 'event';

const KNOWN = 0x3f;
const KIND_MASK = FLAGS.REQ | FLAGS.RESP | FLAGS.EVENT;
/** START|END: the flags of a message that fits one frame. */
export const SINGLE = FLAGS.START | FLAGS.END;

/** The response status codes OAP/1 defines. */
export const STATUS_CODES: ReadonlySet<number> = new Set([200, 400, 401, 403, 404, 409, 413, 422, 429, 500, 503]);
export const STATUS_OK = 200;

/** The kind of a frame from its flags. Assumes `checkFlags` passed. */
export function frameKind(flags: number): FrameKind {
  return flags & FLAGS.REQ ? 'req' : flags & FLAGS.RESP ? 'resp' : 'event';
}

/** True on a frame that begins a message (a single frame or the START of a stream). */
export function beginsMessage(flags: number): boolean {
  return (flags & FLAGS.START) !== 0;
}

/**
 * Validates flags, code and capability placement together; throws E_SCHEMA.
 * Rules: no unknown bit; exactly one of REQ/RESP/EVENT; ACK_REQ and a capability only on a
 * REQ frame that begins a request; code 0 on REQ and EVENT, a known status on RESP.
 */
export function checkFlags(flags: number, code: number, capLen: number): void {
  if ((flags & ~KNOWN) !== 0) {
    throw new MailboxError('E_SCHEMA', `flags: unknown bit(s) 0x${(flags & ~KNOWN).toString(16)}`);
  }
  const kind = flags & KIND_MASK;
  if (kind !== FLAGS.REQ && kind !== FLAGS.RESP && kind !== FLAGS.EVENT) {
    throw new MailboxError('E_SCHEMA', 'flags: exactly one of REQ, RESP, EVENT must be set');
  }
  const beginsRequest = kind === FLAGS.REQ && (flags & FLAGS.START) !== 0;
  if ((flags & FLAGS.ACK_REQ) !== 0 && !beginsRequest) {
    throw new MailboxError('E_SCHEMA', 'flags: ACK_REQ is allowed only on the first frame of a request');
  }
  if (capLen !== 0 && !beginsRequest) {
    throw new MailboxError('E_SCHEMA', 'cap_len: a capability is allowed only on the first frame of a request');
  }
  if (kind === FLAGS.RESP) {
    if (!STATUS_CODES.has(code)) throw new MailboxError('E_SCHEMA', `code: ${code} is not an OAP/1 status`);
  } else if (code !== 0) {
    throw new MailboxError('E_SCHEMA', `code: must be 0 on a ${kind === FLAGS.REQ ? 'request' : 'event'}`);
  }
}
