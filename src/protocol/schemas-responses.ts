/**
 * Response and event body schemas, decoded as strictly as requests: a client refuses a
 * server that breaks the protocol just as the server refuses a client.
 */
import type { AttemptOutcome, Delivery, DlqEntry, LeaseId, TenantId, Topic } from '../domain/types.ts';
import {
  elementPath, keys, object, oneOf, onlyKeys, optAttrs, optStr, reqArray, reqBool, reqBytes, reqInt, reqMsgId, reqStr,
  sha256Hex, str, type Obj,
} from './fields.ts';
import { decodeWireError } from './errors-wire.ts';
import {
  MAX_BATCH, MAX_CREDIT, MAX_DLQ_LIST, MAX_FEATURE_BYTES, MAX_FEATURES, MAX_MESSAGES, MAX_PAYLOAD,
} from './limits.ts';
import { DLQ_REASONS, IDEM_KEY, LEASE_ID, REASON, SUBSCRIPTION_ID, TOPIC } from './schemas-requests.ts';
import type {
  AckBatchResponse, CountResponse, DeliverEvent, DlqListResponse, EmptyResponse, ExtendResponse, HelloResponse,
  RecvResponse, SendBatchResponse, SendBatchResult, SendResponse, SubscribeResponse, WireAttempt, WireDelivery,
  WireDlqEntry,
} from './types.ts';

const SAFE = Number.MAX_SAFE_INTEGER;
const MAX_HISTORY = 1000;

const LIMITS = keys('maxFrame', 'chunkSize', 'maxPayload', 'maxBatch');
const HELLO = keys('version', 'limits', 'features');
export function decodeHelloResponse(v: unknown): HelloResponse {
  const o = object(v, '');
  onlyKeys(o, HELLO, '');
  const l = object(o.limits, 'limits');
  onlyKeys(l, LIMITS, 'limits');
  const raw = reqArray(o, 'features', '', MAX_FEATURES);
  const features = new Array<string>(raw.length);
  for (let i = 0; i < raw.length; i++) features[i] = str(raw[i], `features[${i}]`, { max: MAX_FEATURE_BYTES, ident: true });
  return {
    version: reqInt(o, 'version', '', 1, 0xffff),
    limits: {
      maxFrame: reqInt(l, 'maxFrame', 'limits', 1, SAFE),
      chunkSize: reqInt(l, 'chunkSize', 'limits', 1, SAFE),
      maxPayload: reqInt(l, 'maxPayload', 'limits', 1, SAFE),
      maxBatch: reqInt(l, 'maxBatch', 'limits', 1, SAFE),
    },
    features,
  };
}

const SEND = keys('msgId', 'duplicate');
export function decodeSendResponse(v: unknown, path = ''): SendResponse {
  const o = object(v, path);
  onlyKeys(o, SEND, path);
  return { msgId: reqMsgId(o, 'msgId', path), duplicate: reqBool(o, 'duplicate', path) };
}

const RESULTS = keys('results');
export function decodeSendBatchResponse(v: unknown): SendBatchResponse {
  const o = object(v, '');
  onlyKeys(o, RESULTS, '');
  const raw = reqArray(o, 'results', '', MAX_BATCH);
  const results = new Array<SendBatchResult>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const path = elementPath('results', i);
    const item = object(raw[i], path);
    if (item.error !== undefined) {
      onlyKeys(item, ERROR_ITEM, path);
      results[i] = { error: decodeWireError(item.error, `${path}.error`) };
    } else {
      results[i] = decodeSendResponse(item, path);
    }
  }
  return { results };
}
const ERROR_ITEM = keys('error');

export function decodeAckBatchResponse(v: unknown): AckBatchResponse {
  const o = object(v, '');
  onlyKeys(o, RESULTS, '');
  const raw = reqArray(o, 'results', '', MAX_BATCH);
  const results = new Array<AckBatchResponse['results'][number]>(raw.length);
  for (let i = 0; i < raw.length; i++) results[i] = raw[i] === null ? null : decodeWireError(raw[i], elementPath('results', i));
  return { results };
}

const DELIVERY = keys('msgId', 'topic', 'attempt', 'leaseId', 'enqueuedAt', 'leaseDeadline', 'payload', 'payloadHash', 'attrs');
export function decodeDelivery(v: unknown, path: string): WireDelivery {
  const o = object(v, path);
  onlyKeys(o, DELIVERY, path);
  const out: WireDelivery = {
    msgId: reqMsgId(o, 'msgId', path),
    topic: reqStr(o, 'topic', path, TOPIC) as Topic,
    attempt: reqInt(o, 'attempt', path, 1, 0xffff_ffff),
    leaseId: reqStr(o, 'leaseId', path, LEASE_ID) as LeaseId,
    enqueuedAt: reqInt(o, 'enqueuedAt', path, 0, SAFE),
    leaseDeadline: reqInt(o, 'leaseDeadline', path, 0, SAFE),
    payload: reqBytes(o, 'payload', path, MAX_PAYLOAD),
    payloadHash: sha256Hex(o.payloadHash, path, 'payloadHash'),
  };
  const attrs = optAttrs(o, 'attrs', path);
  if (attrs !== undefined) out.attrs = attrs;
  return out;
}

function deliveries(o: Obj, max: number): WireDelivery[] {
  const raw = reqArray(o, 'deliveries', '', max);
  const out = new Array<WireDelivery>(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = decodeDelivery(raw[i], elementPath('deliveries', i));
  return out;
}

const RECV = keys('deliveries');
export function decodeRecvResponse(v: unknown): RecvResponse {
  const o = object(v, '');
  onlyKeys(o, RECV, '');
  return { deliveries: deliveries(o, MAX_MESSAGES) };
}

const DELIVER = keys('subscriptionId', 'deliveries');
/** DELIVER event: many deliveries per frame. */
export function decodeDeliverEvent(v: unknown): DeliverEvent {
  const o = object(v, '');
  onlyKeys(o, DELIVER, '');
  return { subscriptionId: reqStr(o, 'subscriptionId', '', SUBSCRIPTION_ID), deliveries: deliveries(o, MAX_CREDIT) };
}

const SUBSCRIBE = keys('subscriptionId');
export function decodeSubscribeResponse(v: unknown): SubscribeResponse {
  const o = object(v, '');
  onlyKeys(o, SUBSCRIBE, '');
  return { subscriptionId: reqStr(o, 'subscriptionId', '', SUBSCRIPTION_ID) };
}

const EXTEND = keys('leaseDeadline');
export function decodeExtendResponse(v: unknown): ExtendResponse {
  const o = object(v, '');
  onlyKeys(o, EXTEND, '');
  return { leaseDeadline: reqInt(o, 'leaseDeadline', '', 0, SAFE) };
}

const COUNT = keys('count');
export function decodeCountResponse(v: unknown): CountResponse {
  const o = object(v, '');
  onlyKeys(o, COUNT, '');
  return { count: reqInt(o, 'count', '', 0, SAFE) };
}

const NONE = keys();
export function decodeEmptyResponse(v: unknown): EmptyResponse {
  onlyKeys(object(v, ''), NONE, '');
  return {};
}

const OUTCOMES: ReadonlySet<AttemptOutcome> = new Set<AttemptOutcome>(['expired', 'nacked', 'session_lost', 'server_restart']);
const ATTEMPT = keys('attempt', 'outcome', 'at', 'reason', 'session');
const ENTRY = keys(
  'msgId', 'topic', 'idemKey', 'payloadHash', 'size', 'attrs', 'enqueuedAt', 'attempt', 'reason', 'deadAt', 'history', 'payload',
);
export function decodeDlqEntry(v: unknown, path: string): WireDlqEntry {
  const o = object(v, path);
  onlyKeys(o, ENTRY, path);
  const raw = reqArray(o, 'history', path, MAX_HISTORY);
  const history = new Array<WireAttempt>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const hp = `${path}.history[${i}]`;
    const h = object(raw[i], hp);
    onlyKeys(h, ATTEMPT, hp);
    const a: WireAttempt = { attempt: reqInt(h, 'attempt', hp, 1, 0xffff_ffff), outcome: oneOf(h.outcome, `${hp}.outcome`, OUTCOMES), at: reqInt(h, 'at', hp, 0, SAFE) };
    const reason = optStr(h, 'reason', hp, REASON);
    if (reason !== undefined) a.reason = reason;
    const session = optStr(h, 'session', hp, REASON);
    if (session !== undefined) a.session = session;
    history[i] = a;
  }
  const out: WireDlqEntry = {
    msgId: reqMsgId(o, 'msgId', path),
    topic: reqStr(o, 'topic', path, TOPIC) as Topic,
    idemKey: reqStr(o, 'idemKey', path, IDEM_KEY),
    payloadHash: sha256Hex(o.payloadHash, path, 'payloadHash'),
    size: reqInt(o, 'size', path, 0, MAX_PAYLOAD),
    enqueuedAt: reqInt(o, 'enqueuedAt', path, 0, SAFE),
    attempt: reqInt(o, 'attempt', path, 0, 0xffff_ffff),
    reason: oneOf(o.reason, `${path}.reason`, DLQ_REASONS),
    deadAt: reqInt(o, 'deadAt', path, 0, SAFE),
    history,
  };
  const attrs = optAttrs(o, 'attrs', path);
  if (attrs !== undefined) out.attrs = attrs;
  if (o.payload !== undefined) out.payload = reqBytes(o, 'payload', path, MAX_PAYLOAD);
  return out;
}

const DLQ_LIST = keys('entries');
export function decodeDlqListResponse(v: unknown): DlqListResponse {
  const o = object(v, '');
  onlyKeys(o, DLQ_LIST, '');
  const raw = reqArray(o, 'entries', '', MAX_DLQ_LIST);
  const entries = new Array<WireDlqEntry>(raw.length);
  for (let i = 0; i < raw.length; i++) entries[i] = decodeDlqEntry(raw[i], elementPath('entries', i));
  return { entries };
}

/** The wire form of a domain Delivery (drops `tenant`, which travels in the header). */
export function toWireDelivery(d: Delivery): WireDelivery {
  const out: WireDelivery = {
    msgId: d.msgId, topic: d.topic, attempt: d.attempt, leaseId: d.leaseId, enqueuedAt: d.enqueuedAt,
    leaseDeadline: d.leaseDeadline, payload: d.payload, payloadHash: d.payloadHash,
  };
  if (d.attrs !== undefined) out.attrs = d.attrs;
  return out;
}

/** A domain Delivery from its wire form and the frame's tenant. */
export function fromWireDelivery(w: WireDelivery, tenant: TenantId): Delivery {
  const out: Delivery = { ...w, tenant };
  return out;
}

function toWireAttempt(h: DlqEntry['meta']['history'][number]): WireAttempt {
  const a: WireAttempt = { attempt: h.attempt, outcome: h.outcome, at: h.at };
  if (h.reason !== undefined) a.reason = h.reason;
  if (h.session !== undefined) a.session = h.session;
  return a;
}

/** The wire form of a DLQ entry (flattened; tenant, owner, lease and state stay on the server). */
export function toWireDlqEntry(e: DlqEntry & { payload?: Uint8Array }): WireDlqEntry {
  const m = e.meta;
  const out: WireDlqEntry = {
    msgId: m.msgId, topic: m.topic, idemKey: m.idemKey, payloadHash: m.payloadHash, size: m.size,
    enqueuedAt: m.enqueuedAt, attempt: m.attempt, reason: e.reason, deadAt: e.deadAt,
    history: m.history.map(toWireAttempt),
  };
  if (m.attrs !== undefined) out.attrs = m.attrs;
  if (e.payload !== undefined) out.payload = e.payload;
  return out;
}


