/**
 * Per-operation dispatch: which schema decodes which body, and typed encoders that run
 * the same schema before writing (so a sender cannot emit what a receiver refuses).
 */
import { MailboxError } from '../errors.ts';
import { encodeBody } from './body.ts';
import { OPS, isRequestOp, type EventOpId, type RequestOpId } from './ops.ts';
import * as rq from './schemas-requests.ts';
import * as rs from './schemas-responses.ts';
import type {
  AckBatchRequest, AckBatchResponse, AckRequest, CountResponse, CreditRequest, DeliverEvent, DlqFilterRequest,
  DlqListRequest, DlqListResponse, EmptyResponse, ExtendRequest, ExtendResponse, HelloRequest, HelloResponse,
  NackRequest, PingRequest, RecvRequest, RecvResponse, SendBatchRequest, SendBatchResponse, SendRequest,
  SendResponse, SubscribeRequest, SubscribeResponse, UnsubscribeRequest,
} from './types.ts';

/** Request body type of each op. */
export interface RequestMap {
  [OPS.HELLO]: HelloRequest;
  [OPS.PING]: PingRequest;
  [OPS.SEND]: SendRequest;
  [OPS.SEND_BATCH]: SendBatchRequest;
  [OPS.RECV]: RecvRequest;
  [OPS.SUBSCRIBE]: SubscribeRequest;
  [OPS.UNSUBSCRIBE]: UnsubscribeRequest;
  [OPS.CREDIT]: CreditRequest;
  [OPS.ACK]: AckRequest;
  [OPS.ACK_BATCH]: AckBatchRequest;
  [OPS.NACK]: NackRequest;
  [OPS.EXTEND]: ExtendRequest;
  [OPS.DLQ_LIST]: DlqListRequest;
  [OPS.DLQ_REPROCESS]: DlqFilterRequest;
  [OPS.DLQ_PURGE]: DlqFilterRequest;
}

/** Success response body type of each op. */
export interface ResponseMap {
  [OPS.HELLO]: HelloResponse;
  [OPS.PING]: EmptyResponse;
  [OPS.SEND]: SendResponse;
  [OPS.SEND_BATCH]: SendBatchResponse;
  [OPS.RECV]: RecvResponse;
  [OPS.SUBSCRIBE]: SubscribeResponse;
  [OPS.UNSUBSCRIBE]: EmptyResponse;
  [OPS.CREDIT]: EmptyResponse;
  [OPS.ACK]: EmptyResponse;
  [OPS.ACK_BATCH]: AckBatchResponse;
  [OPS.NACK]: EmptyResponse;
  [OPS.EXTEND]: ExtendResponse;
  [OPS.DLQ_LIST]: DlqListResponse;
  [OPS.DLQ_REPROCESS]: CountResponse;
  [OPS.DLQ_PURGE]: CountResponse;
}

/** Event body type of each event op. */
export interface EventMap {
  [OPS.DELIVER]: DeliverEvent;
}

/** Any decoded request, tagged with its op: switch on `op` to narrow `body`. */
export type AnyRequest = { [K in RequestOpId]: { op: K; body: RequestMap[K] } }[RequestOpId];

type Decoders<M> = { [K in keyof M]: (v: unknown) => M[K] };

const REQUESTS: Decoders<RequestMap> = {
  [OPS.HELLO]: (v) => rq.decodeHello(v),
  [OPS.PING]: (v) => rq.decodeEmpty(v),
  [OPS.SEND]: (v) => rq.decodeSend(v),
  [OPS.SEND_BATCH]: (v) => rq.decodeSendBatch(v),
  [OPS.RECV]: (v) => rq.decodeRecv(v),
  [OPS.SUBSCRIBE]: (v) => rq.decodeSubscribe(v),
  [OPS.UNSUBSCRIBE]: (v) => rq.decodeUnsubscribe(v),
  [OPS.CREDIT]: (v) => rq.decodeCredit(v),
  [OPS.ACK]: (v) => rq.decodeAck(v),
  [OPS.ACK_BATCH]: (v) => rq.decodeAckBatch(v),
  [OPS.NACK]: (v) => rq.decodeNack(v),
  [OPS.EXTEND]: (v) => rq.decodeExtend(v),
  [OPS.DLQ_LIST]: (v) => rq.decodeDlqList(v),
  [OPS.DLQ_REPROCESS]: (v) => rq.decodeDlqReprocess(v),
  [OPS.DLQ_PURGE]: (v) => rq.decodeDlqReprocess(v),
};

const RESPONSES: Decoders<ResponseMap> = {
  [OPS.HELLO]: rs.decodeHelloResponse,
  [OPS.PING]: rs.decodeEmptyResponse,
  [OPS.SEND]: (v) => rs.decodeSendResponse(v),
  [OPS.SEND_BATCH]: rs.decodeSendBatchResponse,
  [OPS.RECV]: rs.decodeRecvResponse,
  [OPS.SUBSCRIBE]: rs.decodeSubscribeResponse,
  [OPS.UNSUBSCRIBE]: rs.decodeEmptyResponse,
  [OPS.CREDIT]: rs.decodeEmptyResponse,
  [OPS.ACK]: rs.decodeEmptyResponse,
  [OPS.ACK_BATCH]: rs.decodeAckBatchResponse,
  [OPS.NACK]: rs.decodeEmptyResponse,
  [OPS.EXTEND]: rs.decodeExtendResponse,
  [OPS.DLQ_LIST]: rs.decodeDlqListResponse,
  [OPS.DLQ_REPROCESS]: rs.decodeCountResponse,
  [OPS.DLQ_PURGE]: rs.decodeCountResponse,
};

const EVENTS: Decoders<EventMap> = {
  [OPS.DELIVER]: rs.decodeDeliverEvent,
};

function unknownOp(op: number, what: string): MailboxError {
  return new MailboxError('E_SCHEMA', `app_proto_id: ${op} is not a${what === 'event' ? 'n' : ''} ${what} operation`);
}

/**
 * Validates a decoded request body (from `decodeBody`) against the schema of `op`.
 * Throws E_SCHEMA naming the field, or naming app_proto_id when `op` is not a request op.
 */
export function decodeRequest<K extends RequestOpId>(op: K, value: unknown): RequestMap[K];
export function decodeRequest(op: number, value: unknown): AnyRequest['body'];
export function decodeRequest(op: number, value: unknown): AnyRequest['body'] {
  if (!isRequestOp(op)) throw unknownOp(op, 'request');
  return REQUESTS[op](value);
}

/** Like `decodeRequest`, tagged with the op so a switch narrows the body. */
export function decodeAnyRequest(op: number, value: unknown): AnyRequest {
  return { op, body: decodeRequest(op, value) } as AnyRequest;
}

/** Validates a success (code 200) response body of `op`. Error bodies go to `decodeError`. */
export function decodeResponse<K extends RequestOpId>(op: K, value: unknown): ResponseMap[K];
export function decodeResponse(op: number, value: unknown): ResponseMap[RequestOpId];
export function decodeResponse(op: number, value: unknown): ResponseMap[RequestOpId] {
  if (!isRequestOp(op)) throw unknownOp(op, 'request');
  return RESPONSES[op](value);
}

/** Validates an event body (EVENT frames). */
export function decodeEvent<K extends EventOpId>(op: K, value: unknown): EventMap[K];
export function decodeEvent(op: number, value: unknown): EventMap[EventOpId];
export function decodeEvent(op: number, value: unknown): EventMap[EventOpId] {
  if (op !== OPS.DELIVER) throw unknownOp(op, 'event');
  return EVENTS[op](value);
}

/** Validates then encodes a request body. */
export function encodeRequestBody<K extends RequestOpId>(op: K, request: RequestMap[K]): Buffer {
  return encodeBody(decodeRequest(op, request));
}

/** Validates then encodes a success response body. */
export function encodeResponseBody<K extends RequestOpId>(op: K, response: ResponseMap[K]): Buffer {
  return encodeBody(decodeResponse(op, response));
}

/** Validates then encodes an event body. */
export function encodeEventBody<K extends EventOpId>(op: K, event: EventMap[K]): Buffer {
  return encodeBody(decodeEvent(op, event));
}


