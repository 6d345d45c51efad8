/**
 * The Redis test fixtures themselves: a cluster of our own redis-server processes (3 masters,
 * one replica each) that survives a master's kill -9 and leaves no process or file behind, and
 * the probe of the shared Redis that decides whether Redis tests run.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import { skipWithoutRedisServer, startRedisCluster, type RedisClusterFixture } from '../fixtures/redis-cluster.ts';
import { deleteKeysWithPrefix, probeRedis, uniquePrefix } from '../fixtures/redis.ts';

const TAGS = Array.from({ length: 12 }, (_, i) => `{mbx:${i}}`);

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('a redis cluster of our own (3 masters, 1 replica each)', { skip: skipWithoutRedisServer() }, () => {
  let cluster: RedisClusterFixture;
  let client: Cluster;

  before(async () => {
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    client = new Cluster([...cluster.startupNodes], { lazyConnect: true, redisOptions: { connectTimeout: 500 } });
    client.on('error', () => {
      // The kill below makes the client lose a node; its commands report what matters.
    });
    await client.connect();
  });

  after(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  it('serves every slot, keeps its files private, and spreads keys of different hash tags over more than one master', async () => {
    assert.equal(cluster.nodes.length, 6);
    assert.deepEqual(cluster.nodes.map((n) => n.role).sort(), ['master', 'master', 'master', 'replica', 'replica', 'replica']);
    assert.equal(statSync(cluster.dir).mode & 0o777, 0o700);
    for (const name of readdirSync(cluster.dir)) {
      // A file may be renamed away between the listing and the stat (redis rewrites nodes.conf).
      const stat = statSync(join(cluster.dir, name), { throwIfNoEntry: false });
      if (stat) assert.equal(stat.mode & 0o777, 0o600, name);
    }

    const masters = new Set<number>();
    for (const tag of TAGS) {
      assert.equal(await client.set(`${tag}:k`, tag), 'OK');
      assert.equal(await client.get(`${tag}:k`), tag);
      masters.add((await cluster.masterOfSlot(`${tag}:k`)).port);
    }
    assert.ok(masters.size > 1, `all ${TAGS.length} tags landed on one master`);
  });

  it('a key acknowledged by its replica before its master is killed -9 is still read after the failover, and writes work again', async () => {
    const key = '{mbx:0}:before-kill';
    const replies = await client.pipeline().set(key, 'kept').wait(1, 1_000).exec();
    assert.deepEqual(replies, [[null, 'OK'], [null, 1]], 'the replica did not acknowledge the write');

    const master = await cluster.masterOfSlot(key);
    const started = Date.now();
    await cluster.stopNode(master.port);
    assert.equal(isRunning(master.pid), false);
    const promoted = await cluster.waitForFailover(master.port);
    console.log(`failover of ${master.port} to ${promoted.port} took ${Date.now() - started} ms`);

    assert.notEqual(promoted.port, master.port);
    assert.equal((await cluster.masterOfSlot(key)).port, promoted.port);
    assert.equal(await client.get(key), 'kept');
    assert.equal(await client.set('{mbx:0}:after-failover', 'new'), 'OK');
    assert.equal(await client.get('{mbx:0}:after-failover'), 'new');
  });

  it('stop() ends every redis-server it started and removes its dir', async () => {
    const pids = cluster.nodes.map((n) => n.pid);
    client.disconnect();
    await cluster.stop();
    assert.deepEqual(pids.filter(isRunning), [], 'redis-server processes are left behind');
    assert.equal(existsSync(cluster.dir), false, `${cluster.dir} is left behind`);
  });
});

/** A loopback port nothing listens on (bound once, then closed). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function scanAll(redis: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found;
}

describe('probeRedis', () => {
  it('the shared Redis answers: keys set under a unique prefix are all gone after deleteKeysWithPrefix', async (t) => {
    const redis = await probeRedis();
    if (!('url' in redis)) return t.skip(redis.skip);
    const prefix = uniquePrefix('fixture');
    const admin = new Redis(redis.url, { lazyConnect: true });
    await admin.connect();
    try {
      // More keys than one SCAN/UNLINK batch, and a prefix with a glob character, taken literally.
      const pipeline = admin.pipeline();
      for (let i = 0; i < 1_200; i++) pipeline.set(`${prefix}${i}`, 'v');
      pipeline.set(`${prefix}a*b:1`, 'v').set(`${prefix}axb:1`, 'v');
      await pipeline.exec();
      assert.equal(await deleteKeysWithPrefix(admin, `${prefix}a*b`), 1);
      assert.equal(await admin.get(`${prefix}axb:1`), 'v');
      assert.equal(await deleteKeysWithPrefix(admin, prefix), 1_201);
      assert.deepEqual(await scanAll(admin, `${prefix}*`), []);
    } finally {
      await deleteKeysWithPrefix(admin, prefix);
      await admin.quit();
    }
  });

  it('a closed port gives a skip whose printed reason names the URL and the error', async () => {
    const port = await closedPort();
    const url = `redis://127.0.0.1:${port}`;
    const printed: string[] = [];
    const redis = await probeRedis({ url, ci: false, log: (line) => printed.push(line) });
    assert.ok('skip' in redis && typeof redis.skip === 'string');
    assert.match(redis.skip, new RegExp(`^redis at ${url} did not answer: .*ECONNREFUSED`));
    assert.equal(printed.length, 1);
    assert.ok(printed[0].includes(redis.skip));
  });

  it('under CI a closed port rejects instead of skipping', async () => {
    const url = `redis://127.0.0.1:${await closedPort()}`;
    await assert.rejects(probeRedis({ url, ci: true, log: () => assert.fail('nothing is printed under CI') }), new RegExp(`redis at ${url} did not answer`));
  });

  it('never prints the password of the URL', async () => {
    const url = `redis://user:s3cret-pw@127.0.0.1:${await closedPort()}`;
    const printed: string[] = [];
    const redis = await probeRedis({ url, ci: false, log: (line) => printed.push(line) });
    assert.ok('skip' in redis);
    assert.doesNotMatch(`${redis.skip}\n${printed.join('\n')}`, /s3cret-pw|user/);
  });
});
