import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MinHeap } from '../../src/domain/min-heap.ts';

type Op = { kind: 'push'; due: number } | { kind: 'pop' } | { kind: 'peek' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: -50, max: 50 }).map((due) => ({ kind: 'push' as const, due })) },
  { weight: 2, arbitrary: fc.constant({ kind: 'pop' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'peek' as const }) },
);

describe('min-heap', () => {
  it('always yields the smallest deadline, like a sorted array', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 300, size: 'max' }), (ops) => {
        const heap = new MinHeap<number>();
        const model: number[] = [];
        let seq = 0;
        for (const op of ops) {
          if (op.kind === 'push') {
            heap.push(op.due, seq++);
            model.push(op.due);
            model.sort((a, b) => a - b);
          } else if (op.kind === 'pop') {
            assert.equal(heap.pop()?.due, model.shift());
          } else {
            assert.equal(heap.peek()?.due, model[0]);
          }
          assert.equal(heap.size, model.length);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('every pushed value comes out exactly once, in non-decreasing deadline order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200, size: 'max' }), (dues) => {
        const heap = new MinHeap<number>();
        dues.forEach((due, i) => heap.push(due, i));
        const seen: number[] = [];
        let last = Number.NEGATIVE_INFINITY;
        for (let top = heap.pop(); top; top = heap.pop()) {
          assert.ok(top.due >= last, 'top.due >= last');
          assert.equal(dues[top.value], top.due, 'value travels with its deadline');
          last = top.due;
          seen.push(top.value);
        }
        assert.deepEqual(seen.sort((a, b) => a - b), dues.map((_, i) => i));
      }),
      { numRuns: 500 },
    );
  });

  it('an empty heap peeks and pops undefined', () => {
    const heap = new MinHeap<string>();
    assert.equal(heap.peek(), undefined);
    assert.equal(heap.pop(), undefined);
    assert.equal(heap.size, 0);
  });
});
