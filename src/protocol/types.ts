/**
 * The TypeScript shapes of every OAP/1 body. Field names are the wire's map keys. The
 * tenant is never in a body: it travels in the header.
 */
import type { ErrorCode } from '../errors.ts';
import type { Attrs, AttemptOutcome, DlqEntry, LeaseId, MsgId, Topic } from '../domain/types.ts';

export interface HelloRequest {
  /** Protocol versions the client speaks; the server picks one. */
  versions: number[];
  client?: string;
}
export interface HelloLimits {
  maxFrame: number;
  chunkSize: number;
  maxPayload: number;
  maxBatch: number;
}
export interface HelloResponse {
  version: number;
  limits: HelloLimits;
  features: string[];
}

export interface SendRequest {
  topic: Topic;
  idemKey: string;
  payload: Uint8Array;
  attrs?: Attrs;
  delayMs?: number;
  /** Optional hex SHA-256 of `payload`: the server refuses the message with E_INTEGRITY if it differs. */
  payloadHash?: string;
}
export interface SendResponse {
  msgId: MsgId;
  duplicate: boolean;
}
export interface SendBatchRequest {
  items: SendRequest[];
}
/** A failure inside a batch: the body of an error response without corrId. */
export interface WireError {
  code: ErrorCode;
  message: string;
  retryAfterMs?: number;
}
export type SendBatchResult = SendResponse | { error: WireError };
export interface SendBatchResponse {
  results: SendBatchResult[];
}

export interface RecvRequest {
  topic: Topic;
  visibilityMs?: number;
  maxMessages: number;
  maxBytes?: number;
  waitMs?: number;
}
/** A delivery as it travels: `Delivery` of the domain without `tenant` (in the header). */
export interface WireDelivery {
  msgId: MsgId;
  topic: Topic;
  attempt: number;
  leaseId: LeaseId;
  /** Wall-clock ms. */
  enqueuedAt: number;
  /** Wall-clock ms. */
  leaseDeadline: number;
  payload: Uint8Array;
  /** Lower-case hex SHA-256 of `payload`. */
  payloadHash: string;
  attrs?: Attrs;
}
export interface RecvResponse {
  deliveries: WireDelivery[];
}

export interface SubscribeRequest {
  topic: Topic;
  visibilityMs?: number;
  prefetch: number;
}
export interface SubscribeResponse {
  subscriptionId: string;
}
export interface UnsubscribeRequest {
  subscriptionId: string;
}
export interface CreditRequest {
  subscriptionId: string;
  n: number;
}

export interface AckRequest {
  msgId: MsgId;
  leaseId: LeaseId;
}
export interface AckBatchRequest {
  items: AckRequest[];
}
/** null where the ACK at that index succeeded. */
export interface AckBatchResponse {
  results: Array<WireError | null>;
}
export interface NackRequest {
  msgId: MsgId;
  leaseId: LeaseId;
  delayMs?: number;
  reason?: string;
}
export interface ExtendRequest {
  msgId: MsgId;
  leaseId: LeaseId;
  ms: number;
}
export interface ExtendResponse {
  /** Wall-clock ms. */
  leaseDeadline: number;
}

export type DlqReason = DlqEntry['reason'];
export interface DlqListRequest {
  topic?: Topic;
  reason?: DlqReason;
  limit?: number;
  after?: MsgId;
}
export interface DlqFilterRequest {
  topic?: Topic;
  reason?: DlqReason;
  limit?: number;
}
export interface WireAttempt {
  attempt: number;
  outcome: AttemptOutcome;
  /** Wall-clock ms. */
  at: number;
  reason?: string;
  /** The server's session id that held the attempt's lease. */
  session?: string;
}
/** A DLQ entry as it travels: flattened, without tenant, owner or lease. */
export interface WireDlqEntry {
  msgId: MsgId;
  topic: Topic;
  idemKey: string;
  payloadHash: string;
  size: number;
  attrs?: Attrs;
  enqueuedAt: number;
  attempt: number;
  reason: DlqReason;
  deadAt: number;
  history: WireAttempt[];
  payload?: Uint8Array;
}
export interface DlqListResponse {
  entries: WireDlqEntry[];
}
export interface CountResponse {
  count: number;
}

export type PingRequest = Record<string, never>;
export type EmptyResponse = Record<string, never>;

export interface DeliverEvent {
  subscriptionId: string;
  deliveries: WireDelivery[];
}

/** The body of a RESP frame whose code is not 200. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /** The corr_id of the request, as a decimal string (u64 does not fit a JS number). */
  corrId: string;
  retryAfterMs?: number;
}
