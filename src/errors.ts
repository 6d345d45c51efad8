/**
 * The one error type of svc-mailbox. `code` is the stable wire code; match on it,
 * never on message text. `status` is the OAP/1 response code that carries it.
 */
export const ERROR_CODES = {
  E_SCHEMA: 400,
  E_CAP_AUTH: 401,
  E_CAP_SCOPE: 403,
  E_NOT_FOUND: 404,
  E_IDEM_CONFLICT: 409,
  E_STALE_LEASE: 409,
  E_FRAME_TOO_LARGE: 413,
  E_INTEGRITY: 422,
  E_SATURATED: 429,
  E_UNAVAILABLE: 503,
  E_CONFIG: 400,
  E_INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, value);
}

export interface MailboxErrorOptions {
  cause?: unknown;
  /** When the caller may try again; set on E_SATURATED (bounds and quotas) and E_UNAVAILABLE. */
  retryAfterMs?: number;
  corrId?: bigint;
}

export class MailboxError extends Error {
  override readonly name = 'MailboxError';
  readonly code: ErrorCode;
  readonly retryAfterMs?: number;
  corrId?: bigint;

  constructor(code: ErrorCode, message: string, options: MailboxErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    if (options.corrId !== undefined) this.corrId = options.corrId;
  }

  /** The OAP/1 status code for this error. */
  get status(): number {
    return ERROR_CODES[this.code];
  }

  /** True where trying the same call again later can succeed. */
  get retryable(): boolean {
    return this.code === 'E_SATURATED' || this.code === 'E_UNAVAILABLE';
  }

  toJSON(): { code: ErrorCode; message: string; retryAfterMs?: number } {
    return this.retryAfterMs === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, retryAfterMs: this.retryAfterMs };
  }
}

/** Wraps anything thrown into a MailboxError without losing the original as `cause`. */
export function toMailboxError(err: unknown): MailboxError {
  if (err instanceof MailboxError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new MailboxError('E_INTERNAL', message, { cause: err });
}
