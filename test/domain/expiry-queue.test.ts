import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ExpiryQueue } from '../../src/domain/expiry-queue.ts';

type Op = { kind: 'push'; key: string; at: number } | { kind: 'shift' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('push' as const), key: fc.string({ maxLength: 4 }), at: fc.double({ noNaN: true }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'shift' as const }) },
);

describe('expiry queue', () => {
  it('keeps keys and their times in push order, like an array of pairs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 8 }), fc.array(opArb, { maxLength: 300, size: 'max' }), (capacity, ops) => {
        const q = new ExpiryQueue(capacity);
        const model: Array<[string, number]> = [];
        for (const op of ops) {
          if (op.kind === 'push') {
            q.push(op.key, op.at);
            model.push([op.key, op.at]);
          } else {
            q.shift();
            model.shift();
          }
          assert.equal(q.length, model.length);
          assert.equal(q.peekKey(), model[0]?.[0]);
          assert.equal(q.peekExpiry(), model[0]?.[1]);
        }
      }),
    );
  });

  it('is empty at first and after its last key leaves', () => {
    const q = new ExpiryQueue(1);
    assert.equal(q.peekKey(), undefined);
    assert.equal(q.peekExpiry(), undefined);
    q.push('a', 5);
    q.push('b', 7);
    q.shift();
    assert.deepEqual([q.peekKey(), q.peekExpiry()], ['b', 7]);
    q.shift();
    q.shift();
    assert.equal(q.length, 0);
    assert.equal(q.peekKey(), undefined);
  });
});
