import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_PAYLOAD, OPS, decodeAnyRequest, decodeBody, decodeEvent, decodeRequest, decodeResponse, encodeBody,
  encodeRequestBody, encodeResponseBody, hashPayload,
} from '../../src/protocol/index.ts';
import { MSG_ID, throwsCode } from './helpers.ts';

const send = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  topic: 'user:42:inbox', idemKey: 'k-1', payload: Buffer.from('x'), ...over,
});
/** Through the real codec, as a receiver sees it. */
const wire = (v: unknown): unknown => decodeBody(encodeBody(v));

describe('OAP/1 request schemas', () => {
  it('decodes a valid SEND into a typed request holding only the fields present', () => {
    assert.deepEqual(decodeRequest(OPS.SEND, wire(send({ attrs: { a: 'b' }, delayMs: 10 }))), {
      topic: 'user:42:inbox', idemKey: 'k-1', payload: Buffer.from('x'), attrs: { a: 'b' }, delayMs: 10,
    });
  });

  it('refuses unknown fields, naming them', () => {
    throwsCode(() => decodeRequest(OPS.SEND, wire(send({ tenant: 'x' }))), 'E_SCHEMA', /^tenant: unknown field/);
    throwsCode(() => decodeRequest(OPS.PING, wire({ x: 1 })), 'E_SCHEMA', /^x: unknown field/);
    throwsCode(() => decodeRequest(OPS.SEND_BATCH, wire({ items: [send({ extra: 1 })] })), 'E_SCHEMA', /^items\[0\]\.extra: unknown field/);
  });

  it('names the refused element of a batch by its index, whichever it is', () => {
    for (const bad of [0, 1, 7]) {
      const items = Array.from({ length: 8 }, (_, i) => send(i === bad ? { extra: 1 } : {}));
      throwsCode(() => decodeRequest(OPS.SEND_BATCH, wire({ items })), 'E_SCHEMA', new RegExp(`^items\\[${bad}\\]\\.extra: unknown field`));
      const acks = Array.from({ length: 8 }, (_, i) => ({ msgId: i === bad ? 'not-a-ulid' : MSG_ID, leaseId: '0.x' }));
      throwsCode(() => decodeRequest(OPS.ACK_BATCH, wire({ items: acks })), 'E_SCHEMA', new RegExp(`^items\\[${bad}\\]\\.msgId`));
    }
  });

  it('names the field of a batch element for every kind of refusal (paths are built only then)', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ topic: 5 }, /^items\[2\]\.topic: must be a string/],
      [{ topic: '' }, /^items\[2\]\.topic: must not be empty/],
      [{ idemKey: 'a\u0001b' }, /^items\[2\]\.idemKey: must not contain control characters/],
      [{ topic: 't'.repeat(257) }, /^items\[2\]\.topic: longer than 256 bytes/],
      [{ payload: 'text' }, /^items\[2\]\.payload: must be bin/],
      [{ delayMs: 1.5 }, /^items\[2\]\.delayMs: must be an integer/],
      [{ delayMs: -1 }, /^items\[2\]\.delayMs: must be in /],
    ];
    for (const [over, path] of cases) {
      const items = Array.from({ length: 4 }, (_, i) => send(i === 2 ? over : {}));
      throwsCode(() => decodeRequest(OPS.SEND_BATCH, wire({ items })), 'E_SCHEMA', path);
    }
    const acks = [{ msgId: MSG_ID, leaseId: '0.x' }, { msgId: 42, leaseId: '0.x' }];
    throwsCode(() => decodeRequest(OPS.ACK_BATCH, wire({ items: acks })), 'E_SCHEMA', /^items\[1\]\.msgId: must be a 26-character ULID/);
  });

  it('refuses missing required fields, naming them', () => {
    const { topic: _t, ...noTopic } = send();
    throwsCode(() => decodeRequest(OPS.SEND, wire(noTopic)), 'E_SCHEMA', /^topic: required/);
    throwsCode(() => decodeRequest(OPS.RECV, wire({ topic: 't' })), 'E_SCHEMA', /^maxMessages: required/);
    throwsCode(() => decodeRequest(OPS.ACK, wire({ msgId: MSG_ID })), 'E_SCHEMA', /^leaseId: required/);
  });

  it('refuses wrong types, naming the field', () => {
    throwsCode(() => decodeRequest(OPS.SEND, wire(send({ payload: 'text' }))), 'E_SCHEMA', /^payload: must be bin/);
    throwsCode(() => decodeRequest(OPS.SEND, wire(send({ topic: 5 }))), 'E_SCHEMA', /^topic: must be a string/);
    throwsCode(() => decodeRequest(OPS.SEND, wire(send({ delayMs: 1.5 }))), 'E_SCHEMA', /^delayMs: must be an integer/);
    throwsCode(() => decodeRequest(OPS.SEND, wire(send({ delayMs: null }))), 'E_SCHEMA', /^delayMs/);
    throwsCode(() => decodeRequest(OPS.SEND, wire(send({ attrs: { a: 1 } }))), 'E_SCHEMA', /^attrs\.a: must be a string/);
    throwsCode(() => decodeRequest(OPS.SEND, wire([1])), 'E_SCHEMA', /must be a map/);
    throwsCode(() => decodeRequest(OPS.SEND, null), 'E_SCHEMA', /must be a map/);
    throwsCode(() => decodeRequest(OPS.ACK, wire({ msgId: 'not-a-ulid', leaseId: 'L' })), 'E_SCHEMA', /^msgId: must be a 26-character ULID/);
    throwsCode(() => decodeRequest(OPS.DLQ_LIST, wire({ reason: 'bored' })), 'E_SCHEMA', /^reason: must be one of/);
  });

  it('refuses values over their limits, naming the field', () => {
    throwsCode(() => decodeRequest(OPS.SEND, wire(send({ topic: 't'.repeat(257) }))), 'E_SCHEMA', /^topic: longer than 256/);
    decodeRequest(OPS.SEND, wire(send({ topic: 't'.repeat(256) })));
    throwsCode(() => decodeRequest(OPS.SEND, wire(send({ topic: 'é'.repeat(129) }))), 'E_SCHEMA', /^topic: longer than 256 bytes/);
    throwsCode(() => decodeRequest(OPS.SEND, wire(send({ idemKey: 'k'.repeat(129) }))), 'E_SCHEMA', /^idemKey: longer than 128/);
    throwsCode(() => decodeRequest(OPS.SEND, wire(send({ payload: Buffer.alloc(MAX_PAYLOAD + 1) }))), 'E_SCHEMA', /^payload: longer than/);
    const attrs: Record<string, string> = {};
    for (let i = 0; i < 33; i++) attrs[`k${i}`] = 'v';
    throwsCode(() => decodeRequest(OPS.SEND, wire(send({ attrs }))), 'E_SCHEMA', /^attrs: more than 32 entries/);
    throwsCode(() => decodeRequest(OPS.SEND, wire(send({ attrs: { ['k'.repeat(65)]: 'v' } }))), 'E_SCHEMA', /^attrs\.k+: longer than 64/);
    throwsCode(() => decodeRequest(OPS.SEND, wire(send({ attrs: { k: 'v'.repeat(1025) } }))), 'E_SCHEMA', /^attrs\.k: longer than 1024/);
    throwsCode(() => decodeRequest(OPS.SEND_BATCH, wire({ items: Array.from({ length: 1001 }, () => send()) })), 'E_SCHEMA', /^items: more than 1000/);
    throwsCode(() => decodeRequest(OPS.SEND_BATCH, wire({ items: [] })), 'E_SCHEMA', /^items: fewer than 1/);
    throwsCode(() => decodeRequest(OPS.RECV, wire({ topic: 't', maxMessages: 1001 })), 'E_SCHEMA', /^maxMessages: must be in 1\.\.1000/);
    throwsCode(() => decodeRequest(OPS.RECV, wire({ topic: 't', maxMessages: 0 })), 'E_SCHEMA', /^maxMessages/);
    throwsCode(() => decodeRequest(OPS.ACK, wire({ msgId: MSG_ID, leaseId: 'L'.repeat(65) })), 'E_SCHEMA', /^leaseId: longer than 64/);
    throwsCode(() => decodeRequest(OPS.SEND, wire(send({ delayMs: -1 }))), 'E_SCHEMA', /^delayMs: must be in/);
  });

  it('refuses empty identifiers and identifiers holding control characters', () => {
    throwsCode(() => decodeRequest(OPS.SEND, wire(send({ topic: '' }))), 'E_SCHEMA', /^topic: must not be empty/);
    throwsCode(() => decodeRequest(OPS.SEND, wire(send({ topic: 'a\u0000b' }))), 'E_SCHEMA', /^topic: must not contain control/);
    throwsCode(() => decodeRequest(OPS.SEND, wire(send({ idemKey: 'a\nb' }))), 'E_SCHEMA', /^idemKey: must not contain control/);
  });

  it('accepts integers of any msgpack width, bigints included, within range', () => {
    const body = Buffer.from('81a16ecf00000000000003e8', 'hex'); // {n: uint64 1000}
    assert.deepEqual(decodeRequest(OPS.CREDIT, { subscriptionId: 's', n: (decodeBody(body) as { n: unknown }).n }), { subscriptionId: 's', n: 1000 });
    throwsCode(() => decodeRequest(OPS.CREDIT, { subscriptionId: 's', n: 1n << 60n }), 'E_SCHEMA', /^n: must be in/);
  });

  it('refuses an app_proto_id that is not a request operation', () => {
    throwsCode(() => decodeRequest(0x7777, {}), 'E_SCHEMA', /app_proto_id/);
    throwsCode(() => decodeRequest(OPS.DELIVER, {}), 'E_SCHEMA', /app_proto_id/);
    throwsCode(() => decodeEvent(OPS.SEND, {}), 'E_SCHEMA', /app_proto_id/);
  });

  it('tags a decoded request with its op so a switch narrows the body', () => {
    const r = decodeAnyRequest(OPS.EXTEND, wire({ msgId: MSG_ID, leaseId: 'L', ms: 5000 }));
    assert.equal(r.op, OPS.EXTEND);
    if (r.op === OPS.EXTEND) assert.equal(r.body.ms, 5000);
  });

  it('keeps the items of a SEND_BATCH or ACK_BATCH where msgpack built them, checked like a SEND or ACK', () => {
    const body = wire({ items: [send({ delayMs: 10 }), send({ idemKey: 'k-2', attrs: { a: 'b' } })] }) as { items: object[] };
    const [first, second] = body.items;
    const decoded = decodeRequest(OPS.SEND_BATCH, body);
    assert.equal(decoded.items[0], first, 'no second object per item');
    assert.equal(decoded.items[1], second);
    assert.deepEqual(decoded.items[0], { topic: 'user:42:inbox', idemKey: 'k-1', payload: Buffer.from('x'), delayMs: 10 });
    // An integer msgpack gave as a bigint is a number afterwards, like a single SEND's.
    const big = decodeRequest(OPS.SEND_BATCH, { items: [send({ delayMs: 1000n })] });
    assert.equal(big.items[0]!.delayMs, 1000);
    throwsCode(() => decodeRequest(OPS.SEND_BATCH, wire({ items: [send(), send({ payloadHash: 'ab' })] })), 'E_SCHEMA', /^items\[1\]\.payloadHash: must be 64/);
    throwsCode(() => decodeRequest(OPS.SEND_BATCH, wire({ items: [send({ delayMs: -1 })] })), 'E_SCHEMA', /^items\[0\]\.delayMs: must be in/);
    const acks = wire({ items: [{ msgId: MSG_ID, leaseId: 'L' }] }) as { items: object[] };
    assert.equal(decodeRequest(OPS.ACK_BATCH, acks).items[0], acks.items[0]);
    throwsCode(() => decodeRequest(OPS.ACK_BATCH, wire({ items: [{ msgId: MSG_ID, leaseId: 'L' }, { msgId: 'nope', leaseId: 'L' }] })), 'E_SCHEMA', /^items\[1\]\.msgId: must be a 26/);
    throwsCode(() => decodeRequest(OPS.ACK_BATCH, wire({ items: [{ msgId: MSG_ID }] })), 'E_SCHEMA', /^items\[0\]\.leaseId: required/);
  });

  it('names the field of a batch item in every refusal, though paths are only built for the error', () => {
    const refuse = (over: Record<string, unknown>, message: RegExp): unknown =>
      throwsCode(() => decodeRequest(OPS.SEND_BATCH, wire({ items: [send(), send(), send(over)] })), 'E_SCHEMA', message);
    refuse({ topic: 7 }, /^items\[2\]\.topic: must be a string/);
    refuse({ topic: '' }, /^items\[2\]\.topic: must not be empty/);
    refuse({ idemKey: 'a\u0001b' }, /^items\[2\]\.idemKey: must not contain control characters/);
    refuse({ idemKey: 'k'.repeat(10_000) }, /^items\[2\]\.idemKey: longer than/);
    refuse({ payload: 'text' }, /^items\[2\]\.payload: must be bin/);
    refuse({ delayMs: 1.5 }, /^items\[2\]\.delayMs: must be an integer/);
    refuse({ payloadHash: 'G'.repeat(64) }, /^items\[2\]\.payloadHash: must be 64/);
    throwsCode(() => decodeRequest(OPS.SEND, wire(send({ topic: 7 }))), 'E_SCHEMA', /^topic: must be a string/);
    throwsCode(() => decodeRequest(OPS.RECV, wire({ topic: 't', maxMessages: 0 })), 'E_SCHEMA', /^maxMessages: must be in/);
  });

  it('refuses to encode a request its receiver would refuse', () => {
    throwsCode(() => encodeRequestBody(OPS.SEND, { topic: '' as never, idemKey: 'k', payload: Buffer.from('') }), 'E_SCHEMA', /topic/);
  });
});

describe('OAP/1 response and event schemas', () => {
  const delivery = {
    msgId: MSG_ID, topic: 't', attempt: 1, leaseId: 'L1', enqueuedAt: 1_700_000_000_000, leaseDeadline: 1_700_000_030_000,
    payload: Buffer.from('p'), payloadHash: hashPayload(Buffer.from('p')),
  };

  it('round-trips a RECV response with deliveries', () => {
    const bytes = encodeResponseBody(OPS.RECV, { deliveries: [delivery as never] });
    assert.deepEqual(decodeResponse(OPS.RECV, decodeBody(bytes)), { deliveries: [delivery] });
  });

  it('refuses a delivery carrying tenant, which travels in the header', () => {
    throwsCode(() => decodeEvent(OPS.DELIVER, wire({ subscriptionId: 's', deliveries: [{ ...delivery, tenant: 'x' }] })), 'E_SCHEMA', /^deliveries\[0\]\.tenant: unknown field/);
  });

  it('refuses a payloadHash that is not 64 lower-case hex digits', () => {
    throwsCode(() => decodeEvent(OPS.DELIVER, wire({ subscriptionId: 's', deliveries: [{ ...delivery, payloadHash: 'AB' }] })), 'E_SCHEMA', /payloadHash/);
  });

  it('decodes batch results with errors, turning unknown error codes into E_INTERNAL', () => {
    const r = decodeResponse(OPS.SEND_BATCH, wire({
      results: [{ msgId: MSG_ID, duplicate: true }, { error: { code: 'E_SATURATED', message: 'slow', retryAfterMs: 10 } }, { error: { code: 'E_NEW', message: 'm' } }],
    }));
    assert.deepEqual(r.results, [
      { msgId: MSG_ID, duplicate: true },
      { error: { code: 'E_SATURATED', message: 'slow', retryAfterMs: 10 } },
      { error: { code: 'E_INTERNAL', message: 'E_NEW: m' } },
    ]);
    assert.deepEqual(decodeResponse(OPS.ACK_BATCH, wire({ results: [null, { code: 'E_STALE_LEASE', message: 'old' }] })).results, [
      null, { code: 'E_STALE_LEASE', message: 'old' },
    ]);
  });

  it('refuses a success response with unknown fields', () => {
    throwsCode(() => decodeResponse(OPS.PING, wire({ extra: 1 })), 'E_SCHEMA', /^extra: unknown field/);
    throwsCode(() => decodeResponse(OPS.EXTEND, wire({ leaseDeadline: 1, x: 2 })), 'E_SCHEMA', /^x: unknown field/);
  });
});
