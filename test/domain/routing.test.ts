import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { fnv1a32, shardFor, topicClass } from '../../src/domain/routing.ts';
import { DEFAULT_TENANT, type TenantId, type Topic } from '../../src/domain/types.ts';

const OTHER = '0000000000000000000000000000beef' as TenantId;

describe('routing', () => {
  it('shardFor is stable and always within [0, shards)', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1, max: 1024 }), (name, shards) => {
        const t = name as Topic;
        const s = shardFor(DEFAULT_TENANT, t, shards);
        assert.ok(Number.isInteger(s) && s >= 0 && s < shards, `${s} of ${shards}`);
        assert.equal(shardFor(DEFAULT_TENANT, t, shards), s);
      }),
      { numRuns: 500 },
    );
  });

  it('shardFor gives the same answer as a fixed FNV-1a vector, so every instance agrees', () => {
    assert.equal(fnv1a32(''), 0x811c9dc5);
    assert.equal(fnv1a32('a'), 0xe40c292c);
    assert.equal(fnv1a32('foobar'), 0xbf9cf968);
  });

  it('200 topics spread over 8 shards so that every shard gets some', () => {
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 200; i++) counts[shardFor(DEFAULT_TENANT, `user:${i}:inbox` as Topic, 8)]!++;
    for (const c of counts) assert.ok(c > 0, counts.join(','));
    assert.ok(Math.max(...counts) < 60, `too uneven: ${counts.join(',')}`);
  });

  it('the tenant is part of the shard key', () => {
    let differ = 0;
    for (let i = 0; i < 50; i++) {
      const t = `orders:${i}` as Topic;
      if (shardFor(DEFAULT_TENANT, t, 64) !== shardFor(OTHER, t, 64)) differ++;
    }
    assert.ok(differ > 0, 'differ > 0');
  });

  it('topicClass is the part before the first colon, or the whole topic without one', () => {
    assert.equal(topicClass('user:42:inbox'), 'user');
    assert.equal(topicClass('orders'), 'orders');
    assert.equal(topicClass(':x'), '');
    assert.equal(topicClass(''), '');
  });
});
