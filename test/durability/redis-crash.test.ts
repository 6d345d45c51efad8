/**
 * kill -9 of a server on the redis store (the machine's Redis, a key prefix of its own): the
 * same load drill as the LevelDB crash test, smaller, and the restart takes its shards back at
 * once (same data directory, so the same instance id) rather than after the ownership TTL.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { ShardIndex } from '../../src/domain/types.ts';
import { keyStart, shardKeys } from '../../src/store/redis-keys.ts';
import { deleteKeysWithPrefix, probeRedis, uniquePrefix } from '../fixtures/redis.ts';
import { ChildServer } from './child.ts';
import { kill9UnderLoad } from './kill9-load.ts';

const redis = await probeRedis();
const url = 'url' in redis ? redis.url : '';
const skip = 'skip' in redis ? redis.skip : false;

const TOTAL = Number(process.env.REDIS_CRASH_TOTAL ?? 10_000);
const KILLS = Number(process.env.REDIS_CRASH_KILLS ?? 4);

describe('redis store under kill -9', { skip }, () => {
  const prefix = uniquePrefix('crash');
  const dir = mkdtempSync(join(tmpdir(), 'mailbox-redis-crash-'));
  const servers: ChildServer[] = [];
  after(async () => {
    for (const s of servers) await s.dispose();
    rmSync(dir, { recursive: true, force: true });
    const admin = new Redis(url, { lazyConnect: true });
    await admin.connect();
    await deleteKeysWithPrefix(admin, keyStart(prefix));
    await admin.quit();
  });

  test(`${TOTAL.toLocaleString('en')} messages through ${KILLS} kill -9 restarts on Redis: every acknowledged SEND is delivered, nothing after its ACK`, { timeout: 300_000 }, async (t) => {
    const server = await ChildServer.start({
      args: ['--data-dir', dir, '--store', 'redis'],
      env: {
        MAILBOX_REDIS__URL: url,
        MAILBOX_REDIS__PREFIX: prefix,
        // Attempts and backoff the kills cannot use up (see crash-recovery.test.ts).
        MAILBOX_QUEUE__MAX_ATTEMPTS: String(10 * KILLS + 10),
        MAILBOX_QUEUE__BACKOFF_MAX_MS: '1000',
      },
    });
    servers.push(server);
    await kill9UnderLoad(t, server, { total: TOTAL, kills: KILLS, stallMs: 60_000 });
    // Every message was acknowledged, so Redis holds no message record and no payload any more.
    const admin = new Redis(url, { lazyConnect: true });
    await admin.connect();
    const left: number[] = [];
    for (let shard = 0; shard < 8; shard++) {
      const k = shardKeys(prefix, shard as ShardIndex);
      left.push((await admin.hlen(k.msgs)) + (await admin.hlen(k.payloads)) + (await admin.scard(k.held)));
    }
    await admin.quit();
    assert.deepEqual(left, [0, 0, 0, 0, 0, 0, 0, 0], 'message records, payloads and held ids left per shard');
  });
});
