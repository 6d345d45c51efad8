/**
 * OAP/1: the svc-mailbox wire protocol. See docs/PROTOCOL.md for the specification.
 * Everything public is named here; files under src/protocol are internal.
 */
export {
  PROTOCOL_VERSION, HEADER_SIZE, MAX_FRAME, CHUNK_SIZE, MAX_CAP, MAX_BODY, MAX_PAYLOAD, MAX_BATCH, MAX_MESSAGES,
  MAX_DLQ_LIST, MAX_CREDIT, MAX_DURATION_MS, MAX_TOPIC_BYTES, MAX_IDEM_KEY_BYTES, MAX_ATTRS, MAX_ATTR_KEY_BYTES,
  MAX_ATTR_VALUE_BYTES, MAX_LEASE_ID_BYTES, MAX_SUBSCRIPTION_ID_BYTES, MAX_REASON_BYTES, MAX_ERROR_MESSAGE_BYTES,
  MAX_DEPTH, MAX_MAP_ENTRIES,
} from './limits.ts';
export { FLAGS, SINGLE, STATUS_CODES, STATUS_OK, frameKind, beginsMessage, checkFlags, type FrameKind } from './flags.ts';
export { OPS, opName, isRequestOp, isEventOp, type OpName, type OpId, type RequestOpId, type EventOpId } from './ops.ts';
export { decodeHeader, isTenantId, type FrameHeader } from './header.ts';
export { encodeFrame, decodeFrame, encodeMessage, encodeValueMessage, type FrameParams, type DecodedFrame } from './frame.ts';
export {
  chunkFrames, ChunkReassembler, type MessageParams, type AssembledMessage, type ExpiredStream, type ReassemblerOptions,
} from './chunks.ts';
export { encodeBody, decodeBody } from './body.ts';
export {
  decodeRequest, decodeAnyRequest, decodeResponse, decodeEvent, encodeRequestBody, encodeResponseBody, encodeEventBody,
  type RequestMap, type ResponseMap, type EventMap, type AnyRequest,
} from './schemas.ts';
export { toWireDelivery, fromWireDelivery, toWireDlqEntry } from './schemas-responses.ts';
export { encodeError, decodeError, errorBody, errorToWire, errorFromWire } from './errors-wire.ts';
export { hashPayload, verifyPayload } from './integrity.ts';
export type {
  HelloRequest, HelloResponse, HelloLimits, SendRequest, SendResponse, SendBatchRequest, SendBatchResponse,
  SendBatchResult, WireError, RecvRequest, RecvResponse, WireDelivery, SubscribeRequest, SubscribeResponse,
  UnsubscribeRequest, CreditRequest, AckRequest, AckBatchRequest, AckBatchResponse, NackRequest, ExtendRequest,
  ExtendResponse, DlqReason, DlqListRequest, DlqFilterRequest, WireAttempt, WireDlqEntry, DlqListResponse,
  CountResponse, PingRequest, EmptyResponse, DeliverEvent, ErrorBody,
} from './types.ts';
