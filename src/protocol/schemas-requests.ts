/**
 * Request body schemas: one hand-written decoder per operation. Each refuses unknown
 * fields, wrong types, missing required fields and oversize values with E_SCHEMA, and
 * returns a fresh object holding only the fields present; the batch decoders keep the items
 * msgpack built (checked in place), so a batch costs no second object per item.
 */
import type { LeaseId, Topic } from '../domain/types.ts';
import {
  elementPath, int, keys, msgId, object, oneOf, onlyKeys, optAttrs, optInt, optStr, reqArray, reqBytes, reqInt, reqMsgId, reqStr, sha256Hex,
  type Obj, type StrRule,
} from './fields.ts';
import {
  MAX_BATCH, MAX_CLIENT_BYTES, MAX_CREDIT, MAX_DLQ_LIST, MAX_DURATION_MS, MAX_IDEM_KEY_BYTES, MAX_INT31, MAX_LEASE_ID_BYTES,
  MAX_MESSAGES, MAX_PAYLOAD, MAX_REASON_BYTES, MAX_SUBSCRIPTION_ID_BYTES, MAX_TOPIC_BYTES, MAX_VERSIONS,
} from './limits.ts';
import type {
  AckBatchRequest, AckRequest, CreditRequest, DlqFilterRequest, DlqListRequest, DlqReason, ExtendRequest, HelloRequest,
  NackRequest, PingRequest, RecvRequest, SendBatchRequest, SendRequest, SubscribeRequest, UnsubscribeRequest,
} from './types.ts';

export const TOPIC: StrRule = { max: MAX_TOPIC_BYTES, ident: true };
export const IDEM_KEY: StrRule = { max: MAX_IDEM_KEY_BYTES, ident: true };
export const LEASE_ID: StrRule = { max: MAX_LEASE_ID_BYTES, ident: true };
export const SUBSCRIPTION_ID: StrRule = { max: MAX_SUBSCRIPTION_ID_BYTES, ident: true };
export const REASON: StrRule = { max: MAX_REASON_BYTES, min: 0 };
/** Largest DLQ_REPROCESS / DLQ_PURGE limit. */
const MAX_DLQ_LIMIT = 0xffff_ffff;

export const DLQ_REASONS: ReadonlySet<DlqReason> = new Set<DlqReason>([
  'expired', 'nacked', 'session_lost', 'server_restart',
]);

const HELLO = keys('versions', 'client');
export function decodeHello(v: unknown, path = ''): HelloRequest {
  const o = object(v, path);
  onlyKeys(o, HELLO, path);
  const raw = reqArray(o, 'versions', path, MAX_VERSIONS, 1);
  const versions = new Array<number>(raw.length);
  for (let i = 0; i < raw.length; i++) versions[i] = int(raw[i], `${path === '' ? '' : `${path}.`}versions[${i}]`, 1, 0xffff);
  const out: HelloRequest = { versions };
  const client = optStr(o, 'client', path, { max: MAX_CLIENT_BYTES });
  if (client !== undefined) out.client = client;
  return out;
}

const SEND = keys('topic', 'idemKey', 'payload', 'attrs', 'delayMs', 'payloadHash');
export function decodeSend(v: unknown, path = ''): SendRequest {
  const o = object(v, path);
  onlyKeys(o, SEND, path);
  const out: SendRequest = {
    topic: reqStr(o, 'topic', path, TOPIC) as Topic,
    idemKey: reqStr(o, 'idemKey', path, IDEM_KEY),
    payload: reqBytes(o, 'payload', path, MAX_PAYLOAD),
  };
  const attrs = optAttrs(o, 'attrs', path);
  if (attrs !== undefined) out.attrs = attrs;
  const delayMs = optInt(o, 'delayMs', path, 0, MAX_DURATION_MS);
  if (delayMs !== undefined) out.delayMs = delayMs;
  if (o.payloadHash !== undefined) out.payloadHash = sha256Hex(o.payloadHash, `${path ? `${path}.` : ''}payloadHash`);
  return out;
}

const SEND_BATCH = keys('items');
/**
 * SEND_BATCH in one strict pass: each item is checked like a SEND and kept as the map msgpack
 * built (normalised in place), in the array msgpack built: no second object per message.
 */
export function decodeSendBatch(v: unknown, path = ''): SendBatchRequest {
  const o = object(v, path);
  onlyKeys(o, SEND_BATCH, path);
  const raw = reqArray(o, 'items', path, MAX_BATCH, 1);
  for (let i = 0; i < raw.length; i++) raw[i] = checkSend(raw[i], elementPath('items', i));
  return { items: raw as SendRequest[] };
}

/** A SEND item checked where it is; only an integer that came as a bigint is rewritten. */
function checkSend(v: unknown, path: string): SendRequest {
  const o = object(v, path);
  onlyKeys(o, SEND, path);
  reqStr(o, 'topic', path, TOPIC);
  reqStr(o, 'idemKey', path, IDEM_KEY);
  reqBytes(o, 'payload', path, MAX_PAYLOAD);
  optAttrs(o, 'attrs', path);
  if (o.delayMs !== undefined) o.delayMs = int(o.delayMs, path, 0, MAX_DURATION_MS, 'delayMs');
  if (o.payloadHash !== undefined) sha256Hex(o.payloadHash, path, 'payloadHash');
  return o as unknown as SendRequest;
}

const RECV = keys('topic', 'visibilityMs', 'maxMessages', 'maxBytes', 'waitMs');
export function decodeRecv(v: unknown, path = ''): RecvRequest {
  const o = object(v, path);
  onlyKeys(o, RECV, path);
  const out: RecvRequest = {
    topic: reqStr(o, 'topic', path, TOPIC) as Topic,
    maxMessages: reqInt(o, 'maxMessages', path, 1, MAX_MESSAGES),
  };
  const visibilityMs = optInt(o, 'visibilityMs', path, 1, MAX_DURATION_MS);
  if (visibilityMs !== undefined) out.visibilityMs = visibilityMs;
  const maxBytes = optInt(o, 'maxBytes', path, 1, MAX_INT31);
  if (maxBytes !== undefined) out.maxBytes = maxBytes;
  const waitMs = optInt(o, 'waitMs', path, 0, MAX_DURATION_MS);
  if (waitMs !== undefined) out.waitMs = waitMs;
  return out;
}

const SUBSCRIBE = keys('topic', 'visibilityMs', 'prefetch');
export function decodeSubscribe(v: unknown, path = ''): SubscribeRequest {
  const o = object(v, path);
  onlyKeys(o, SUBSCRIBE, path);
  const out: SubscribeRequest = {
    topic: reqStr(o, 'topic', path, TOPIC) as Topic,
    prefetch: reqInt(o, 'prefetch', path, 1, MAX_CREDIT),
  };
  const visibilityMs = optInt(o, 'visibilityMs', path, 1, MAX_DURATION_MS);
  if (visibilityMs !== undefined) out.visibilityMs = visibilityMs;
  return out;
}

const UNSUBSCRIBE = keys('subscriptionId');
export function decodeUnsubscribe(v: unknown, path = ''): UnsubscribeRequest {
  const o = object(v, path);
  onlyKeys(o, UNSUBSCRIBE, path);
  return { subscriptionId: reqStr(o, 'subscriptionId', path, SUBSCRIPTION_ID) };
}

const CREDIT = keys('subscriptionId', 'n');
export function decodeCredit(v: unknown, path = ''): CreditRequest {
  const o = object(v, path);
  onlyKeys(o, CREDIT, path);
  return { subscriptionId: reqStr(o, 'subscriptionId', path, SUBSCRIPTION_ID), n: reqInt(o, 'n', path, 1, MAX_CREDIT) };
}

const ACK = keys('msgId', 'leaseId');
export function decodeAck(v: unknown, path = ''): AckRequest {
  const o = object(v, path);
  onlyKeys(o, ACK, path);
  return { msgId: reqMsgId(o, 'msgId', path), leaseId: reqStr(o, 'leaseId', path, LEASE_ID) as LeaseId };
}

const ACK_BATCH = keys('items');
/** ACK_BATCH in one strict pass: the items msgpack built are checked and kept as they are. */
export function decodeAckBatch(v: unknown, path = ''): AckBatchRequest {
  const o = object(v, path);
  onlyKeys(o, ACK_BATCH, path);
  const raw = reqArray(o, 'items', path, MAX_BATCH, 1);
  for (let i = 0; i < raw.length; i++) {
    const p = elementPath('items', i);
    const item = object(raw[i], p);
    onlyKeys(item, ACK, p);
    reqMsgId(item, 'msgId', p);
    reqStr(item, 'leaseId', p, LEASE_ID);
  }
  return { items: raw as AckRequest[] };
}

const NACK = keys('msgId', 'leaseId', 'delayMs', 'reason');
export function decodeNack(v: unknown, path = ''): NackRequest {
  const o = object(v, path);
  onlyKeys(o, NACK, path);
  const out: NackRequest = { msgId: reqMsgId(o, 'msgId', path), leaseId: reqStr(o, 'leaseId', path, LEASE_ID) as LeaseId };
  const delayMs = optInt(o, 'delayMs', path, 0, MAX_DURATION_MS);
  if (delayMs !== undefined) out.delayMs = delayMs;
  const reason = optStr(o, 'reason', path, REASON);
  if (reason !== undefined) out.reason = reason;
  return out;
}

const EXTEND = keys('msgId', 'leaseId', 'ms');
export function decodeExtend(v: unknown, path = ''): ExtendRequest {
  const o = object(v, path);
  onlyKeys(o, EXTEND, path);
  return {
    msgId: reqMsgId(o, 'msgId', path),
    leaseId: reqStr(o, 'leaseId', path, LEASE_ID) as LeaseId,
    ms: reqInt(o, 'ms', path, 1, MAX_DURATION_MS),
  };
}

const DLQ_LIST = keys('topic', 'reason', 'limit', 'after');
export function decodeDlqList(v: unknown, path = ''): DlqListRequest {
  const o = object(v, path);
  onlyKeys(o, DLQ_LIST, path);
  const out: DlqListRequest = decodeDlqFilter(o, path, MAX_DLQ_LIST);
  if (o.after !== undefined) out.after = msgId(o.after, path === '' ? 'after' : `${path}.after`);
  return out;
}

const DLQ_FILTER = keys('topic', 'reason', 'limit');
export function decodeDlqReprocess(v: unknown, path = ''): DlqFilterRequest {
  const o = object(v, path);
  onlyKeys(o, DLQ_FILTER, path);
  return decodeDlqFilter(o, path, MAX_DLQ_LIMIT);
}

function decodeDlqFilter(o: Obj, path: string, maxLimit: number): DlqFilterRequest {
  const out: DlqFilterRequest = {};
  const topic = optStr(o, 'topic', path, TOPIC);
  if (topic !== undefined) out.topic = topic as Topic;
  if (o.reason !== undefined) out.reason = oneOf(o.reason, path === '' ? 'reason' : `${path}.reason`, DLQ_REASONS);
  const limit = optInt(o, 'limit', path, 1, maxLimit);
  if (limit !== undefined) out.limit = limit;
  return out;
}

const NONE = keys();
export function decodeEmpty(v: unknown, path = ''): PingRequest {
  onlyKeys(object(v, path), NONE, path);
  return {};
}
