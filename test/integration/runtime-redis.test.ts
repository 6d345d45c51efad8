/**
 * The whole runtime (createMailbox) on the redis store, against a redis-server this test
 * starts itself on a loopback port (AOF, fsync always), so it can kill it and start it
 * again without touching the machine's shared Redis. Skips with a printed reason when there
 * is no redis-server binary; fails instead under CI=true.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { metricValue, waitUntil } from '../../chaos/inspect.ts';
import { createMailbox, MailboxError } from '../../src/index.ts';
import { freePort } from './helpers/process.ts';
import { skipWithoutRedisServer } from '../fixtures/redis-cluster.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const skip = skipWithoutRedisServer();

/** A redis-server of this test's own: started, killed (SIGKILL) and started again on the same port and directory. */
class OwnRedis {
  private child: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), 'mailbox-own-redis-'));
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const probe = new Redis(this.url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      probe.on('error', () => {});
      const up = await probe.connect().then(() => probe.ping()).then(() => true, () => false);
      probe.disconnect();
      if (up) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server on 127.0.0.1:${this.port} did not answer within 5 s`);
  }

  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    child.kill('SIGKILL');
    await once(child, 'exit');
  }

  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe('the runtime on the redis store', { skip }, () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  for (const mode of ['owned', 'shared'] as const) test(`${mode} mode: Redis going away degrades readiness for storage and sheds SENDs with E_UNAVAILABLE; once it is back the mailbox recovers by itself and has lost nothing`, { timeout: 60_000 }, async () => {
    const redis = new OwnRedis(await freePort());
    cleanups.push(() => redis.dispose());
    await redis.start();
    const dataDir = mkdtempSync(join(tmpdir(), 'mailbox-redis-rt-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const mb = await createMailbox({ store: 'redis', redis: { url: redis.url, prefix: 'rt', shared: mode === 'shared' }, dataDir, logLevel: 'silent', shards: 2 });
    cleanups.push(() => mb.stop());
    assert.equal(mb.store.kind, 'redis');
    // Operators see which Redis and which instance, and how Redis answers.
    const health = mb.readiness().redis;
    assert.equal(health?.reachable, true);
    assert.equal(health?.mode, mode);
    assert.equal(health?.redis, `redis://127.0.0.1:${redis.port}`);
    assert.ok(typeof health?.latencyMs === 'number');
    const storeNode = mb.tree().children?.find((c) => c.kind === 'store');
    assert.equal(storeNode?.info?.instance, health.instance);
    const text = await mb.metrics.render();
    assert.ok(text.includes(`store_info{store="redis",mode="${mode}",instance="${health.instance}"`), 'store_info names the instance');
    assert.match(text, /^redis_up 1$/m);

    const accepted: string[] = [];
    for (let i = 0; i < 20; i++) accepted.push((await mb.send({ topic: `t:${i % 4}`, idemKey: `before-${i}`, payload: bytes(`before ${i}`) })).msgId);
    const [first] = await mb.recv({ topic: 't:0', maxMessages: 1 });
    await mb.ack(first!.msgId, first!.leaseId);

    await redis.kill();
    const refused = await mb.send({ topic: 't:1', idemKey: 'during', payload: bytes('x') }).then(() => undefined, (e: unknown) => e);
    assert.ok(refused instanceof MailboxError && refused.code === 'E_UNAVAILABLE', `a SEND while Redis is away is refused: ${String(refused)}`);
    assert.ok(await waitUntil(() => mb.readiness().state === 'degraded', 10_000), 'readiness degrades');
    assert.ok(mb.readiness().reasons.some((r) => r.startsWith('storage')), `reasons name storage: ${mb.readiness().reasons.join('; ')}`);
    assert.ok((await metricValue(mb, 'rejected_total{reason="storage"}')) >= 1);
    assert.ok(await waitUntil(() => mb.readiness().redis?.reachable === false, 5_000), '/readyz says Redis is unreachable');

    await redis.start();
    assert.ok(await waitUntil(() => mb.readiness().state === 'ready', 20_000), `readiness recovers: ${mb.readiness().reasons.join('; ')}`);
    const later = await mb.send({ topic: 't:1', idemKey: 'after', payload: bytes('after') });
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) for (const d of await mb.recv({ topic: `t:${i}`, maxMessages: 100 })) seen.add(d.msgId);
    assert.ok(!seen.has(first!.msgId), 'the acknowledged message stayed gone');
    for (const id of accepted.slice(1)) assert.ok(seen.has(id), `accepted ${id} was lost`);
    assert.ok(seen.has(later.msgId));
    assert.equal(seen.size, 20, 'nothing refused while Redis was away was stored');
  });

  test('a second mailbox on the same prefix does not start while the first holds its shards; the first keeps working', { timeout: 60_000 }, async () => {
    const redis = new OwnRedis(await freePort());
    cleanups.push(() => redis.dispose());
    await redis.start();
    const dirA = mkdtempSync(join(tmpdir(), 'mailbox-redis-a-'));
    const dirB = mkdtempSync(join(tmpdir(), 'mailbox-redis-b-'));
    cleanups.push(() => rmSync(dirA, { recursive: true, force: true }), () => rmSync(dirB, { recursive: true, force: true }));
    const config = { store: 'redis' as const, redis: { url: redis.url, prefix: 'shared' }, logLevel: 'silent' as const, shards: 2, supervision: { intensity: 1, restartBaseMs: 10, restartMaxMs: 20 } };
    const a = await createMailbox({ ...config, dataDir: dirA });
    cleanups.push(() => a.stop());
    await assert.rejects(createMailbox({ ...config, dataDir: dirB }), /owned by instance/);
    const sent = await a.send({ topic: 'still', idemKey: 'k', payload: bytes('works') });
    const [d] = await a.recv({ topic: 'still', maxMessages: 1 });
    assert.equal(d?.msgId, sent.msgId);
  });
});
