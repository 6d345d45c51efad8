/**
 * Checks embedded-API inputs the way the wire decoder checks frames, so the runtime refuses
 * bad input with E_SCHEMA whichever way it came in.
 */
import { MailboxError } from '../errors.ts';
import { isUlid } from '../domain/ids.ts';
import type { Attrs } from '../domain/types.ts';

export const LIMITS = {
  topicBytes: 256,
  idemKeyBytes: 128,
  attrsEntries: 32,
  attrKeyChars: 64,
  attrValueChars: 1024,
  batchItems: 1000,
  maxMessages: 1000,
  maxWaitMs: 60_000,
  maxDelayMs: 7 * 86_400_000,
  /** A wire `duration` (PROTOCOL.md §6); lease lengths past queue.maxVisibilityMs are clamped, not refused. */
  maxDurationMs: 2_147_483_647,
  leaseIdChars: 64,
  /** A subscription's credit window: `prefetch` at SUBSCRIBE, widened by CREDIT up to this. */
  maxWindow: 10_000,
  /** CREDIT's `n` (PROTOCOL.md §7). */
  maxCredit: 1000,
} as const;

function schema(field: string, message: string): never {
  throw new MailboxError('E_SCHEMA', `${field} ${message}`);
}

export function checkTopic(topic: unknown, field = 'topic'): string {
  if (typeof topic !== 'string' || topic.length === 0) schema(field, 'must be a non-empty string');
  if (Buffer.byteLength(topic) > LIMITS.topicBytes) schema(field, `must be at most ${LIMITS.topicBytes} bytes`);
  return topic;
}

export function checkInt(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) schema(field, 'must be an integer');
  if (value < min || value > max) schema(field, `must be between ${min} and ${max}`);
  return value;
}

export function checkOptionalInt(value: unknown, field: string, min: number, max: number): number | undefined {
  return value === undefined ? undefined : checkInt(value, field, min, max);
}

export function checkIdemKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0) schema('idemKey', 'must be a non-empty string');
  if (Buffer.byteLength(key) > LIMITS.idemKeyBytes) schema('idemKey', `must be at most ${LIMITS.idemKeyBytes} bytes`);
  return key;
}

export function checkPayload(payload: unknown, maxBytes: number): Uint8Array {
  if (!(payload instanceof Uint8Array)) schema('payload', 'must be bytes (Uint8Array)');
  if (payload.byteLength > maxBytes) throw new MailboxError('E_FRAME_TOO_LARGE', `payload is ${payload.byteLength} bytes; the limit is ${maxBytes}`);
  return payload;
}

export function checkAttrs(attrs: unknown): Attrs | undefined {
  if (attrs === undefined) return undefined;
  if (typeof attrs !== 'object' || attrs === null || Array.isArray(attrs)) schema('attrs', 'must be a map of strings');
  const entries = Object.entries(attrs);
  if (entries.length > LIMITS.attrsEntries) schema('attrs', `must have at most ${LIMITS.attrsEntries} entries`);
  for (const [k, v] of entries) {
    if (k.length === 0 || k.length > LIMITS.attrKeyChars) schema(`attrs key ${JSON.stringify(k.slice(0, 80))}`, `must be 1 to ${LIMITS.attrKeyChars} characters`);
    if (typeof v !== 'string' || v.length > LIMITS.attrValueChars) schema(`attrs.${k}`, `must be a string of at most ${LIMITS.attrValueChars} characters`);
  }
  return attrs as Attrs;
}

export function checkMsgId(msgId: unknown): string {
  if (typeof msgId !== 'string' || !isUlid(msgId)) schema('msgId', 'must be a 26-character ULID');
  return msgId;
}

export function checkLeaseId(leaseId: unknown): string {
  if (typeof leaseId !== 'string' || leaseId.length === 0 || leaseId.length > LIMITS.leaseIdChars) schema('leaseId', `must be a string of 1 to ${LIMITS.leaseIdChars} characters`);
  return leaseId;
}
