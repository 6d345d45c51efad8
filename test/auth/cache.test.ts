import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MailboxError } from '../../src/errors.ts';
import { KeyRing, VerificationCache, generateKey, mint, verify, type Capability } from '../../src/auth/index.ts';

const NOW = 1_700_000_000_000;

/** A cache on a manual clock whose underlying verify counts its calls. */
function setup(options: { ttlMs?: number; maxEntries?: number } = {}) {
  const ring = new KeyRing('k1', generateKey());
  let now = NOW;
  let calls = 0;
  const cache = new VerificationCache(ring, {
    ...options,
    clock: () => now,
    verify: (r: KeyRing, token: string, at: number): Capability => {
      calls++;
      return verify(r, token, at);
    },
  });
  return {
    ring,
    cache,
    advance: (ms: number) => (now += ms),
    calls: () => calls,
  };
}

function authCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof MailboxError ? err.code : String(err);
  }
  return undefined;
}

test('a cache hit returns the same capability without verifying again', () => {
  const { ring, cache, calls } = setup();
  const token = mint(ring);
  const first = cache.verify(token);
  const second = cache.verify(token);
  assert.equal(second, first);
  assert.equal(calls(), 1);
  assert.deepEqual(cache.stats(), { hits: 1, misses: 1, evictions: 0, size: 1 });
});

test('an entry older than ttlMs is verified again', () => {
  const { ring, cache, calls, advance } = setup({ ttlMs: 1_000 });
  const token = mint(ring);
  cache.verify(token);
  advance(999);
  cache.verify(token);
  assert.equal(calls(), 1);
  advance(1);
  cache.verify(token);
  assert.equal(calls(), 2);
});

test('the default ttl is 30 seconds', () => {
  const { ring, cache, calls, advance } = setup();
  const token = mint(ring);
  cache.verify(token);
  advance(29_999);
  cache.verify(token);
  assert.equal(calls(), 1);
  advance(1);
  cache.verify(token);
  assert.equal(calls(), 2);
});

test('a cached capability is refused once its own expiry passes, inside the ttl', () => {
  const { ring, cache, advance } = setup({ ttlMs: 60_000 });
  const token = mint(ring, { caveats: [{ kind: 'expiry', at: NOW + 500 }] });
  cache.verify(token);
  advance(500);
  assert.equal(authCode(() => cache.verify(token)), 'E_CAP_AUTH');
  assert.equal(cache.stats().size, 0);
});

test('failures are not cached: a bad token is verified, and refused, every time', () => {
  const { cache, calls } = setup();
  assert.equal(authCode(() => cache.verify('mbx1.AAAA')), 'E_CAP_AUTH');
  assert.equal(authCode(() => cache.verify('mbx1.AAAA')), 'E_CAP_AUTH');
  assert.equal(calls(), 2);
  assert.equal(cache.stats().size, 0);
});

test('rotation empties the cache, and a cached token of a key past its grace is refused', () => {
  const { ring, cache, calls, advance } = setup({ ttlMs: 3_600_000 });
  const oldToken = mint(ring);
  cache.verify(oldToken);
  ring.rotate('k2', generateKey(), 10_000, NOW);
  assert.equal(cache.stats().size, 0);
  cache.verify(oldToken);
  cache.verify(oldToken);
  assert.equal(calls(), 2);
  // The grace ends without any event on the ring: the hit must still be refused.
  advance(10_000);
  assert.equal(authCode(() => cache.verify(oldToken)), 'E_CAP_AUTH');
});

test('the cache holds at most maxEntries, dropping the least recently used', () => {
  const { ring, cache, calls } = setup({ maxEntries: 2 });
  const [a, b, c] = [mint(ring), mint(ring), mint(ring)];
  cache.verify(a);
  cache.verify(b);
  cache.verify(a); // a is now the most recent
  cache.verify(c); // evicts b
  assert.equal(cache.stats().size, 2);
  assert.equal(cache.stats().evictions, 1);
  const before = calls();
  cache.verify(a);
  assert.equal(calls(), before);
  cache.verify(b);
  assert.equal(calls(), before + 1);
});

test('ttlMs 0 turns caching off', () => {
  const { ring, cache, calls } = setup({ ttlMs: 0 });
  const token = mint(ring);
  cache.verify(token);
  cache.verify(token);
  assert.equal(calls(), 2);
  assert.equal(cache.stats().size, 0);
});
