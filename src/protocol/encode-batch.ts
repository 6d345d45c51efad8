/**
 * SEND_BATCH and ACK_BATCH bodies written straight into one buffer, item by item, instead of
 * handing an array of item objects to msgpackr (which walks each object's keys and grows its
 * own buffer). The bytes are plain msgpack with minimal headers, decoded by the same
 * decodeBody / decodeRequest as any other body. Items must already be schema-checked: this
 * writes what it is given.
 *
 * The returned Buffer is a view into a scratch buffer reused by the next call: hand it to
 * encodeMessage (which copies the body into the frames) before encoding another.
 */
import { keyBytes, MsgpackWriter } from './msgpack-writer.ts';
import type { AckRequest, SendRequest } from './types.ts';

const w = new MsgpackWriter(Buffer.allocUnsafe(128 * 1024));

/** Bytes of a batch body besides its items: `{ "items": [...] }` headers. */
export const SEND_BATCH_HEAD = 1 + 6 + 5;
const ITEMS_HEAD = SEND_BATCH_HEAD;

/**
 * An upper bound of the bytes `item` takes in a SEND_BATCH body (headers at their widest):
 * the client weighs items with it so that a batch fits one chunk.
 */
export function sendItemBound(item: SendRequest): number {
  let n = 40 + item.payload.length + Buffer.byteLength(item.topic) + Buffer.byteLength(item.idemKey);
  if (item.delayMs !== undefined) n += 17;
  if (item.payloadHash !== undefined) n += 79;
  const attrs = item.attrs;
  if (attrs !== undefined) {
    n += 9;
    for (const k in attrs) n += 8 + Buffer.byteLength(k) + Buffer.byteLength(attrs[k]!);
  }
  return n;
}

/** The SEND_BATCH body `{ items }`. */
export function encodeSendBatch(items: readonly SendRequest[]): Buffer {
  let bound = ITEMS_HEAD;
  for (let i = 0; i < items.length; i++) bound += sendItemBound(items[i]!);
  begin(bound);
  writeItemsHead(items.length);
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    const { attrs, delayMs, payloadHash } = it;
    w.mapHead(3 + (attrs !== undefined ? 1 : 0) + (delayMs !== undefined ? 1 : 0) + (payloadHash !== undefined ? 1 : 0));
    w.key(K_TOPIC);
    w.str(it.topic);
    w.key(K_IDEM);
    w.str(it.idemKey);
    w.key(K_PAYLOAD);
    w.bin(it.payload);
    if (attrs !== undefined) {
      w.key(K_ATTRS);
      w.strMap(attrs);
    }
    if (delayMs !== undefined) {
      w.key(K_DELAY);
      w.uint(delayMs);
    }
    if (payloadHash !== undefined) {
      w.key(K_HASH);
      w.str(payloadHash);
    }
  }
  return w.buf.subarray(0, w.p);
}

/** The ACK_BATCH body `{ items }`. */
export function encodeAckBatch(items: readonly AckRequest[]): Buffer {
  let bound = ITEMS_HEAD;
  for (let i = 0; i < items.length; i++) bound += 20 + 3 * (items[i]!.msgId.length + items[i]!.leaseId.length);
  begin(bound);
  writeItemsHead(items.length);
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    w.byte(0x82);
    w.key(K_MSGID);
    w.str(it.msgId);
    w.key(K_LEASEID);
    w.str(it.leaseId);
  }
  return w.buf.subarray(0, w.p);
}

const K_ITEMS = keyBytes('items');
const K_TOPIC = keyBytes('topic');
const K_IDEM = keyBytes('idemKey');
const K_PAYLOAD = keyBytes('payload');
const K_ATTRS = keyBytes('attrs');
const K_DELAY = keyBytes('delayMs');
const K_HASH = keyBytes('payloadHash');
const K_MSGID = keyBytes('msgId');
const K_LEASEID = keyBytes('leaseId');

function begin(bound: number): void {
  if (w.buf.length < bound) w.buf = Buffer.allocUnsafe(Math.max(bound, w.buf.length * 2));
  w.p = 0;
}

function writeItemsHead(n: number): void {
  w.byte(0x81);
  w.key(K_ITEMS);
  w.arrayHead(n);
}
