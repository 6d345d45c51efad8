import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OPS, decodeBody, decodeRequest, encodeBody, type AckRequest, type SendRequest } from '../../src/protocol/index.ts';
import { encodeAckBatch, encodeSendBatch, sendItemBound, SEND_BATCH_HEAD } from '../../src/protocol/encode-batch.ts';

function sendItem(i: number, extra: Partial<SendRequest> = {}): SendRequest {
  return decodeRequest(OPS.SEND, { topic: `t-${i}`, idemKey: `k-${i}`, payload: Buffer.alloc(i * 7, i), ...extra });
}

describe('SEND_BATCH / ACK_BATCH bodies written in one pass', () => {
  it('a SEND_BATCH body decodes to the items it was written from, optional fields included', () => {
    const items: SendRequest[] = [
      sendItem(0),
      sendItem(1, { delayMs: 5 }),
      sendItem(40, { delayMs: 300, attrs: { a: 'x', 'ключ': 'значение ✓', empty: '' } }),
      sendItem(3, { delayMs: 70_000, payloadHash: 'a'.repeat(64) }),
      sendItem(10_000, { delayMs: 600_000_000, topic: 'т'.repeat(20) as SendRequest['topic'], idemKey: '🙂'.repeat(10), attrs: { long: 'é'.repeat(200) } }),
      sendItem(5, { idemKey: 'x'.repeat(100) }),
    ];
    for (let i = 0; i < 20; i++) items.push(sendItem(i + 100));
    const body = encodeSendBatch(items);
    const decoded = decodeRequest(OPS.SEND_BATCH, decodeBody(body));
    assert.deepEqual(decoded, decodeRequest(OPS.SEND_BATCH, decodeBody(encodeBody({ items }))));
    assert.equal(decoded.items.length, items.length);
    let bound = SEND_BATCH_HEAD;
    for (const it of items) bound += sendItemBound(it);
    assert.ok(body.length <= bound, `${body.length} bytes within the bound ${bound}`);
  });

  it('writes msgpack as compact as msgpackr for ASCII items', () => {
    const items = [sendItem(1), sendItem(2, { delayMs: 1 }), sendItem(200)];
    assert.equal(encodeSendBatch(items).length, encodeBody({ items }).length);
  });

  it('an ACK_BATCH body decodes to its items, the array header growing past 15 items', () => {
    const items: AckRequest[] = [];
    for (let i = 0; i < 40; i++) {
      items.push(decodeRequest(OPS.ACK, { msgId: `01HZX3J6M2${String(i).padStart(16, '0')}`, leaseId: `lease-${i}` }));
    }
    const decoded = decodeRequest(OPS.ACK_BATCH, decodeBody(encodeAckBatch(items)));
    assert.deepEqual(decoded.items, items);
  });
});
