/**
 * Writes the OAP/1 test vectors beside itself: `node --import tsx docs/vectors/generate.ts`.
 * The vectors are normative (PROTOCOL.md §12): regenerate only when the protocol changes on purpose.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TenantId } from '../../src/domain/types.ts';
import {
  FLAGS, OPS, STATUS_OK, decodeBody, decodeFrame, encodeError, encodeEventBody, encodeMessage, encodeRequestBody,
  encodeResponseBody, hashPayload, opName, type FrameHeader,
} from '../../src/protocol/index.ts';
import { MailboxError } from '../../src/errors.ts';
import { toJson, type HeaderJson, type VectorJson } from './vector-json.ts';

const dir = dirname(fileURLToPath(import.meta.url));
const tenant = '0000000000000000000000000000002a' as TenantId;
const msgA = '01HGW2N7EHJVGFVK9Q5MZ3T3YB';
const msgB = '01HGW2N7EHJVGFVK9Q5MZ3T3YC';

function flagNames(flags: number): string[] {
  return (Object.keys(FLAGS) as Array<keyof typeof FLAGS>).filter((n) => (flags & FLAGS[n]) !== 0);
}

function headerJson(h: FrameHeader): HeaderJson {
  return {
    len: h.len, ver: h.ver, flags: h.flags, flagNames: flagNames(h.flags), code: h.code, op: h.op,
    opName: opName(h.op) ?? 'NONE', tenant: h.tenant, capLen: h.capLen, corrId: h.corrId.toString(),
  };
}

function hex(buf: Buffer): string {
  // 32 bytes per line so the layout can be read by eye.
  const s = buf.toString('hex');
  const lines: string[] = [];
  for (let i = 0; i < s.length; i += 64) lines.push(s.slice(i, i + 64));
  return `${lines.join('\n')}\n`;
}

function write(name: string, description: string, frame: Buffer, stream?: VectorJson['stream']): void {
  const d = decodeFrame(frame);
  const v: VectorJson = { description, header: headerJson(d.header), capHex: Buffer.from(d.cap).toString('hex'), bodyLength: d.body.length };
  if (stream === undefined) v.body = toJson(decodeBody(d.body));
  else v.stream = stream;
  writeFileSync(join(dir, `${name}.hex`), hex(frame));
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(v, null, 2)}\n`);
}

function one(frames: Buffer[]): Buffer {
  if (frames.length !== 1) throw new Error('expected one frame');
  return frames[0]!;
}

const cap = Buffer.from('example-capability-token', 'utf8');

write('ping-request', 'PING request, corr_id 1, no capability, ACK_REQ set', one(encodeMessage({
  flags: FLAGS.REQ | FLAGS.ACK_REQ, op: OPS.PING, tenant, corrId: 1n, body: encodeRequestBody(OPS.PING, {}),
})));

write('hello-request', 'HELLO request carrying a capability (24 bytes)', one(encodeMessage({
  flags: FLAGS.REQ | FLAGS.ACK_REQ, op: OPS.HELLO, tenant, corrId: 2n, cap,
  body: encodeRequestBody(OPS.HELLO, { versions: [1], client: 'svc-mailbox-ts/0.1.0' }),
})));

write('hello-response', 'HELLO response', one(encodeMessage({
  flags: FLAGS.RESP, code: STATUS_OK, op: OPS.HELLO, tenant, corrId: 2n,
  body: encodeResponseBody(OPS.HELLO, {
    version: 1, limits: { maxFrame: 1048576, chunkSize: 65536, maxPayload: 1047552, maxBatch: 1000 }, features: ['chunking', 'dlq', 'subscribe'],
  }),
})));

write('send-request', 'SEND with attrs and delayMs, capability attached', one(encodeMessage({
  flags: FLAGS.REQ | FLAGS.ACK_REQ, op: OPS.SEND, tenant, corrId: 3n, cap,
  body: encodeRequestBody(OPS.SEND, {
    topic: 'user:42:inbox' as never, idemKey: 'order-1001', payload: Buffer.from('hello, mailbox', 'utf8'),
    attrs: { contentType: 'text/plain' }, delayMs: 1500,
  }),
})));

write('send-response', 'SEND response', one(encodeMessage({
  flags: FLAGS.RESP, code: STATUS_OK, op: OPS.SEND, tenant, corrId: 3n,
  body: encodeResponseBody(OPS.SEND, { msgId: msgA as never, duplicate: false }),
})));

const p1 = Buffer.from('first', 'utf8');
const p2 = Buffer.from([0, 1, 2, 255]);
write('deliver-event', 'DELIVER event with two deliveries; timestamps ≥ 2^32 are float64 as msgpackr writes them', one(encodeMessage({
  flags: FLAGS.EVENT, op: OPS.DELIVER, tenant, corrId: 1n,
  body: encodeEventBody(OPS.DELIVER, {
    subscriptionId: 'sub-1',
    deliveries: [
      { msgId: msgA as never, topic: 'user:42:inbox' as never, attempt: 1, leaseId: 'L1' as never, enqueuedAt: 1700000000000, leaseDeadline: 1700000030000, payload: p1, payloadHash: hashPayload(p1) },
      { msgId: msgB as never, topic: 'user:42:inbox' as never, attempt: 2, leaseId: 'L2' as never, enqueuedAt: 1700000000001, leaseDeadline: 1700000030001, payload: p2, payloadHash: hashPayload(p2), attrs: { k: 'v' } },
    ],
  }),
})));

write('error-response', 'Error response to a SEND: E_SATURATED (429) with retryAfterMs', encodeError(
  new MailboxError('E_SATURATED', 'shard 3 is full', { retryAfterMs: 250 }), 3n, tenant, OPS.SEND,
));

write('ack-batch-response', 'ACK_BATCH response: first ACK ok (nil), second refused', one(encodeMessage({
  flags: FLAGS.RESP, code: STATUS_OK, op: OPS.ACK_BATCH, tenant, corrId: 4n,
  body: encodeResponseBody(OPS.ACK_BATCH, { results: [null, { code: 'E_STALE_LEASE', message: 'lease L9 was superseded' }] }),
})));

// A SEND whose body is just over one chunk: two frames, START then END.
const bigPayload = Buffer.alloc(65_600);
for (let i = 0; i < bigPayload.length; i++) bigPayload[i] = i & 0xff;
const bigBody = encodeRequestBody(OPS.SEND, { topic: 'bulk' as never, idemKey: 'big-1', payload: bigPayload });
const frames = encodeMessage({ flags: FLAGS.REQ | FLAGS.ACK_REQ, op: OPS.SEND, tenant, corrId: 5n, cap, body: bigBody });
if (frames.length !== 2) throw new Error('expected two frames');
const names = ['chunked-start.hex', 'chunked-end.hex'];
write('chunked-start', 'First frame (START) of a chunked SEND: capability + exactly 65536 body bytes', frames[0]!, { frames: names });
write('chunked-end', 'Last frame (END) of the same chunked SEND; stream.body is the reassembled body', frames[1]!, {
  frames: names, body: toJson(decodeBody(bigBody)),
});
console.log('vectors written to', dir);
