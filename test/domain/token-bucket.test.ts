import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { TokenBucket } from '../../src/domain/token-bucket.ts';

describe('token bucket', () => {
  it('allows a burst and then refuses until time passes', () => {
    const b = new TokenBucket(10, 5, 0);
    for (let i = 0; i < 5; i++) assert.equal(b.tryTake(1, 0), true, `take ${i}`);
    assert.equal(b.tryTake(1, 0), false);
    assert.equal(b.tryTake(1, 99), false);
    assert.equal(b.tryTake(1, 100), true, 'one token after 100 ms at 10/s');
    assert.equal(b.tryTake(1, 100), false);
  });

  it('a refused take takes nothing', () => {
    const b = new TokenBucket(10, 5, 0);
    assert.equal(b.tryTake(3, 0), true);
    assert.equal(b.tryTake(3, 0), false);
    assert.equal(b.tryTake(2, 0), true);
  });

  it('refills over time but never beyond the burst', () => {
    const b = new TokenBucket(100, 10, 0);
    assert.equal(b.tryTake(10, 0), true);
    assert.equal(b.tryTake(10, 60_000), true);
    assert.equal(b.tryTake(1, 60_000), false);
  });

  it('waitMs is 0 when tokens are there, the refill time when not, and Infinity beyond the burst', () => {
    const b = new TokenBucket(10, 5, 0);
    assert.equal(b.waitMs(5, 0), 0);
    assert.equal(b.tryTake(5, 0), true);
    assert.equal(b.waitMs(1, 0), 100);
    assert.equal(b.waitMs(2, 50), 150);
    assert.equal(b.waitMs(6, 50), Number.POSITIVE_INFINITY);
    assert.equal(new TokenBucket(0, 5, 0).waitMs(1, 0), 0);
  });

  it('a bucket with no refill rate waits forever once empty', () => {
    const b = new TokenBucket(0, 2, 0);
    assert.equal(b.tryTake(2, 0), true);
    assert.equal(b.waitMs(1, 1_000_000), Number.POSITIVE_INFINITY);
  });

  it('a clock that steps backwards neither refills nor breaks the bucket', () => {
    const b = new TokenBucket(10, 5, 1_000);
    assert.equal(b.tryTake(5, 1_000), true);
    assert.equal(b.tryTake(1, 0), false);
    assert.equal(b.tryTake(1, 1_100), true);
  });

  it('a caller who waits exactly waitMs is not refused by a rounding error', () => {
    // Found by the property below: 15.218 + 5162*11/1000 sums to 71.99999999..., not 72.
    const b = new TokenBucket(11, 72, 0);
    assert.equal(b.tryTake(72, 0), true);
    let now = 1_216;
    now += b.waitMs(49, now);
    assert.equal(b.tryTake(49, now), true);
    now += 1_383;
    now += b.waitMs(72, now);
    assert.equal(b.tryTake(72, now), true);
  });

  it('after waiting waitMs the requested tokens can be taken', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 100 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 1, max: 100 })), { maxLength: 30, size: 'max' }),
        (rate, burst, steps) => {
          const b = new TokenBucket(rate, burst, 0);
          let now = 0;
          for (const [dt, want] of steps) {
            now += dt;
            const n = Math.min(want, burst);
            const wait = b.waitMs(n, now);
            assert.ok(Number.isFinite(wait) && wait >= 0, 'Number.isFinite(wait) && wait >= 0');
            if (wait > 0) assert.equal(b.tryTake(n, now), false, 'waitMs > 0 but take succeeded');
            now += wait;
            assert.equal(b.tryTake(n, now), true, `could not take ${n} after waiting ${wait}`);
          }
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
