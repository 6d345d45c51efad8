/**
 * DELIVER event bodies decoded in one pass straight into the caller's delivery objects: the
 * same checks, in the same order, as decodeDeliverEvent (schemas-responses.ts), but each
 * item's checked fields go to `make` instead of into a WireDelivery first, so a receiver
 * builds one object per delivery, not two. A test holds both decoders to the same answers.
 */
import type { Attrs, LeaseId, MsgId, Topic } from '../domain/types.ts';
import {
  elementPath, keys, object, onlyKeys, optAttrs, reqArray, reqBytes, reqInt, reqMsgId, reqStr, sha256Hex,
} from './fields.ts';
import { MAX_CREDIT, MAX_PAYLOAD } from './limits.ts';
import { LEASE_ID, SUBSCRIPTION_ID, TOPIC } from './schemas-requests.ts';

const SAFE = Number.MAX_SAFE_INTEGER;
const DELIVER = keys('subscriptionId', 'deliveries');
const DELIVERY = keys('msgId', 'topic', 'attempt', 'leaseId', 'enqueuedAt', 'leaseDeadline', 'payload', 'payloadHash', 'attrs');

/** Builds the receiver's object for one checked delivery. */
export type MakeDelivery<T> = (
  msgId: MsgId, topic: Topic, attempt: number, leaseId: LeaseId, enqueuedAt: number, leaseDeadline: number,
  payload: Uint8Array, payloadHash: string, attrs: Attrs | undefined,
) => T;

/** A decoded DELIVER event (`value` is the body as decodeBody returned it). Throws E_SCHEMA like decodeDeliverEvent. */
export function decodeDeliverWith<T>(value: unknown, make: MakeDelivery<T>): { subscriptionId: string; deliveries: T[] } {
  const o = object(value, '');
  onlyKeys(o, DELIVER, '');
  const subscriptionId = reqStr(o, 'subscriptionId', '', SUBSCRIPTION_ID);
  const raw = reqArray(o, 'deliveries', '', MAX_CREDIT);
  const deliveries = new Array<T>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const path = elementPath('deliveries', i);
    const d = object(raw[i], path);
    onlyKeys(d, DELIVERY, path);
    deliveries[i] = make(
      reqMsgId(d, 'msgId', path),
      reqStr(d, 'topic', path, TOPIC) as Topic,
      reqInt(d, 'attempt', path, 1, 0xffff_ffff),
      reqStr(d, 'leaseId', path, LEASE_ID) as LeaseId,
      reqInt(d, 'enqueuedAt', path, 0, SAFE),
      reqInt(d, 'leaseDeadline', path, 0, SAFE),
      reqBytes(d, 'payload', path, MAX_PAYLOAD),
      hashField(d.payloadHash, path),
      optAttrs(d, 'attrs', path),
    );
  }
  return { subscriptionId, deliveries };
}

/** sha256Hex's check, building its error path only for the error (the happy path is per message). */
function hashField(v: unknown, path: string): string {
  if (typeof v === 'string' && v.length === 64) {
    let ok = true;
    for (let i = 0; i < 64 && ok; i++) {
      const c = v.charCodeAt(i);
      ok = (c >= 48 && c <= 57) || (c >= 97 && c <= 102);
    }
    if (ok) return v;
  }
  return sha256Hex(v, `${path}.payloadHash`);
}
