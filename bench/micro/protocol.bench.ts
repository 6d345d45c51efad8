/**
 * OAP/1 codec on the hot path: a 1 KiB SEND request frame and a 250-item SEND_BATCH body,
 * against raw msgpackr (the peers-bench ceiling's encoder) as the baseline.
 */
import { pack, unpack } from 'msgpackr';
import {
  FLAGS, OPS, decodeBody, decodeFrame, decodeRequest, encodeBody, encodeFrame, type MessageParams,
} from '../../src/protocol/index.ts';
import { makePayload } from '../lib.ts';
import type { MicroSuite } from './suite.ts';

const tenant = '00000000000000000000000000000000' as MessageParams['tenant'];
const cap = Buffer.from('mbx1.' + 'x'.repeat(70));
const send = { topic: 'bench.topic.0', idemKey: 'run-000001', payload: makePayload(1, 1024) };
const sendBody = encodeBody(send);
const frame = encodeFrame({ flags: FLAGS.REQ | FLAGS.START | FLAGS.END | FLAGS.ACK_REQ, op: OPS.SEND, tenant, corrId: 1n, cap, body: sendBody });
const batch = { items: Array.from({ length: 250 }, (_, i) => ({ topic: 'bench.topic.0', idemKey: `run-${i}`, payload: makePayload(i, 1024) })) };
const batchBody = encodeBody(batch);
const rawBatch = pack(batch);

export const suite: MicroSuite = {
  name: 'protocol',
  tasks: [
    { name: 'msgpackr pack SEND (raw)', fn: () => pack(send) },
    { name: 'encodeBody(decodeRequest(SEND))', fn: () => encodeBody(decodeRequest(OPS.SEND, send)), baseline: 'msgpackr pack SEND (raw)' },
    { name: 'encodeFrame SEND 1 KiB', fn: () => encodeFrame({ flags: FLAGS.REQ | FLAGS.START | FLAGS.END | FLAGS.ACK_REQ, op: OPS.SEND, tenant, corrId: 1n, cap, body: sendBody }) },
    { name: 'msgpackr unpack SEND (raw)', fn: () => unpack(sendBody) },
    { name: 'decodeFrame+decodeBody+decodeRequest SEND', fn: () => decodeRequest(OPS.SEND, decodeBody(decodeFrame(frame).body)), baseline: 'msgpackr unpack SEND (raw)' },
    { name: 'msgpackr unpack SEND_BATCH×250 (raw)', fn: () => unpack(rawBatch), opsPerCall: 250 },
    { name: 'decodeBody+decodeRequest SEND_BATCH×250', fn: () => decodeRequest(OPS.SEND_BATCH, decodeBody(batchBody)), baseline: 'msgpackr unpack SEND_BATCH×250 (raw)', opsPerCall: 250 },
  ],
};
