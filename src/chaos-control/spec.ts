/**
 * What `POST /admin/chaos` accepts, checked strictly: an unknown fault or field, a bad
 * duration or a missing target is E_SCHEMA (400) with a message, never a default.
 */
import { MailboxError } from '../errors.ts';
import { CHAOS_FAULTS, type ChaosFault } from '../observability/metrics.ts';

export { CHAOS_FAULTS, type ChaosFault };

/** An injection's upper bound: a forgotten fault ends by itself within the hour. */
export const MAX_CHAOS_DURATION_MS = 3_600_000;
export const MAX_CHAOS_DELAY_MS = 60_000;

export interface ChaosSpec {
  fault: ChaosFault;
  /** How long the fault stays; 0 only for a one-shot kill-actor. */
  durationMs: number;
  /** kill-actor: the actor path (`/root/shards/shard-3`); latency: `store` (commits, the default) or `socket` (the server's WebSocket writes). */
  target?: string;
  /** latency: added to every store commit, or to every WebSocket write of the server. */
  delayMs?: number;
  /** cpu: share of one core burnt on the server's main thread, 1…100. */
  percent?: number;
  /** kill-actor: kill again this often until the duration ends (default: once). */
  everyMs?: number;
}

const FIELDS: Readonly<Record<ChaosFault, readonly string[]>> = {
  latency: ['delayMs', 'target'],
  cpu: ['percent'],
  'kill-actor': ['target', 'everyMs'],
  'bus-drop': [],
  'storage-full': [],
};

const bad = (message: string): MailboxError => new MailboxError('E_SCHEMA', message);

function int(body: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = body[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw bad(`${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** The fault name, checked (for DELETE /admin/chaos?fault=F as well). */
export function parseFault(raw: unknown): ChaosFault {
  if (typeof raw !== 'string' || !(CHAOS_FAULTS as readonly string[]).includes(raw)) {
    throw bad(`fault must be one of ${CHAOS_FAULTS.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return raw as ChaosFault;
}

export function parseChaosSpec(body: unknown): ChaosSpec {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('the body must be a JSON object such as {"fault":"cpu","durationMs":60000,"percent":60}');
  const b = body as Record<string, unknown>;
  const fault = parseFault(b.fault);
  const allowed = ['fault', 'durationMs', ...FIELDS[fault]];
  const extra = Object.keys(b).filter((k) => !allowed.includes(k));
  if (extra.length > 0) throw bad(`${fault} takes ${allowed.join(', ')}; unknown field(s): ${extra.join(', ')}`);
  const spec: ChaosSpec = { fault, durationMs: 0 };
  const oneShot = fault === 'kill-actor' && b.everyMs === undefined;
  const duration = int(b, 'durationMs', oneShot ? 0 : 1, MAX_CHAOS_DURATION_MS);
  if (duration === undefined && !oneShot) throw bad(`durationMs is required for ${fault} (1 to ${MAX_CHAOS_DURATION_MS})`);
  spec.durationMs = duration ?? 0;
  switch (fault) {
    case 'latency': {
      const target = b.target ?? 'store';
      if (target !== 'store' && target !== 'socket') throw bad(`latency target must be "store" or "socket", got ${JSON.stringify(target)}`);
      const delayMs = int(b, 'delayMs', 1, MAX_CHAOS_DELAY_MS);
      if (delayMs === undefined) throw bad(`delayMs is required for latency (1 to ${MAX_CHAOS_DELAY_MS})`);
      Object.assign(spec, { target, delayMs });
      break;
    }
    case 'cpu':
      spec.percent = int(b, 'percent', 1, 100) ?? 60;
      break;
    case 'kill-actor': {
      const target = b.target;
      if (typeof target !== 'string' || target === '') throw bad('kill-actor needs a target: an actor path from `mailbox tree`, such as /root/shards/shard-0');
      if (!target.startsWith('/root/')) throw bad(`target must be an actor path under /root/ (the root itself is not killed), got ${JSON.stringify(target)}`);
      spec.target = target;
      const everyMs = int(b, 'everyMs', 10, MAX_CHAOS_DURATION_MS);
      if (everyMs !== undefined) {
        if (spec.durationMs < everyMs) throw bad(`durationMs (${spec.durationMs}) must be at least everyMs (${everyMs})`);
        spec.everyMs = everyMs;
      }
      break;
    }
    default:
      break;
  }
  return spec;
}

/** `60s`, `500ms`, `2m`, `1h` (a number alone is milliseconds) → ms; undefined when malformed. */
export function parseDurationMs(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
  const ms = Number(m[1]) * unit;
  return Number.isSafeInteger(ms) ? ms : undefined;
}
