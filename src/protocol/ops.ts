/**
 * The operation table: `app_proto_id` ↔ name. Ids are stable; new operations take new ids.
 */

/** Operation ids. Requests (and their responses) and events share one number space. */
export const OPS = {
  HELLO: 0x0001,
  PING: 0x0002,
  SEND: 0x0010,
  SEND_BATCH: 0x0011,
  RECV: 0x0020,
  SUBSCRIBE: 0x0021,
  UNSUBSCRIBE: 0x0022,
  CREDIT: 0x0023,
  ACK: 0x0030,
  ACK_BATCH: 0x0031,
  NACK: 0x0032,
  EXTEND: 0x0033,
  DLQ_LIST: 0x0040,
  DLQ_REPROCESS: 0x0041,
  DLQ_PURGE: 0x0042,
  /** Event: server → client deliveries of a subscription. */
  DELIVER: 0x0080,
} as const;

export type OpName = keyof typeof OPS;
export type OpId = (typeof OPS)[OpName];
/** Operations a client may request. */
export type RequestOpId = Exclude<OpId, typeof OPS.DELIVER>;
/** Operations the server sends as events. */
export type EventOpId = typeof OPS.DELIVER;

const NAMES = new Map<number, OpName>();
for (const name of Object.keys(OPS) as OpName[]) NAMES.set(OPS[name], name);

/** The name of an op id, or undefined when the id is not defined. */
export function opName(id: number): OpName | undefined {
  return NAMES.get(id);
}

export function isRequestOp(id: number): id is RequestOpId {
  return id !== OPS.DELIVER && NAMES.has(id);
}

export function isEventOp(id: number): id is EventOpId {
  return id === OPS.DELIVER;
}
