/**
 * The redis store against the machine's real Redis (127.0.0.1:6379 or REDIS_URL), each test
 * under its own key prefix, deleting only its own keys. Skips with a printed reason when no
 * Redis answers; fails instead under CI=true.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { MailboxError } from '../../src/errors.ts';
import { RedisStore } from '../../src/store/redis.ts';
import { keyStart } from '../../src/store/redis-keys.ts';
import { storeContract } from './contract.ts';
import { meta, msgId, payload, S0, S1, storedMessages } from './fixtures.ts';
import { deleteKeysWithPrefix, probeRedis, uniquePrefix } from '../fixtures/redis.ts';

const redis = await probeRedis();
const url = 'url' in redis ? redis.url : '';
const skip = 'skip' in redis ? redis.skip : false;

/** A store on a fresh prefix, and a cleanup that deletes exactly that prefix's keys. */
function fresh(name: string, over: Partial<ConstructorParameters<typeof RedisStore>[0]> = {}) {
  const prefix = uniquePrefix(name);
  const make = (extra: Partial<ConstructorParameters<typeof RedisStore>[0]> = {}) =>
    new RedisStore({ url, cluster: [], prefix, instanceId: 'test-a', ...over, ...extra });
  const cleanup = async () => {
    const admin = new Redis(url, { lazyConnect: true });
    await admin.connect();
    await deleteKeysWithPrefix(admin, keyStart(prefix));
    assert.equal(await deleteKeysWithPrefix(admin, keyStart(prefix)), 0, 'the test left keys behind');
    await admin.quit();
  };
  return { prefix, make, cleanup };
}

describe('redis store', { skip }, () => {
  storeContract('redis', async () => {
    const f = fresh('contract');
    let store = f.make();
    await store.open();
    return {
      store,
      async reopen() {
        await store.close();
        store = f.make();
        await store.open();
        return store;
      },
      async dispose() {
        await store.close();
        await f.cleanup();
      },
    };
  });

  it('refuses a second instance on the same prefix while the first owns the shard, and lets it in once released', async () => {
    const f = fresh('owner');
    const a = f.make({ instanceId: 'inst-a' });
    const b = f.make({ instanceId: 'inst-b' });
    try {
      await a.open();
      await b.open();
      await a.loadShard(S0);
      await assert.rejects(b.loadShard(S0), (err: unknown) => err instanceof MailboxError && err.code === 'E_UNAVAILABLE' && /owned by instance inst-a/.test(err.message));
      await assert.rejects(b.commit([{ op: 'putMsg', shard: S0, meta: meta(msgId()), payload: payload() }]), { code: 'E_UNAVAILABLE' });
      // Another shard is free: each shard has its own owner.
      await b.loadShard(S1);
      await a.close();
      await b.loadShard(S0);
      await b.commit([{ op: 'putMsg', shard: S0, meta: meta(msgId()), payload: payload() }]);
    } finally {
      await a.close();
      await b.close();
      await f.cleanup();
    }
  });

  it('fences off an earlier holder: after the same instance loads the shard again elsewhere (a restart), the old store cannot write', async () => {
    const f = fresh('fence');
    const old = f.make({ instanceId: 'inst-a' });
    const restarted = f.make({ instanceId: 'inst-a' });
    try {
      await old.open();
      await old.loadShard(S0);
      const kept = msgId();
      await old.commit([{ op: 'putMsg', shard: S0, meta: meta(kept), payload: payload() }]);
      // kill -9 and start again: same instance id, the shard is taken back at once (no TTL wait).
      await restarted.open();
      await restarted.loadShard(S0);
      await assert.rejects(
        old.commit([{ op: 'putMsg', shard: S0, meta: meta(msgId()), payload: payload() }]),
        (err: unknown) => err instanceof MailboxError && err.code === 'E_UNAVAILABLE' && /no longer owned/.test(err.message),
      );
      // Lost for good until it loads again: no silent take-back by a later commit.
      await assert.rejects(old.commit([{ op: 'putMsg', shard: S0, meta: meta(msgId()), payload: payload() }]), /lost its ownership/);
      assert.deepEqual((await storedMessages(restarted, S0)).map((m) => m.msgId), [kept]);
    } finally {
      await old.close();
      await restarted.close();
      await f.cleanup();
    }
  });

  it('takes over a shard whose owner stopped renewing once its TTL ran out', async () => {
    const f = fresh('ttl');
    const a = f.make({ instanceId: 'inst-a', ownerTtlMs: 300 });
    const b = f.make({ instanceId: 'inst-b', ownerTtlMs: 300 });
    try {
      await a.open();
      await a.loadShard(S0);
      await assert.rejects(b.open().then(() => b.loadShard(S0)), /owned by instance inst-a/);
      // a stops renewing (its process froze or died without a clean close).
      (a as unknown as { renewTimer: NodeJS.Timeout }).renewTimer.close();
      let taken = false;
      for (let i = 0; i < 40 && !taken; i++) {
        await new Promise((r) => setTimeout(r, 50));
        taken = await b.loadShard(S0).then(() => true, () => false);
      }
      assert.ok(taken, 'b took the shard after the TTL');
      await assert.rejects(a.commit([{ op: 'putMsg', shard: S0, meta: meta(msgId()), payload: payload() }]), { code: 'E_UNAVAILABLE' });
    } finally {
      await a.close();
      await b.close();
      await f.cleanup();
    }
  });

  it('names the Redis it could not reach, without its password', async () => {
    const store = new RedisStore({ url: 'redis://user:s3cret@127.0.0.1:1', cluster: [], prefix: 'unreachable', instanceId: 'x' });
    await assert.rejects(store.open(), (err: unknown) => {
      assert.ok(err instanceof MailboxError);
      assert.equal(err.code, 'E_UNAVAILABLE');
      assert.match(err.message, /cannot reach redis:\/\/127\.0\.0\.1:1/);
      assert.doesNotMatch(err.message, /s3cret/);
      return true;
    });
  });

  it('sheds commits with E_UNAVAILABLE while Redis is away and writes again once it is back', async () => {
    const f = fresh('away');
    const store = f.make();
    try {
      await store.open();
      await store.loadShard(S0);
      const client = (store as unknown as { client: Redis }).client;
      // Cut the connection under the store: commits fail at once (no offline queue, no resend).
      client.stream.destroy();
      await assert.rejects(store.commit([{ op: 'putMsg', shard: S0, meta: meta(msgId()), payload: payload() }]), { code: 'E_UNAVAILABLE' });
      const later = msgId();
      let ok = false;
      for (let i = 0; i < 50 && !ok; i++) {
        await new Promise((r) => setTimeout(r, 50));
        ok = await store.commit([{ op: 'putMsg', shard: S0, meta: meta(later), payload: payload() }]).then(() => true, () => false);
      }
      assert.ok(ok, 'commits succeed again after the reconnect');
      assert.ok((await storedMessages(store, S0)).some((m) => m.msgId === later));
    } finally {
      await store.close();
      await f.cleanup();
    }
  });
});
