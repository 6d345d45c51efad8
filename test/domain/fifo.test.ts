import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Fifo } from '../../src/domain/fifo.ts';

type Op = { kind: 'push'; value: number } | { kind: 'unshift'; value: number } | { kind: 'shift' } | { kind: 'peek' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.integer().map((value) => ({ kind: 'push' as const, value })) },
  { weight: 1, arbitrary: fc.integer().map((value) => ({ kind: 'unshift' as const, value })) },
  { weight: 3, arbitrary: fc.constant({ kind: 'shift' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'peek' as const }) },
);

describe('fifo', () => {
  it('behaves like an array under any mix of push, unshift, shift and peek', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 8 }), fc.array(opArb, { maxLength: 300, size: 'max' }), (capacity, ops) => {
        const fifo = new Fifo<number>(capacity);
        const model: number[] = [];
        for (const op of ops) {
          switch (op.kind) {
            case 'push':
              fifo.push(op.value);
              model.push(op.value);
              break;
            case 'unshift':
              fifo.unshift(op.value);
              model.unshift(op.value);
              break;
            case 'shift':
              assert.equal(fifo.shift(), model.shift());
              break;
            case 'peek':
              assert.equal(fifo.peek(), model[0]);
              break;
          }
          assert.equal(fifo.length, model.length);
        }
        assert.deepEqual([...fifo], model);
      }),
      { numRuns: 500 },
    );
  });

  it('returns items in the order they were pushed, across growth', () => {
    const fifo = new Fifo<number>(2);
    for (let i = 0; i < 100; i++) fifo.push(i);
    for (let i = 0; i < 50; i++) assert.equal(fifo.shift(), i);
    for (let i = 100; i < 200; i++) fifo.push(i);
    assert.deepEqual([...fifo], Array.from({ length: 150 }, (_, i) => i + 50));
  });

  it('an empty fifo peeks and shifts undefined', () => {
    const fifo = new Fifo<string>();
    assert.equal(fifo.peek(), undefined);
    assert.equal(fifo.shift(), undefined);
    assert.equal(fifo.length, 0);
  });

  it('an item put back with unshift comes out first', () => {
    const fifo = new Fifo<string>();
    fifo.push('b');
    fifo.push('c');
    fifo.unshift('a');
    assert.deepEqual([...fifo], ['a', 'b', 'c']);
  });
});
