/**
 * The audit trail of one connection: every refused token, scope and frame is logged at
 * `warn` with what an operator needs to find the client (corr_id, remote address, tenant,
 * op, the error code as `reason`, the token's id and KID), rate-limited per reason so a flood
 * cannot fill the disk. Never the token, a key or a payload: the token is reduced to its
 * fingerprint, and the error's message (which may quote a frame) is left out.
 */
import type { MailboxError } from '../errors.ts';
import { tokenFingerprint } from '../auth/index.ts';
import { formatCorrId } from '../observability/corr.ts';
import type { Logger } from '../observability/logger.ts';
import { LogLimiter } from '../observability/log-limiter.ts';

/** Error code → the stable `event` name of its audit line. */
const AUDIT_EVENTS: Partial<Record<string, string>> = {
  E_CAP_AUTH: 'auth_failed',
  E_CAP_SCOPE: 'scope_refused',
  E_SCHEMA: 'frame_refused',
  E_FRAME_TOO_LARGE: 'frame_refused',
};

/** Lines of one reason per connection and window; the rest are counted into one summary line. */
export const AUDIT_LINES_PER_WINDOW = 10;
export const AUDIT_WINDOW_MS = 60_000;
/** Lines of one reason per window for the whole server, so opening many connections does not multiply the allowance. */
export const SERVER_AUDIT_LINES_PER_WINDOW = 100;

/**
 * The server-wide share of the audit trail: every connection's lines (its summaries too) pass
 * through it, and what it holds back comes out as one `audit_suppressed` line with
 * `scope: 'server'` per reason and window.
 */
export class AuditBudget {
  private readonly limiter = new LogLimiter({ perWindow: SERVER_AUDIT_LINES_PER_WINDOW, windowMs: AUDIT_WINDOW_MS });

  constructor(private readonly logger: Logger) {}

  /** Whether a line that stands for `weight` refusals of `reason` may be written now. */
  admit(reason: string, now: number, weight = 1): boolean {
    const { log, suppressed } = this.limiter.admit(reason, now, weight);
    if (suppressed > 0) this.summary(reason, suppressed);
    return log;
  }

  /** Summaries of the windows that have ended (every window when `now` is omitted: shutdown). */
  flush(now?: number): void {
    for (const { key, suppressed } of this.limiter.flush(now)) this.summary(key, suppressed);
  }

  private summary(reason: string, suppressed: number): void {
    this.logger.warn({ event: 'audit_suppressed', scope: 'server', reason, suppressed, windowMs: AUDIT_WINDOW_MS }, `suppressed ${suppressed} similar (all connections)`);
  }
}

export interface AuditContext {
  corrId: bigint;
  tenant: string;
  /** The op's name (`SEND`), or its number when the server knows no such op. */
  op: string;
  /** The token the request presented (or HELLO's), if any. */
  token?: string | undefined;
}

export class ConnectionAudit {
  private readonly limiter = new LogLimiter({ perWindow: AUDIT_LINES_PER_WINDOW, windowMs: AUDIT_WINDOW_MS });

  constructor(
    private readonly logger: Logger,
    private readonly remote: string,
    /** The server-wide budget; a connection without one (tests) is limited on its own. */
    private readonly budget?: AuditBudget,
  ) {}

  /** Logs `err` if it is a refusal the audit trail keeps (auth, scope, malformed frame). */
  refused(err: MailboxError, ctx: AuditContext, now: number): void {
    const event = AUDIT_EVENTS[err.code];
    if (event === undefined) return;
    const { log, suppressed } = this.limiter.admit(err.code, now);
    if (suppressed > 0) this.summary(err.code, suppressed, now);
    if (!log || (this.budget && !this.budget.admit(err.code, now))) return;
    this.logger.warn(
      { event, corr_id: formatCorrId(ctx.corrId), remote: this.remote, tenant: ctx.tenant, op: ctx.op, reason: err.code, ...fingerprint(ctx.token) },
      `${ctx.op} refused: ${err.code}`,
    );
  }

  /**
   * Summaries of the windows that have ended (called on a timer), or of every window (on close);
   * the server-wide budget's ended windows too.
   */
  flush(now?: number): void {
    const at = now ?? performance.now();
    for (const { key, suppressed } of this.limiter.flush(now)) this.summary(key, suppressed, at);
    this.budget?.flush(at);
  }

  private summary(reason: string, suppressed: number, now: number): void {
    // A summary is a line too: past the server's budget its count goes into the server's summary.
    if (this.budget && !this.budget.admit(reason, now, suppressed)) return;
    this.logger.warn(
      { event: 'audit_suppressed', remote: this.remote, reason, suppressed, windowMs: AUDIT_WINDOW_MS },
      `suppressed ${suppressed} similar`,
    );
  }
}

/** `token_id` and `kid` of a token, read without verifying it; nothing when none was presented. */
function fingerprint(token: string | undefined): { token_id?: string; kid?: string } {
  if (token === undefined || token === '') return {};
  const print = tokenFingerprint(token);
  const at = print.lastIndexOf('@');
  return at < 0 ? { token_id: print } : { token_id: print.slice(0, at), kid: print.slice(at + 1) };
}
