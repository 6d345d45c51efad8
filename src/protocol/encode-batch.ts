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
import type { AckRequest, SendRequest } from './types.ts';

let scratch = Buffer.allocUnsafe(128 * 1024);
let p = 0;

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
    mapHead(3 + (attrs !== undefined ? 1 : 0) + (delayMs !== undefined ? 1 : 0) + (payloadHash !== undefined ? 1 : 0));
    key(K_TOPIC);
    str(it.topic);
    key(K_IDEM);
    str(it.idemKey);
    key(K_PAYLOAD);
    bin(it.payload);
    if (attrs !== undefined) {
      key(K_ATTRS);
      let n = 0;
      for (const _ in attrs) n++;
      mapHead(n);
      for (const k in attrs) {
        str(k);
        str(attrs[k]!);
      }
    }
    if (delayMs !== undefined) {
      key(K_DELAY);
      uint(delayMs);
    }
    if (payloadHash !== undefined) {
      key(K_HASH);
      str(payloadHash);
    }
  }
  return scratch.subarray(0, p);
}

/** The ACK_BATCH body `{ items }`. */
export function encodeAckBatch(items: readonly AckRequest[]): Buffer {
  let bound = ITEMS_HEAD;
  for (let i = 0; i < items.length; i++) bound += 20 + 3 * (items[i]!.msgId.length + items[i]!.leaseId.length);
  begin(bound);
  writeItemsHead(items.length);
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    scratch[p++] = 0x82;
    key(K_MSGID);
    str(it.msgId);
    key(K_LEASEID);
    str(it.leaseId);
  }
  return scratch.subarray(0, p);
}

// ---- writer -----------------------------------------------------------------------------

function keyBytes(name: string): Buffer {
  return Buffer.from([0xa0 | name.length, ...Buffer.from(name, 'ascii')]);
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
  if (scratch.length < bound) scratch = Buffer.allocUnsafe(Math.max(bound, scratch.length * 2));
  p = 0;
}

function writeItemsHead(n: number): void {
  scratch[p++] = 0x81;
  key(K_ITEMS);
  if (n < 16) scratch[p++] = 0x90 | n;
  else if (n < 0x10000) {
    scratch[p++] = 0xdc;
    scratch.writeUInt16BE(n, p);
    p += 2;
  } else {
    scratch[p++] = 0xdd;
    scratch.writeUInt32BE(n, p);
    p += 4;
  }
}

function key(k: Buffer): void {
  scratch.set(k, p);
  p += k.length;
}

function mapHead(n: number): void {
  if (n < 16) scratch[p++] = 0x80 | n;
  else {
    scratch[p++] = 0xde;
    scratch.writeUInt16BE(n, p);
    p += 2;
  }
}

/** Header size of a str of `n` UTF-8 bytes. */
function strHeadSize(n: number): number {
  return n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

/**
 * Writes a str with its minimal header: guesses the header from the UTF-16 length (a lower
 * bound of the byte length), writes the bytes after it, and moves them when the guess was short.
 */
function str(s: string): void {
  const guess = strHeadSize(s.length);
  const n = scratch.write(s, p + guess, 'utf8');
  const size = strHeadSize(n);
  if (size !== guess) scratch.copyWithin(p + size, p + guess, p + guess + n);
  if (size === 1) scratch[p] = 0xa0 | n;
  else if (size === 2) {
    scratch[p] = 0xd9;
    scratch[p + 1] = n;
  } else if (size === 3) {
    scratch[p] = 0xda;
    scratch.writeUInt16BE(n, p + 1);
  } else {
    scratch[p] = 0xdb;
    scratch.writeUInt32BE(n, p + 1);
  }
  p += size + n;
}

function bin(b: Uint8Array): void {
  const n = b.length;
  if (n < 0x100) {
    scratch[p++] = 0xc4;
    scratch[p++] = n;
  } else if (n < 0x10000) {
    scratch[p++] = 0xc5;
    scratch.writeUInt16BE(n, p);
    p += 2;
  } else {
    scratch[p++] = 0xc6;
    scratch.writeUInt32BE(n, p);
    p += 4;
  }
  scratch.set(b, p);
  p += n;
}

/** A non-negative integer as msgpack uint (the schema allows nothing else here); float64 past 2^32, as msgpackr does. */
function uint(v: number): void {
  if (v < 0x80) scratch[p++] = v;
  else if (v < 0x100) {
    scratch[p++] = 0xcc;
    scratch[p++] = v;
  } else if (v < 0x10000) {
    scratch[p++] = 0xcd;
    scratch.writeUInt16BE(v, p);
    p += 2;
  } else if (v < 0x1_0000_0000) {
    scratch[p++] = 0xce;
    scratch.writeUInt32BE(v, p);
    p += 4;
  } else {
    scratch[p++] = 0xcb;
    scratch.writeDoubleBE(v, p);
    p += 8;
  }
}
