import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DedupWindow, dedupKey } from '../../src/domain/dedup-window.ts';
import { DEFAULT_TENANT, type DedupEntry, type MsgId } from '../../src/domain/types.ts';
import { MailboxError } from '../../src/errors.ts';

const T0 = 1_700_000_000_000;
const id = (n: number): MsgId => `MSG${String(n).padStart(23, '0')}` as MsgId;

function saturated(err: unknown): boolean {
  return err instanceof MailboxError && err.code === 'E_SATURATED';
}

describe('dedup window', () => {
  it('the same key inside the window answers with the first entry', () => {
    const w = new DedupWindow(10, 1_000);
    const k = dedupKey(DEFAULT_TENANT, 'orders', 'k1');
    w.add(k, id(1), 'h1', T0);
    assert.deepEqual(w.lookup(k, T0 + 999), { msgId: id(1), payloadHash: 'h1', expiresAt: T0 + 1_000 });
  });

  it('an entry is gone once its window has passed, even before expire runs', () => {
    const w = new DedupWindow(10, 1_000);
    const k = dedupKey(DEFAULT_TENANT, 'orders', 'k1');
    w.add(k, id(1), 'h1', T0);
    assert.equal(w.lookup(k, T0 + 1_000), undefined);
    assert.deepEqual(w.expire(T0 + 1_000), [k]);
    assert.equal(w.size, 0);
    assert.equal(w.lookup(k, T0 + 1), undefined, 'expired entries are forgotten');
  });

  it('keys differ by tenant, topic and idemKey', () => {
    const keys = new Set([
      dedupKey(DEFAULT_TENANT, 'a', 'k'),
      dedupKey(DEFAULT_TENANT, 'b', 'k'),
      dedupKey(DEFAULT_TENANT, 'a', 'j'),
      dedupKey('0000000000000000000000000000000f' as typeof DEFAULT_TENANT, 'a', 'k'),
    ]);
    assert.equal(keys.size, 4);
  });

  it('expire returns keys in expiry order and stops at the first live one', () => {
    const w = new DedupWindow(10, 1_000);
    w.add('a', id(1), 'h', T0);
    w.add('b', id(2), 'h', T0 + 10);
    w.add('c', id(3), 'h', T0 + 20);
    assert.equal(w.nextExpiry(), T0 + 1_000);
    assert.deepEqual(w.expire(T0 + 1_010), ['a', 'b']);
    assert.equal(w.nextExpiry(), T0 + 1_020);
    assert.deepEqual(w.expire(T0 + 5_000), ['c']);
    assert.equal(w.nextExpiry(), undefined);
  });

  it('expire honours its limit and continues where it stopped', () => {
    const w = new DedupWindow(10, 100);
    for (let i = 0; i < 5; i++) w.add(`k${i}`, id(i), 'h', T0 + i);
    assert.deepEqual(w.expire(T0 + 1_000, 2), ['k0', 'k1']);
    assert.deepEqual(w.expire(T0 + 1_000), ['k2', 'k3', 'k4']);
  });

  it('a full window refuses a new key with E_SATURATED and the time until the oldest key frees', () => {
    const w = new DedupWindow(2, 1_000);
    w.add('a', id(1), 'h', T0);
    w.add('b', id(2), 'h', T0 + 100);
    assert.throws(
      () => w.add('c', id(3), 'h', T0 + 400),
      (err: unknown) => saturated(err) && (err as MailboxError).retryAfterMs === 600,
    );
    assert.equal(w.size, 2);
  });

  it('a full window never evicts a live key early', () => {
    const w = new DedupWindow(3, 1_000);
    for (let i = 0; i < 3; i++) w.add(`k${i}`, id(i), 'h', T0);
    for (let i = 0; i < 10; i++) assert.throws(() => w.add(`x${i}`, id(100 + i), 'h', T0 + 500), saturated);
    for (let i = 0; i < 3; i++) assert.equal(w.lookup(`k${i}`, T0 + 999)?.msgId, id(i));
  });

  it('a key re-added after its window passed does not hold back the expiry of later keys', () => {
    const w = new DedupWindow(10, 100);
    w.add('a', id(1), 'h', T0);
    w.add('b', id(2), 'h', T0 + 50);
    // `a` expired at T0+100 but no expire ran; it is sent again.
    assert.equal(w.lookup('a', T0 + 120), undefined);
    w.add('a', id(3), 'h', T0 + 120);
    assert.deepEqual(w.expire(T0 + 160), ['b']);
    assert.equal(w.size, 1);
    assert.equal(w.lookup('a', T0 + 160)?.msgId, id(3));
    assert.deepEqual(w.expire(T0 + 220), ['a']);
    assert.equal(w.size, 0);
  });

  it('restore keeps live entries in expiry order and returns the expired keys', () => {
    const w = new DedupWindow(10, 1_000);
    const pairs: Array<[string, DedupEntry]> = [
      ['late', { msgId: id(1), payloadHash: 'h', expiresAt: T0 + 300 }],
      ['gone', { msgId: id(2), payloadHash: 'h', expiresAt: T0 - 1 }],
      ['early', { msgId: id(3), payloadHash: 'h', expiresAt: T0 + 100 }],
      ['edge', { msgId: id(4), payloadHash: 'h', expiresAt: T0 }],
    ];
    assert.deepEqual(w.restore(pairs, T0).sort(), ['edge', 'gone']);
    assert.equal(w.size, 2);
    assert.equal(w.lookup('gone', T0), undefined);
    assert.equal(w.lookup('late', T0)?.msgId, id(1));
    assert.equal(w.nextExpiry(), T0 + 100);
    assert.deepEqual(w.expire(T0 + 1_000), ['early', 'late']);
  });

  it('behaves like a map of live keys under any sequence of adds and expiries', () => {
    const stepArb = fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 5 }), fc.boolean());
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(stepArb, { maxLength: 100, size: 'max' }), (capacity, steps) => {
        const windowMs = 100;
        const w = new DedupWindow(capacity, windowMs);
        const model = new Map<string, number>(); // key -> expiresAt (may include expired, not yet swept)
        let now = T0;
        let n = 0;
        for (const [dt, k, sweep] of steps) {
          now += dt;
          const key = `k${k}`;
          if (sweep) {
            const removed = w.expire(now);
            const due = [...model].filter(([, exp]) => exp <= now);
            assert.deepEqual(removed.slice().sort(), due.map(([key]) => key).sort());
            const order = removed.map((key) => model.get(key)!);
            assert.deepEqual(order, order.slice().sort((a, b) => a - b), 'expire returns keys in expiry order');
            for (const [key] of due) model.delete(key);
          }
          const live = model.has(key) && model.get(key)! > now;
          assert.equal(w.lookup(key, now) !== undefined, live);
          if (live) continue;
          const liveCount = [...model.values()].filter((exp) => exp > now).length;
          try {
            w.add(key, id(n++), 'h', now);
            model.set(key, now + windowMs);
          } catch (err) {
            assert.ok(saturated(err), 'saturated(err)');
            assert.ok(model.size >= capacity, 'refused while there was room');
            assert.ok(liveCount > 0 || model.size >= capacity, 'liveCount > 0 || model.size >= capacity');
            assert.ok(((err as MailboxError).retryAfterMs ?? 0) >= 1, '((err as MailboxError).retryAfterMs ?? 0) >= 1');
          }
          assert.ok(w.size <= capacity, 'w.size <= capacity');
        }
      }),
      { numRuns: 500 },
    );
  });
});
