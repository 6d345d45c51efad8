import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GroupCommitter } from '../../src/store/group-commit.ts';

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('group commit', () => {
  it('writes everything submitted in one turn as one batch', async () => {
    const batches: number[][] = [];
    const gc = new GroupCommitter<number>(async (items) => void batches.push(items));
    await Promise.all([1, 2, 3].map((n) => gc.submit(n)));
    assert.deepEqual(batches, [[1, 2, 3]]);
  });

  it('keeps one batch in flight and puts what arrives meanwhile into the next', async () => {
    const batches: number[][] = [];
    const gate = deferred();
    let first = true;
    const gc = new GroupCommitter<number>(async (items) => {
      batches.push(items);
      if (first) {
        first = false;
        await gate.promise;
      }
    });
    const done = [gc.submit(1)];
    await new Promise((r) => setImmediate(r));
    done.push(gc.submit(2), gc.submit(3));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(batches, [[1]]);
    gate.resolve();
    await Promise.all(done);
    assert.deepEqual(batches, [[1], [2, 3]]);
    assert.equal(gc.stats().batches, 2);
  });

  it('rejects every submission of a failed batch and only those', async () => {
    let calls = 0;
    const gc = new GroupCommitter<number>(
      async () => {
        if (calls++ === 0) throw new Error('io');
      },
      (err) => new Error(`mapped: ${(err as Error).message}`),
    );
    const failed = await Promise.allSettled([gc.submit(1), gc.submit(2)]);
    assert.deepEqual(failed.map((r) => r.status), ['rejected', 'rejected']);
    assert.equal((failed[0] as PromiseRejectedResult).reason.message, 'mapped: io');
    await gc.submit(3);
    assert.equal(gc.stats().failedBatches, 1);
  });

  it('splits a burst at the weight limit without splitting a submission', async () => {
    const batches: number[][] = [];
    const gc = new GroupCommitter<number>(async (items) => void batches.push(items), undefined, { max: 5, weigh: (n) => n });
    await Promise.all([2, 2, 2, 9, 1, 1].map((n) => gc.submit(n)));
    assert.deepEqual(batches, [[2, 2], [2], [9], [1, 1]]);
  });

  it('resolves submissions in order and flushed() after everything before it', async () => {
    const seen: string[] = [];
    const gc = new GroupCommitter<number>(async () => {}, undefined, { max: 2, weigh: () => 1 });
    const all = [1, 2, 3, 4, 5].map((n) => gc.submit(n).then(() => void seen.push(`c${n}`)));
    await gc.flushed().then(() => seen.push('flushed'));
    await Promise.all(all);
    assert.deepEqual(seen, ['c1', 'c2', 'c3', 'c4', 'c5', 'flushed']);
  });
});
