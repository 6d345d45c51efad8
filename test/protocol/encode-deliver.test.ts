import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { DEFAULT_TENANT, type Delivery, type LeaseId, type MsgId, type Topic } from '../../src/domain/types.ts';
import {
  ChunkReassembler, FLAGS, HEADER_SIZE, OPS, SINGLE, decodeBody, decodeEvent, decodeFrame, encodeValueMessage, toWireDelivery,
} from '../../src/protocol/index.ts';
import { encodeDeliverEvent } from '../../src/protocol/encode-deliver.ts';

function delivery(i: number, extra: Partial<Delivery> = {}): Delivery {
  const payload = Buffer.alloc((i * 37) % 3000, i);
  return {
    msgId: `01HZX3J6M2${String(i).padStart(16, '0')}` as MsgId,
    tenant: DEFAULT_TENANT,
    topic: `orders.${i % 3}` as Topic,
    attempt: 1 + (i % 300),
    leaseId: `3.01HZX3J6M2${String(i).padStart(16, '9')}` as LeaseId,
    enqueuedAt: 1_764_000_000_000 + i,
    leaseDeadline: 1_764_000_030_000 + i,
    payload,
    payloadHash: createHash('sha256').update(payload).digest('hex'),
    ...extra,
  };
}

/** What the server wrote before: msgpackr on the wire objects. */
function viaMsgpackr(corrId: bigint, subscriptionId: string, list: Delivery[]): Buffer[] {
  return encodeValueMessage(
    { flags: FLAGS.EVENT, op: OPS.DELIVER, tenant: DEFAULT_TENANT, corrId },
    { subscriptionId, deliveries: list.map(toWireDelivery) },
  );
}

describe('DELIVER events written straight into their frame', () => {
  it('writes the same bytes as msgpackr on the wire objects, attrs, non-ASCII and long strings included', () => {
    const list: Delivery[] = [];
    for (let i = 0; i < 40; i++) list.push(delivery(i));
    list.push(delivery(41, { attrs: { a: 'x', 'ключ': 'значение ✓', empty: '' } }));
    list.push(delivery(42, { topic: 'т'.repeat(40) as Topic, attrs: { long: 'é'.repeat(200) } }));
    list.push(delivery(43, { topic: 'x'.repeat(31) as Topic, attempt: 70_000, payload: Buffer.alloc(0) }));
    list.push(delivery(44, { topic: '🙂'.repeat(9) as Topic, payload: Buffer.alloc(300, 1), enqueuedAt: 5, leaseDeadline: 200 }));
    for (const [from, to] of [[0, 0], [0, 1], [3, 18], [0, list.length]] as const) {
      const ours = encodeDeliverEvent(DEFAULT_TENANT, 7n, 'sub-1', list, from, to);
      assert.equal(ours.length, 1);
      assert.deepEqual(ours[0], viaMsgpackr(7n, 'sub-1', list.slice(from, to))[0], `deliveries ${from}..${to}`);
    }
  });

  it('a frame decodes to the DELIVER event of its deliveries, header fields as given', () => {
    const list = [delivery(1), delivery(2, { attrs: { k: 'v' } })];
    const [frame] = encodeDeliverEvent(DEFAULT_TENANT, 12345678901234n, 'sub-9', list);
    const { header, body } = decodeFrame(frame!);
    assert.equal(header.op, OPS.DELIVER);
    assert.equal(header.flags, FLAGS.EVENT | SINGLE);
    assert.equal(header.corrId, 12345678901234n);
    const event = decodeEvent(OPS.DELIVER, decodeBody(body));
    assert.equal(event.subscriptionId, 'sub-9');
    assert.deepEqual(event.deliveries, list.map(toWireDelivery));
  });

  it('frames stay intact while later ones are written, across slabs', () => {
    const list = Array.from({ length: 30 }, (_, i) => delivery(i, { payload: Buffer.alloc(1024, i) }));
    const kept = Array.from({ length: 40 }, (_, k) => ({ k, frame: encodeDeliverEvent(DEFAULT_TENANT, BigInt(k), `s-${k}`, list)[0]! }));
    for (const { k, frame } of kept) assert.deepEqual(frame, viaMsgpackr(BigInt(k), `s-${k}`, list)[0]);
  });

  it('a body past one chunk goes out as a chunked stream that reassembles to the event', () => {
    const list = [delivery(1), delivery(2, { payload: Buffer.alloc(200_000, 7) }), delivery(3)];
    const frames = encodeDeliverEvent(DEFAULT_TENANT, 3n, 'sub-big', list);
    assert.ok(frames.length > 1);
    assert.deepEqual(frames, viaMsgpackr(3n, 'sub-big', list));
    const reassembler = new ChunkReassembler();
    let message;
    for (const f of frames) message = reassembler.push(decodeFrame(f), 0);
    assert.ok(message);
    assert.equal(message.body.length > HEADER_SIZE, true);
    assert.deepEqual(decodeEvent(OPS.DELIVER, decodeBody(message.body)).deliveries, list.map(toWireDelivery));
  });
});
