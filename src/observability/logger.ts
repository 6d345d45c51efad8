/**
 * The one logger: pino, JSON lines, base fields `{service, pid}`. Child loggers add
 * `corr_id`, `shard` and `event`. Secrets never reach the output: token, capability and
 * key fields are censored wherever they sit (top level or one object down).
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { MailboxConfig } from '../config/config.ts';
import { formatCorrId } from './corr.ts';

export type { Logger } from 'pino';
export type LogLevel = MailboxConfig['logLevel'];

const SECRET_FIELDS = ['token', 'cap', 'capability', 'key', 'keys', 'secret', 'password', 'authorization', 'adminToken'];

/** Paths pino censors: each secret field at the top level and one or two objects down. */
export const REDACT_PATHS: readonly string[] = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]);
export const REDACTED = '[redacted]';

export interface LoggerOptions {
  level: LogLevel;
  /** Where JSON lines go; default stdout. Tests pass a stream they read. */
  destination?: DestinationStream | NodeJS.WritableStream;
}

/** A JSON logger with the service's base fields and redaction. `silent` writes nothing. */
export function createLogger(options: LoggerOptions): Logger {
  const config = {
    level: options.level,
    base: { service: 'svc-mailbox', pid: process.pid },
    redact: { paths: [...REDACT_PATHS], censor: REDACTED },
    serializers: { err: serializeError },
    formatters: { level: (label: string) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination === undefined ? pino(config) : pino(config, options.destination as DestinationStream);
}

/** pino's error serializer, plus the MailboxError corr id in the same hex form as `corr_id`. */
function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const out = pino.stdSerializers.err(err) as unknown as Record<string, unknown>;
  if (typeof out.corrId === 'bigint') out.corrId = formatCorrId(out.corrId);
  return out;
}

/** What a child logger binds. `corrId` is written as `corr_id` in hex. */
export interface LogContext {
  corrId?: bigint;
  shard?: number;
  event?: string;
}

/** A child logger carrying `corr_id`, `shard` and `event` on every line. */
export function childLogger(logger: Logger, context: LogContext): Logger {
  const bindings: Record<string, string | number> = {};
  if (context.corrId !== undefined) bindings.corr_id = formatCorrId(context.corrId);
  if (context.shard !== undefined) bindings.shard = context.shard;
  if (context.event !== undefined) bindings.event = context.event;
  return logger.child(bindings);
}
