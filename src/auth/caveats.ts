/**
 * First-party caveats: what a capability token is allowed to do.
 *
 * On the wire a caveat is the UTF-8 text `kind=value`, and those exact bytes are what the
 * HMAC chain signs:
 *
 *   op=send,recv              only these operations (send, recv, ack, nack, admin; admin implies all)
 *   topic=user:42:inbox       exactly this topic
 *   topic=user:42:*           any topic starting with `user:42:` (`*` only as the last character)
 *   tenant=<32 hex>           only this tenant
 *   tenant=*                  every tenant (operators' tokens; see the tenant rule below)
 *   expiry=<wall-clock ms>    refused at and after this instant
 *   quota=<msgs/s>            most SENDs per second for this token (positive decimal)
 *
 * Every caveat only narrows: several caveats of one kind must all hold (ops and topics
 * intersect, the earliest expiry and the lowest quota win). Parsing is strict and a kind
 * this code does not know makes verification fail: a server never ignores a restriction.
 *
 * The tenant rule: a token acts for the tenant its tenant caveats name (`*` names every
 * tenant, so it narrows nothing); a token with no tenant caveat acts for the default tenant
 * only. `mint` always signs a tenant caveat, so whoever holds a token can narrow its
 * tenant by attenuating, never move it to another one.
 */
import { MailboxError } from '../errors.ts';
import type { TenantId } from '../domain/types.ts';

export const OPS = ['send', 'recv', 'ack', 'nack', 'admin'] as const;
export type Op = (typeof OPS)[number];

/** The value of a tenant caveat that allows every tenant (`tenant=*`). */
export const ANY_TENANT = '*';

export type Caveat =
  | { kind: 'op'; ops: readonly Op[] }
  | { kind: 'topic'; pattern: string }
  | { kind: 'tenant'; tenant: TenantId | typeof ANY_TENANT }
  | { kind: 'expiry'; at: number }
  | { kind: 'quota'; perSecond: number };

/** A caveat whose kind or value this code does not understand (only `inspect` shows these). */
export interface UnknownCaveat {
  kind: 'unknown';
  text: string;
}

/** Longest caveat text in bytes; longer ones are refused when minting and when decoding. */
export const MAX_CAVEAT_BYTES = 1024;
const MAX_TOPIC_PATTERN = 512;

const TENANT_RE = /^[0-9a-f]{32}$/;
const INT_RE = /^(0|[1-9][0-9]*)$/;
const DECIMAL_RE = /^(0|[1-9][0-9]*)(\.[0-9]+)?$/;
// Printable, no whitespace; a `*` may only end a pattern.
const TOPIC_PATTERN_RE = /^[\x21-\x29\x2b-\x7e]*\*?$/;

function isOp(value: string): value is Op {
  return (OPS as readonly string[]).includes(value);
}

function validTopicPattern(pattern: string): boolean {
  return pattern.length > 0 && pattern.length <= MAX_TOPIC_PATTERN && TOPIC_PATTERN_RE.test(pattern);
}

/** Parses `kind=value`; undefined for an unknown kind or a malformed value. */
export function decodeCaveat(text: string): Caveat | undefined {
  const eq = text.indexOf('=');
  if (eq < 0) return undefined;
  const kind = text.slice(0, eq);
  const value = text.slice(eq + 1);
  switch (kind) {
    case 'op': {
      const ops = value.split(',');
      if (!ops.every(isOp)) return undefined;
      return { kind: 'op', ops: [...new Set(ops)] as Op[] };
    }
    case 'topic':
      return validTopicPattern(value) ? { kind: 'topic', pattern: value } : undefined;
    case 'tenant':
      if (value === ANY_TENANT) return { kind: 'tenant', tenant: ANY_TENANT };
      return TENANT_RE.test(value) ? { kind: 'tenant', tenant: value as TenantId } : undefined;
    case 'expiry': {
      if (!INT_RE.test(value)) return undefined;
      const at = Number(value);
      return Number.isSafeInteger(at) ? { kind: 'expiry', at } : undefined;
    }
    case 'quota': {
      if (!DECIMAL_RE.test(value)) return undefined;
      const perSecond = Number(value);
      return Number.isFinite(perSecond) && perSecond > 0 ? { kind: 'quota', perSecond } : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * The canonical `kind=value` text of a caveat. Throws MailboxError `E_SCHEMA` when the caveat
 * is not valid, so a bad caveat is never signed into a token.
 *
 * @example encodeCaveat({ kind: 'op', ops: ['send', 'recv'] }) // 'op=send,recv'
 */
export function encodeCaveat(caveat: Caveat): string {
  const text = formatCaveat(caveat);
  // Round-trip through the strict parser: whatever we sign, a verifier must accept as written.
  if (text === undefined || decodeCaveat(text) === undefined || Buffer.byteLength(text) > MAX_CAVEAT_BYTES) {
    throw new MailboxError('E_SCHEMA', `invalid ${String((caveat as { kind?: unknown }).kind)} caveat`);
  }
  return text;
}

function formatCaveat(caveat: Caveat): string | undefined {
  switch (caveat.kind) {
    case 'op':
      return caveat.ops.length > 0 ? `op=${[...new Set(caveat.ops)].join(',')}` : undefined;
    case 'topic':
      return `topic=${caveat.pattern}`;
    case 'tenant':
      return `tenant=${caveat.tenant}`;
    case 'expiry':
      return Number.isSafeInteger(caveat.at) && caveat.at >= 0 ? `expiry=${caveat.at}` : undefined;
    case 'quota':
      // Plain decimal, never exponent notation (1e21 and 1e-7 would not parse back).
      return Number.isFinite(caveat.perSecond) && caveat.perSecond > 0 ? `quota=${String(caveat.perSecond)}` : undefined;
    default:
      return undefined;
  }
}

/**
 * Parses a caveat as people type it (CLI `--caveat op=send`); the same grammar as the wire.
 * Throws MailboxError `E_SCHEMA` when it is not one.
 */
export function parseCaveat(text: string): Caveat {
  const caveat = decodeCaveat(text.trim());
  if (caveat === undefined) throw new MailboxError('E_SCHEMA', `not a caveat: expected op=, topic=, tenant=, expiry= or quota= with a valid value`);
  return caveat;
}

/** A topic rule of a capability: `exact` names one topic, `prefix` every topic that starts with `value`. */
export interface TopicMatcher {
  kind: 'exact' | 'prefix';
  value: string;
}

export function topicMatcher(pattern: string): TopicMatcher {
  return pattern.endsWith('*') ? { kind: 'prefix', value: pattern.slice(0, -1) } : { kind: 'exact', value: pattern };
}

export function topicMatches(matcher: TopicMatcher, topic: string): boolean {
  return matcher.kind === 'exact' ? topic === matcher.value : topic.startsWith(matcher.value);
}

/** The operations an op caveat grants: admin implies every operation. */
export function expandOps(ops: readonly Op[]): Set<Op> {
  return ops.includes('admin') ? new Set(OPS) : new Set(ops);
}
