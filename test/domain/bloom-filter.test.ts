import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BloomFilter } from '../../src/domain/bloom-filter.ts';

describe('bloom filter', () => {
  it('never forgets a key it was given', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 40 }), { maxLength: 300 }), (keys) => {
        const f = new BloomFilter(Math.max(1, keys.length));
        for (const k of keys) f.add(k);
        for (const k of keys) assert.ok(f.mightContain(k), `lost ${JSON.stringify(k)}`);
      }),
      { numRuns: 200 },
    );
  });

  it('says "absent" for nearly every key it was not given, at the size it was built for', () => {
    const n = 20_000;
    const f = new BloomFilter(n, 0.01);
    for (let i = 0; i < n; i++) f.add(`tenant\u0000orders\u0000key-${i}`);
    let falsePositives = 0;
    for (let i = 0; i < n; i++) if (f.mightContain(`tenant\u0000orders\u0000other-${i}`)) falsePositives++;
    // Sized for 1%; a broken hash (one probe, correlated probes) lands far above 3%.
    assert.ok(falsePositives / n < 0.03, `false positive rate ${(falsePositives / n).toFixed(4)}`);
    assert.equal(f.added, n);
    assert.ok(f.bytes < n * 2, `about 1.2 bytes per key at 1%, got ${f.bytes} bytes`);
  });

  it('an empty filter holds nothing', () => {
    const f = new BloomFilter(10);
    assert.equal(f.mightContain(''), false);
    assert.equal(f.mightContain('x'), false);
  });
});
