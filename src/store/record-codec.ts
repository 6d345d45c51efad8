/**
 * Values of the format-3 records (keys.ts). A message record is written once at SEND and
 * never rewritten: `[u32 header length][msgpack header][payload]`, so a page read decodes the
 * small header and a payload read slices the same buffer without a copy.
 */
import { Packr } from 'msgpackr';
import type { AttemptRecord, Attrs, LeaseId, MessageMeta, MessageState, MsgId, SessionId, TenantId, Topic } from '../domain/types.ts';

export const packr = new Packr({ useRecords: false });

/** What never changes from SEND to ACK. */
export interface MessageHeader {
  idemKey: string;
  payloadHash: string;
  size: number;
  enqueuedAt: number;
  attrs?: Attrs;
}

/** What a failure or a delay changes (absent: attempt 0, ready, no history). */
export interface AttemptState {
  tid: number;
  attempt: number;
  state: MessageState;
  dueAt: number;
  history: AttemptRecord[];
}

/** One member of a delivery record. */
export interface LeaseMember {
  msgId: MsgId;
  tid: number;
  attempt: number;
  leaseId?: LeaseId;
  owner?: SessionId;
  dueAt: number;
}

export function encodeMessage(meta: MessageMeta, payload: Uint8Array): Buffer {
  const header = packr.pack(meta.attrs === undefined
    ? [meta.idemKey, meta.payloadHash, meta.size, meta.enqueuedAt]
    : [meta.idemKey, meta.payloadHash, meta.size, meta.enqueuedAt, meta.attrs]);
  const out = Buffer.allocUnsafe(4 + header.length + payload.byteLength);
  out.writeUInt32BE(header.length, 0);
  header.copy(out, 4);
  out.set(payload, 4 + header.length);
  return out;
}

export function decodeHeader(value: Uint8Array): MessageHeader {
  const buf = asBuffer(value);
  const length = buf.readUInt32BE(0);
  const [idemKey, payloadHash, size, enqueuedAt, attrs] = packr.unpack(buf.subarray(4, 4 + length)) as [string, string, number, number, Attrs?];
  const header: MessageHeader = { idemKey, payloadHash, size, enqueuedAt };
  if (attrs !== undefined) header.attrs = attrs;
  return header;
}

/** The payload part of a message record (a view, no copy). */
export function messagePayload(value: Uint8Array): Buffer {
  const buf = asBuffer(value);
  return buf.subarray(4 + buf.readUInt32BE(0));
}

/** The payload bytes of a record, or undefined when no record. */
export function payloadOf(value: Uint8Array | undefined): Buffer | undefined {
  return value === undefined ? undefined : messagePayload(value);
}

/** Whether a message in this state needs an attempt record. */
export function needsAttempt(meta: MessageMeta): boolean {
  return meta.state === 'delayed' || meta.attempt > 0 || meta.history.length > 0;
}

export function encodeAttempt(tid: number, meta: Pick<MessageMeta, 'attempt' | 'state' | 'dueAt' | 'history'>): Buffer {
  return packr.pack([tid, meta.attempt, meta.state, meta.dueAt, meta.history]);
}

export function decodeAttempt(value: Uint8Array): AttemptState {
  const [tid, attempt, state, dueAt, history] = packr.unpack(value) as [number, number, MessageState, number, AttemptRecord[]];
  return { tid, attempt, state, dueAt, history };
}

export function encodeDelivery(members: readonly LeaseMember[]): Buffer {
  const flat: unknown[] = [];
  for (const m of members) flat.push(m.msgId, m.tid, m.attempt, m.leaseId ?? null, m.owner ?? null, m.dueAt);
  return packr.pack(flat);
}

export function decodeDelivery(value: Uint8Array): LeaseMember[] {
  const flat = packr.unpack(value) as unknown[];
  const out: LeaseMember[] = [];
  for (let i = 0; i + 5 < flat.length; i += 6) {
    const m: LeaseMember = { msgId: flat[i] as MsgId, tid: flat[i + 1] as number, attempt: flat[i + 2] as number, dueAt: flat[i + 5] as number };
    if (flat[i + 3] !== null) m.leaseId = flat[i + 3] as LeaseId;
    if (flat[i + 4] !== null) m.owner = flat[i + 4] as SessionId;
    out.push(m);
  }
  return out;
}

/** A whole meta from its parts: the record, its topic, its attempt record and, when leased, its lease. */
export function assembleMeta(
  msgId: MsgId, tenant: TenantId, topic: Topic, header: MessageHeader, attempt: AttemptState | undefined, lease?: LeaseMember,
): MessageMeta {
  const meta: MessageMeta = {
    msgId, tenant, topic, idemKey: header.idemKey, payloadHash: header.payloadHash, size: header.size, enqueuedAt: header.enqueuedAt,
    attempt: attempt?.attempt ?? 0, state: attempt?.state ?? 'ready', dueAt: attempt?.dueAt ?? 0, history: attempt ? attempt.history.slice() : [],
  };
  if (header.attrs !== undefined) meta.attrs = { ...header.attrs };
  if (lease !== undefined) {
    meta.state = 'leased';
    meta.attempt = lease.attempt;
    meta.dueAt = lease.dueAt;
    if (lease.leaseId !== undefined) meta.leaseId = lease.leaseId;
    if (lease.owner !== undefined) meta.owner = lease.owner;
  }
  return meta;
}

function asBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}
