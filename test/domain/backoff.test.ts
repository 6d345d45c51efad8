import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { restartDelay, retryDelay } from '../../src/domain/backoff.ts';
import { SeededRng, type Rng } from '../../src/domain/clock.ts';

const policyArb = fc.record({ baseMs: fc.integer({ min: 1, max: 10_000 }), maxMs: fc.integer({ min: 1, max: 600_000 }) });
const edgeRngArb = fc.oneof(
  fc.constant(0),
  fc.constant(1 - 2 ** -32),
  fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
);
const fixed = (value: number): Rng => ({ next: () => value });

describe('backoff', () => {
  it('retryDelay lies in [0, min(max, base*2^attempt)) for any attempt', () => {
    fc.assert(
      fc.property(policyArb, fc.integer({ min: 0, max: 60 }), edgeRngArb, (policy, attempt, r) => {
        const d = retryDelay(policy, attempt, fixed(r));
        const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** attempt);
        assert.ok(Number.isInteger(d), `${d}`);
        assert.ok(d >= 0 && d < ceiling, `${d} not in [0, ${ceiling})`);
      }),
      { numRuns: 1_000 },
    );
  });

  it('restartDelay lies in [base/2, min(cap, base*2^n)] and is never zero', () => {
    fc.assert(
      fc.property(policyArb, fc.integer({ min: 0, max: 60 }), edgeRngArb, (policy, n, r) => {
        const d = restartDelay(policy, n, fixed(r));
        const high = Math.min(policy.maxMs, policy.baseMs * 2 ** n);
        const low = Math.min(policy.baseMs / 2, high);
        assert.ok(Number.isInteger(d), `${d}`);
        assert.ok(d > 0, `zero delay for ${JSON.stringify(policy)} n=${n} r=${r}`);
        assert.ok(d >= low && d <= high, `${d} not in [${low}, ${high}]`);
      }),
      { numRuns: 1_000 },
    );
  });

  it('a huge attempt or restart count never exceeds the cap and never yields NaN or Infinity', () => {
    const rng = new SeededRng(9);
    const policy = { baseMs: 200, maxMs: 60_000 };
    for (const n of [1_023, 1_024, 1_025, 10_000, Number.MAX_SAFE_INTEGER]) {
      for (let i = 0; i < 50; i++) {
        const a = retryDelay(policy, n, rng);
        const b = restartDelay(policy, n, rng);
        for (const d of [a, b]) {
          assert.ok(Number.isFinite(d), `${d} for n=${n}`);
          assert.ok(d >= 0 && d <= policy.maxMs, `${d} for n=${n}`);
        }
        assert.ok(b >= policy.baseMs / 2, 'b >= policy.baseMs / 2');
      }
    }
  });

  it('a zero base gives zero delays, never NaN, however large the count', () => {
    const policy = { baseMs: 0, maxMs: 60_000 };
    const rng = new SeededRng(3);
    for (const n of [0, 5, 1_024, 1_000_000]) {
      assert.equal(retryDelay(policy, n, rng), 0, `retry n=${n}`);
      assert.equal(restartDelay(policy, n, rng), 0, `restart n=${n}`);
    }
  });

  it('retryDelay grows its ceiling with the attempt until the cap', () => {
    const policy = { baseMs: 100, maxMs: 1_000 };
    const top = 1 - 2 ** -32;
    assert.equal(retryDelay(policy, 0, fixed(top)), 99);
    assert.equal(retryDelay(policy, 1, fixed(top)), 199);
    assert.equal(retryDelay(policy, 3, fixed(top)), 799);
    assert.equal(retryDelay(policy, 4, fixed(top)), 999);
    assert.equal(retryDelay(policy, 4, fixed(0)), 0);
  });

  it('a negative count is treated as zero', () => {
    const policy = { baseMs: 100, maxMs: 1_000 };
    const top = 1 - 2 ** -32;
    assert.equal(retryDelay(policy, -3, fixed(top)), 99);
    assert.ok(restartDelay(policy, -3, fixed(top)) <= 100, 'restartDelay(policy, -3, fixed(top)) <= 100');
  });
});
