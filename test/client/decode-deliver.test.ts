import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OPS, decodeBody, decodeEvent, encodeBody } from '../../src/protocol/index.ts';
import { decodeDeliverWith } from '../../src/protocol/decode-deliver.ts';
import { makeDelivery } from './fake-server.ts';

/** Decodes with the one-pass decoder into plain objects shaped like WireDelivery. */
function onePass(value: unknown): unknown {
  return decodeDeliverWith(value, (msgId, topic, attempt, leaseId, enqueuedAt, leaseDeadline, payload, payloadHash, attrs) => {
    const d: Record<string, unknown> = { msgId, topic, attempt, leaseId, enqueuedAt, leaseDeadline, payload, payloadHash };
    if (attrs !== undefined) d.attrs = attrs;
    return d;
  });
}

function outcome(f: () => unknown): unknown {
  try {
    return { ok: f() };
  } catch (err) {
    return { code: (err as { code?: string }).code, message: (err as Error).message };
  }
}

describe('DELIVER decoded in one pass', () => {
  const good = () => ({ subscriptionId: 'sub-1', deliveries: [makeDelivery('a'), { ...makeDelivery('b'), attrs: { k: 'v' } }, makeDelivery('')] });
  const cases: Array<[string, () => unknown]> = [
    ['a valid event', good],
    ['no deliveries', () => ({ subscriptionId: 'sub-1', deliveries: [] })],
    ['an unknown key', () => ({ ...good(), extra: 1 })],
    ['a missing subscriptionId', () => ({ deliveries: [] })],
    ['an item that is not a map', () => ({ subscriptionId: 's', deliveries: [makeDelivery('a'), 7] })],
    ['an unknown item key', () => ({ subscriptionId: 's', deliveries: [{ ...makeDelivery('a'), nope: true }] })],
    ['a bad msgId', () => ({ subscriptionId: 's', deliveries: [{ ...makeDelivery('a'), msgId: 'x' }] })],
    ['attempt 0', () => ({ subscriptionId: 's', deliveries: [{ ...makeDelivery('a'), attempt: 0 }] })],
    ['an upper-case payloadHash', () => ({ subscriptionId: 's', deliveries: [{ ...makeDelivery('a'), payloadHash: 'A'.repeat(64) }] })],
    ['a short payloadHash', () => ({ subscriptionId: 's', deliveries: [{ ...makeDelivery('a'), payloadHash: 'ab' }] })],
    ['a string payload', () => ({ subscriptionId: 's', deliveries: [{ ...makeDelivery('a'), payload: 'text' }] })],
    ['bad attrs', () => ({ subscriptionId: 's', deliveries: [{ ...makeDelivery('a'), attrs: { k: 1 } }] })],
  ];
  for (const [name, make] of cases) {
    it(`answers like decodeDeliverEvent for ${name}`, () => {
      const value = decodeBody(encodeBody(make()));
      const expected = outcome(() => decodeEvent(OPS.DELIVER, value));
      assert.deepEqual(outcome(() => onePass(value)), expected);
    });
  }
});
