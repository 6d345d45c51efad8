import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SeededRng } from '../../src/domain/clock.ts';
import { IdGenerator, isUlid } from '../../src/domain/ids.ts';

const T0 = 1_700_000_000_000;

function sorted(ids: string[]): string[] {
  return ids.slice().sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

describe('ids', () => {
  it('every id is 26 Crockford base32 characters and passes isUlid', () => {
    const gen = new IdGenerator(new SeededRng(1));
    for (let i = 0; i < 1_000; i++) {
      const id = gen.next(T0 + Math.floor(i / 10));
      assert.equal(id.length, 26);
      assert.ok(isUlid(id), id);
    }
  });

  it('ids made within the same millisecond are strictly increasing', () => {
    const gen = new IdGenerator(new SeededRng(2));
    const ids = Array.from({ length: 5_000 }, () => gen.next(T0));
    assert.deepEqual(sorted(ids), ids);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('the random part counts up by one per id within a millisecond, digit by digit', () => {
    const gen = new IdGenerator({ next: () => 0 }); // every random digit 0
    const tails = Array.from({ length: 1026 }, () => gen.next(T0).slice(10));
    assert.equal(tails[0], '0'.repeat(16));
    assert.equal(tails[1], `${'0'.repeat(15)}1`);
    assert.equal(tails[33], `${'0'.repeat(14)}11`);
    assert.equal(tails[1025], `${'0'.repeat(13)}101`);
  });

  it('ids made across milliseconds sort in the order they were made', () => {
    const gen = new IdGenerator(new SeededRng(3));
    const ids: string[] = [];
    for (let ms = 0; ms < 200; ms++) for (let k = 0; k < 3; k++) ids.push(gen.next(T0 + ms));
    assert.deepEqual(sorted(ids), ids);
  });

  it('ids stay strictly increasing even when the wall clock steps backwards', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 }), fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 1, maxLength: 200, size: 'max' }), (seed, steps) => {
        const gen = new IdGenerator(new SeededRng(seed));
        let t = T0;
        let last = '';
        for (const step of steps) {
          t += step;
          const id = gen.next(t);
          assert.ok(id > last, `${id} <= ${last}`);
          last = id;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the first ten characters encode the millisecond', () => {
    const gen = new IdGenerator(new SeededRng(4));
    const a = gen.next(T0);
    const b = gen.next(T0 + 1);
    assert.equal(a.slice(0, 9), b.slice(0, 9));
    assert.notEqual(a.slice(0, 10), b.slice(0, 10));
    assert.equal(gen.next(0).slice(0, 10), b.slice(0, 10), 'a clock behind the last id keeps the last millisecond');
  });

  it('isUlid rejects wrong lengths and the letters I, L, O, U and lower case', () => {
    const good = new IdGenerator(new SeededRng(5)).next(T0);
    assert.ok(isUlid(good), 'isUlid(good)');
    assert.equal(isUlid(good.slice(1)), false);
    assert.equal(isUlid(good + '0'), false);
    for (const bad of ['I', 'L', 'O', 'U', 'a']) assert.equal(isUlid(bad + good.slice(1)), false, bad);
    assert.equal(isUlid(''), false);
  });
});

describe('IdGenerator.advancePast', () => {
  it('makes every later id sort after an id read back from the store, even within the same millisecond', () => {
    const stored = new IdGenerator(new SeededRng(1));
    const newest = [0, 1, 2].map(() => stored.next(1_000)).pop()!;
    // Rebuilt shards' generators: without advancePast about half would start below `newest`.
    for (let seed = 100; seed < 150; seed++) {
      const fresh = new IdGenerator(new SeededRng(seed));
      fresh.advancePast(newest);
      const next = fresh.next(1_000);
      assert.ok(next > newest, `seed ${seed}: ${next} sorts after ${newest}`);
      assert.ok(fresh.next(999) > next, 'and stays monotonic');
    }
  });

  it('never moves a generator backwards', () => {
    const g = new IdGenerator(new SeededRng(3));
    const a = g.next(5_000);
    g.advancePast(new IdGenerator(new SeededRng(4)).next(1_000));
    assert.ok(g.next(5_000) > a);
  });
});
