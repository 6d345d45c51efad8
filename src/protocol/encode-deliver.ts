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
import { keyBytes, MsgpackWriter } from './msgpack-writer.ts';
import { OPS } from './ops.ts';

/**
 * Small enough that a frame a slow socket still holds pins little besides itself (a slab lives
 * while any frame cut from it does); a full event (48 KiB of payload) takes one of its own.
 */
const SLAB = 64 * 1024;
const w = new MsgpackWriter(Buffer.allocUnsafe(SLAB));
/** Where the next frame starts in the slab `w.buf`. */
let used = 0;

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
  if (w.buf.length - used < bound) {
    w.buf = Buffer.allocUnsafe(Math.max(SLAB, bound));
    used = 0;
  }
  const start = used;
  w.p = start + HEADER_SIZE;
  w.byte(0x82);
  w.key(K_SUBSCRIPTION);
  w.str(subscriptionId);
  w.key(K_DELIVERIES);
  w.arrayHead(to - from);
  for (let i = from; i < to; i++) writeDelivery(deliveries[i]!);
  const frame = w.buf.subarray(start, w.p);
  used = w.p;
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
  w.byte(attrs !== undefined ? 0x89 : 0x88);
  w.key(K_MSGID);
  w.str(d.msgId);
  w.key(K_TOPIC);
  w.str(d.topic);
  w.key(K_ATTEMPT);
  w.uint(d.attempt);
  w.key(K_LEASEID);
  w.str(d.leaseId);
  w.key(K_ENQUEUED);
  w.uint(d.enqueuedAt);
  w.key(K_DEADLINE);
  w.uint(d.leaseDeadline);
  w.key(K_PAYLOAD);
  w.bin(d.payload);
  w.key(K_HASH);
  w.str(d.payloadHash);
  if (attrs !== undefined) {
    w.key(K_ATTRS);
    w.strMap(attrs);
  }
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
