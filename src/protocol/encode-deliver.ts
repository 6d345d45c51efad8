/**
 * DELIVER events written straight into their frame, delivery by delivery, instead of building
 * a WireDelivery object per message and handing the array to msgpackr (which walks every
 * object's keys): the server's biggest cost per message after the socket (workload A's
 * profile, issue 13). The bytes are the msgpack msgpackr writes for
 * `{ subscriptionId, deliveries: deliveries.map(toWireDelivery) }` (a test holds them equal),
 * decoded by decodeDeliverEvent / decodeDeliverWith like any other body.
 *
 * Frames are cut from a slab, one after the other, and a slab is never written twice: a frame
 * stays valid however long the socket holds it (msgpackr hands out its buffers the same way).
 */
import type { Delivery, TenantId } from '../domain/types.ts';
import { chunkFrames } from './chunks.ts';
import { FLAGS, SINGLE } from './flags.ts';
import { writeHeader } from './header.ts';
import { CHUNK_SIZE, HEADER_SIZE } from './limits.ts';
import { OPS } from './ops.ts';

const SLAB = 512 * 1024;
let buf = Buffer.allocUnsafe(SLAB);
let used = 0;
let p = 0;

/**
 * The DELIVER event of `deliveries[from..to)` on `subscriptionId`: one frame, or a chunked
 * stream when the body exceeds CHUNK_SIZE (a large payload). Deliveries come from the shard,
 * already valid: this writes what it is given.
 */
export function encodeDeliverEvent(
  tenant: TenantId, corrId: bigint, subscriptionId: string, deliveries: readonly Delivery[], from = 0, to = deliveries.length,
): Buffer[] {
  let bound = HEADER_SIZE + 32 + 3 * subscriptionId.length;
  for (let i = from; i < to; i++) bound += deliveryBound(deliveries[i]!);
  if (buf.length - used < bound) {
    buf = Buffer.allocUnsafe(Math.max(SLAB, bound));
    used = 0;
  }
  const start = used;
  p = start + HEADER_SIZE;
  buf[p++] = 0x82;
  key(K_SUBSCRIPTION);
  str(subscriptionId);
  key(K_DELIVERIES);
  arrayHead(to - from);
  for (let i = from; i < to; i++) writeDelivery(deliveries[i]!);
  const frame = buf.subarray(start, p);
  used = p;
  const params = { flags: FLAGS.EVENT, op: OPS.DELIVER, tenant, corrId };
  if (frame.length - HEADER_SIZE > CHUNK_SIZE) return chunkFrames({ ...params, body: frame.subarray(HEADER_SIZE) });
  writeHeader(frame, frame.length, 0, { ...params, flags: FLAGS.EVENT | SINGLE, code: 0 });
  return [frame];
}

/** Bytes `d` takes at most (strings at 3 bytes per UTF-16 unit, headers at their widest). */
function deliveryBound(d: Delivery): number {
  let n = 1 + 79 + 4 * 5 + 3 * (d.msgId.length + d.topic.length + d.leaseId.length + d.payloadHash.length) + 3 * 9 + 5 + d.payload.length;
  const attrs = d.attrs;
  if (attrs !== undefined) {
    n += 6 + 3;
    for (const k in attrs) n += 10 + 3 * (k.length + attrs[k]!.length);
  }
  return n;
}

function writeDelivery(d: Delivery): void {
  const attrs = d.attrs;
  buf[p++] = attrs !== undefined ? 0x89 : 0x88;
  key(K_MSGID);
  str(d.msgId);
  key(K_TOPIC);
  str(d.topic);
  key(K_ATTEMPT);
  uint(d.attempt);
  key(K_LEASEID);
  str(d.leaseId);
  key(K_ENQUEUED);
  uint(d.enqueuedAt);
  key(K_DEADLINE);
  uint(d.leaseDeadline);
  key(K_PAYLOAD);
  bin(d.payload);
  key(K_HASH);
  str(d.payloadHash);
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
}

// ---- writer -----------------------------------------------------------------------------

function keyBytes(name: string): Buffer {
  return Buffer.from([0xa0 | name.length, ...Buffer.from(name, 'ascii')]);
}
const K_SUBSCRIPTION = keyBytes('subscriptionId');
const K_DELIVERIES = keyBytes('deliveries');
const K_MSGID = keyBytes('msgId');
const K_TOPIC = keyBytes('topic');
const K_ATTEMPT = keyBytes('attempt');
const K_LEASEID = keyBytes('leaseId');
const K_ENQUEUED = keyBytes('enqueuedAt');
const K_DEADLINE = keyBytes('leaseDeadline');
const K_PAYLOAD = keyBytes('payload');
const K_HASH = keyBytes('payloadHash');
const K_ATTRS = keyBytes('attrs');

function key(k: Buffer): void {
  for (let i = 0; i < k.length; i++) buf[p + i] = k[i]!;
  p += k.length;
}

function arrayHead(n: number): void {
  if (n < 16) buf[p++] = 0x90 | n;
  else if (n < 0x10000) {
    buf[p++] = 0xdc;
    buf.writeUInt16BE(n, p);
    p += 2;
  } else {
    buf[p++] = 0xdd;
    buf.writeUInt32BE(n, p);
    p += 4;
  }
}

function mapHead(n: number): void {
  if (n < 16) buf[p++] = 0x80 | n;
  else {
    buf[p++] = 0xde;
    buf.writeUInt16BE(n, p);
    p += 2;
  }
}

/** A str with its minimal header. Short ASCII (ids, hashes, most topics) is copied here; the rest goes through Buffer.write. */
function str(s: string): void {
  const n = s.length;
  if (n < 32) {
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[p + 1 + i] = c;
    }
    if (i === n) {
      buf[p] = 0xa0 | n;
      p += 1 + n;
      return;
    }
  }
  const guess = strHeadSize(n);
  const bytes = buf.write(s, p + guess, 'utf8');
  const size = strHeadSize(bytes);
  if (size !== guess) buf.copyWithin(p + size, p + guess, p + guess + bytes);
  if (size === 1) buf[p] = 0xa0 | bytes;
  else if (size === 2) {
    buf[p] = 0xd9;
    buf[p + 1] = bytes;
  } else if (size === 3) {
    buf[p] = 0xda;
    buf.writeUInt16BE(bytes, p + 1);
  } else {
    buf[p] = 0xdb;
    buf.writeUInt32BE(bytes, p + 1);
  }
  p += size + bytes;
}

/** Header size of a str of `n` UTF-8 bytes. */
function strHeadSize(n: number): number {
  return n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

function bin(b: Uint8Array): void {
  const n = b.length;
  if (n < 0x100) {
    buf[p++] = 0xc4;
    buf[p++] = n;
  } else if (n < 0x10000) {
    buf[p++] = 0xc5;
    buf.writeUInt16BE(n, p);
    p += 2;
  } else {
    buf[p++] = 0xc6;
    buf.writeUInt32BE(n, p);
    p += 4;
  }
  buf.set(b, p);
  p += n;
}

/** A non-negative integer as msgpack uint; float64 past 2^32, as msgpackr writes it. */
function uint(v: number): void {
  if (v < 0x80) buf[p++] = v;
  else if (v < 0x100) {
    buf[p++] = 0xcc;
    buf[p++] = v;
  } else if (v < 0x10000) {
    buf[p++] = 0xcd;
    buf.writeUInt16BE(v, p);
    p += 2;
  } else if (v < 0x1_0000_0000) {
    buf[p++] = 0xce;
    buf.writeUInt32BE(v, p);
    p += 4;
  } else {
    buf[p++] = 0xcb;
    buf.writeDoubleBE(v, p);
    p += 8;
  }
}
