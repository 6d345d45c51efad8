/**
 * The redis store on a Redis Cluster this test starts itself (3 masters, one replica each, on
 * loopback ports; stopped by PID): the store contract, shards spread over the masters, and a
 * shard whose master is killed -9 and replaced by its replica.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import type { MsgId, ShardIndex } from '../../src/domain/types.ts';
import { RedisStore } from '../../src/store/redis.ts';
import { keyStart, shardKeys } from '../../src/store/redis-keys.ts';
import { defineSharedScripts, SharedQueue, sharedTopicKey } from '../../src/store/redis-shared.ts';
import { skipWithoutRedisServer, startRedisCluster, type RedisClusterFixture } from '../fixtures/redis-cluster.ts';
import { uniquePrefix } from '../fixtures/redis.ts';
import { storeContract } from './contract.ts';
import { meta, msgId, payload, storedMessages } from './fixtures.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('redis store on a Redis Cluster (3 masters, 1 replica each)', { skip: skipWithoutRedisServer() }, () => {
  let cluster: RedisClusterFixture;
  const seeds = (): string[] => cluster.startupNodes.map((n) => `${n.host}:${n.port}`);
  const store = (prefix: string) => new RedisStore({ url: '', cluster: seeds(), prefix, instanceId: 'cluster-test' });

  before(async () => {
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  });
  after(async () => {
    await cluster?.stop();
  });

  // The cluster is this test's own and stopped whole at the end: no key cleanup needed per test.
  storeContract('redis cluster', async () => {
    const prefix = uniquePrefix('cluster-contract');
    let s = store(prefix);
    await s.open();
    return {
      store: s,
      async reopen() {
        await s.close();
        s = store(prefix);
        await s.open();
        return s;
      },
      async dispose() {
        await s.close();
      },
    };
  });

  it('runs the shared mode\'s queue scripts on every master (each builds its keys from the shard\'s tag, all in one slot)', async () => {
    const prefix = uniquePrefix('cluster-shared');
    const client = new Cluster([...cluster.startupNodes], { lazyConnect: true });
    client.on('error', () => {});
    await client.connect();
    defineSharedScripts(client);
    try {
      const policy = { maxAttempts: 3, backoffBaseMs: 0, backoffMaxMs: 0, replayWindowMs: 60_000, capacity: 100 };
      const masters = new Set<number>();
      for (let shard = 0; shard < 6; shard++) {
        const q = new SharedQueue(client, prefix, shard as ShardIndex, policy);
        masters.add((await cluster.masterOfSlot(q.tag)).port);
        const m = meta(msgId());
        assert.deepEqual(await q.enqueue([{ meta: m, payload: Buffer.from('x'), dedupKey: m.idemKey }]), [{ kind: 'accepted' }]);
        const [l] = await q.lease(sharedTopicKey(m.tenant, m.topic), 1, 0, 30_000, 'i/s');
        assert.equal(l?.meta.msgId, m.msgId, `shard ${shard}`);
        assert.deepEqual(await q.ack(m.tenant, [{ msgId: m.msgId, leaseId: l!.meta.leaseId! }]), [{ topicKey: sharedTopicKey(m.tenant, m.topic) }]);
      }
      assert.ok(masters.size > 1, 'on more than one master');
    } finally {
      client.disconnect();
    }
  });

  it('spreads shards over the masters, and a shard whose master is killed -9 keeps its replicated records and takes writes again on the promoted replica', async () => {
    const prefix = uniquePrefix('cluster-failover');
    const s = store(prefix);
    await s.open();
    try {
      const shards = Array.from({ length: 8 }, (_, i) => i as ShardIndex);
      const masters = new Set<number>();
      for (const shard of shards) masters.add((await cluster.masterOfSlot(keyStart(prefix) + `${shard}}`)).port);
      assert.ok(masters.size > 1, `shards on ${masters.size} master(s)`);

      const before = new Map<ShardIndex, MsgId[]>();
      for (const shard of shards) {
        await s.loadShard(shard);
        const ids = [msgId(), msgId(), msgId()];
        await s.commit(ids.map((id) => ({ op: 'putMsg' as const, shard, meta: meta(id), payload: payload(32) })));
        before.set(shard, ids);
      }
      // Replication is asynchronous: make sure shard 0's replica has them before the kill (a
      // write of our own on that slot, then WAIT: the replica acknowledges the stream in order).
      const victim = await cluster.masterOfSlot(shardKeys(prefix, 0 as ShardIndex).msgs);
      const direct = new Redis(victim.port, victim.host, { lazyConnect: true });
      await direct.connect();
      await direct.set(`${keyStart(prefix)}0}:fence`, '1');
      assert.equal(await direct.wait(1, 5_000), 1, 'the replica acknowledged the writes');
      direct.disconnect();

      await cluster.stopNode(victim.port);
      await cluster.waitForFailover(victim.port);

      // Commits to shard 0 work again once the client has the new slot map (the first ones may be refused).
      const later = msgId();
      let landed = false;
      for (let i = 0; i < 100 && !landed; i++) {
        landed = await s.commit([{ op: 'putMsg', shard: 0 as ShardIndex, meta: meta(later), payload: payload(8) }]).then(() => true, () => false);
        if (!landed) await sleep(100);
      }
      assert.ok(landed, 'a commit to the failed-over shard landed');
      assert.deepEqual((await storedMessages(s, 0 as ShardIndex)).map((m) => m.msgId), [...before.get(0 as ShardIndex)!, later]);
      for (const shard of shards.slice(1)) assert.deepEqual((await storedMessages(s, shard)).map((m) => m.msgId), before.get(shard), `shard ${shard}`);
    } finally {
      await s.close();
    }
  });

  it('shared mode on a cluster: a shard whose master is killed -9 keeps its queue (replicated before the kill) and leases, ACKs and enqueues land on the promoted replica', async () => {
    const prefix = uniquePrefix('cluster-shared-failover');
    const client = new Cluster([...cluster.startupNodes], { lazyConnect: true });
    client.on('error', () => {});
    await client.connect();
    defineSharedScripts(client);
    try {
      // A shard whose master still has a replica (an earlier test may have failed one over already).
      let q: SharedQueue | undefined;
      for (let shard = 0; shard < 64 && q === undefined; shard++) {
        const candidate = new SharedQueue(client, prefix, shard as ShardIndex, { maxAttempts: 3, backoffBaseMs: 0, backoffMaxMs: 0, replayWindowMs: 60_000, capacity: 100 });
        const master = await cluster.masterOfSlot(candidate.tag);
        const probe = new Redis(master.port, master.host, { lazyConnect: true });
        await probe.connect();
        if (/^connected_slaves:[1-9]/m.test(await probe.info('replication'))) q = candidate;
        probe.disconnect();
      }
      assert.ok(q, 'a shard on a master with a replica');
      const ms = [meta(msgId()), meta(msgId()), meta(msgId())];
      await q.enqueue(ms.map((m) => ({ meta: m, payload: Buffer.from(m.msgId), dedupKey: m.idemKey })));
      const key = sharedTopicKey(ms[0]!.tenant, ms[0]!.topic);
      const [held] = await q.lease(key, 1, 0, 60_000, 'i/s');
      const victim = await cluster.masterOfSlot(q.tag);
      const direct = new Redis(victim.port, victim.host, { lazyConnect: true });
      await direct.connect();
      await direct.set(`${q.tag}:fence`, '1');
      assert.equal(await direct.wait(1, 5_000), 1, 'the replica acknowledged the writes');
      direct.disconnect();
      await cluster.stopNode(victim.port);
      await cluster.waitForFailover(victim.port);
      let acked: unknown;
      for (let i = 0; i < 100 && acked === undefined; i++) {
        acked = await q.ack(held!.meta.tenant, [{ msgId: held!.meta.msgId, leaseId: held!.meta.leaseId! }]).catch(() => undefined);
        if (acked === undefined) await sleep(100);
      }
      assert.deepEqual(acked, [{ topicKey: key }], 'the lease taken before the failover settles after it');
      const rest = await q.lease(key, 10, 0, 60_000, 'i/s');
      assert.deepEqual(rest.map((l) => l.meta.msgId), [ms[1]!.msgId, ms[2]!.msgId], 'the rest of the queue, in order');
      const later = meta(msgId());
      assert.deepEqual(await q.enqueue([{ meta: later, payload: Buffer.from('x'), dedupKey: later.idemKey }]), [{ kind: 'accepted' }]);
    } finally {
      client.disconnect();
    }
  });
});
