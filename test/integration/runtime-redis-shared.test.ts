/**
 * Two mailboxes (createMailbox, in process) in shared mode on the machine's Redis, one key
 * prefix of their own (deleted after): what one instance accepts, the other delivers; a lease
 * is never held twice at once; leases and sessions move between instances by the same rules.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { waitUntil } from '../../chaos/inspect.ts';
import type { Delivery } from '../../src/domain/types.ts';
import { createMailbox, MailboxError, type Mailbox } from '../../src/index.ts';
import type { MailboxRuntime } from '../../src/runtime/mailbox.ts';
import { keyStart } from '../../src/store/redis-keys.ts';
import { deleteKeysWithPrefix, probeRedis, uniquePrefix } from '../fixtures/redis.ts';

const redis = await probeRedis();
const url = 'url' in redis ? redis.url : '';
const skip = 'skip' in redis ? redis.skip : false;
const bytes = (s: string) => new TextEncoder().encode(s);

describe('two mailbox instances sharing one Redis (redis.shared)', { skip }, () => {
  const prefix = uniquePrefix('rt-shared');
  const dirs: string[] = [];
  const boxes: Mailbox[] = [];
  after(async () => {
    for (const b of boxes) await b.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    const admin = new Redis(url, { lazyConnect: true });
    await admin.connect();
    await deleteKeysWithPrefix(admin, keyStart(prefix));
    await admin.quit();
  });
  async function instance(): Promise<Mailbox> {
    const dataDir = mkdtempSync(join(tmpdir(), 'mailbox-shared-'));
    dirs.push(dataDir);
    const mb = await createMailbox({ store: 'redis', redis: { url, prefix, shared: true }, dataDir, logLevel: 'silent', shards: 4, queue: { maxAttempts: 5 } });
    boxes.push(mb);
    return mb;
  }

  test('a subscriber on B gets what a producer sends through A, woken at once (no poll), and settles it through B', async () => {
    const [a, b] = [await instance(), await instance()];
    const got: Delivery[] = [];
    const session = b.openSession({ onDeliver: (_, ds) => got.push(...ds) });
    await session.subscribe({ topic: 'cross:1', prefetch: 10, visibilityMs: 30_000 });
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    const sent = await a.send({ topic: 'cross:1', idemKey: 'x1', payload: bytes('over there') });
    assert.ok(await waitUntil(() => got.length === 1, 5_000), 'delivered on B');
    const ms = performance.now() - t0;
    console.log(`# A → B delivery in ${ms.toFixed(1)} ms`);
    assert.ok(ms < 1_500, `woken by the wake-up, not the ${2_000} ms sweep (${ms.toFixed(0)} ms)`);
    assert.equal(got[0]!.msgId, sent.msgId);
    assert.equal(Buffer.from(got[0]!.payload).toString(), 'over there');
    await session.ack(got[0]!.msgId, got[0]!.leaseId);
    await assert.rejects(a.ack(got[0]!.msgId, got[0]!.leaseId), (e: unknown) => e instanceof MailboxError && e.code === 'E_NOT_FOUND');
    await session.close();
  });

  test('consumers on both instances at once: every message delivered once, none held twice, nothing left', async () => {
    const [a, b] = [boxes[0]!, boxes[1]!];
    const N = 600;
    const seen = new Map<string, number>();
    const consumer = async (mb: Mailbox) => {
      const s = mb.openSession({
        onDeliver: (_, ds) => {
          for (const d of ds) {
            seen.set(d.msgId, (seen.get(d.msgId) ?? 0) + 1);
            void s.ack(d.msgId, d.leaseId);
          }
        },
      });
      await s.subscribe({ topic: 'both:1', prefetch: 50, visibilityMs: 30_000 });
      return s;
    };
    const sessions = [await consumer(a), await consumer(b)];
    for (let i = 0; i < N; i += 50) {
      await (i % 100 ? a : b).sendBatch(Array.from({ length: 50 }, (_, k) => ({ topic: 'both:1', idemKey: `m${i + k}`, payload: bytes(`m${i + k}`) })));
    }
    assert.ok(await waitUntil(() => seen.size === N, 20_000), `all delivered (${seen.size}/${N})`);
    assert.deepEqual([...seen.values()].filter((n) => n > 1), [], 'no message delivered twice');
    for (const s of sessions) await s.close();
    assert.ok(await waitUntil(() => boxes.every((mb) => (mb as unknown as MailboxRuntime).openLeases() === 0), 5_000), 'no lease left open');
  });

  test("a session lost on A gives its leases back at once; B delivers them again as attempt 2 with A's session in the history", async () => {
    const [a, b] = [boxes[0]!, boxes[1]!];
    await a.send({ topic: 'lost:1', idemKey: 'l1', payload: bytes('held') });
    const holder = a.openSession();
    const [held] = await holder.recv({ topic: 'lost:1', maxMessages: 1, visibilityMs: 600_000 });
    assert.ok(held);
    await holder.close();
    const [again] = await b.recv({ topic: 'lost:1', maxMessages: 1, waitMs: 5_000 });
    assert.equal(again?.msgId, held.msgId);
    assert.equal(again.attempt, 2);
    await assert.rejects(b.ack(held.msgId, held.leaseId), (e: unknown) => e instanceof MailboxError && e.code === 'E_STALE_LEASE', 'the old lease is fenced off');
    await b.nack(again.msgId, again.leaseId, { delayMs: 0, reason: 'look at the history' });
    const [third] = await a.recv({ topic: 'lost:1', maxMessages: 1, waitMs: 5_000 });
    assert.equal(third?.attempt, 3);
    await a.ack(third!.msgId, third!.leaseId);
  });

  test('a message NACKed to death on either instance is in the DLQ of both with its whole history; reprocess and purge work from the other', async () => {
    const [a, b] = [boxes[0]!, boxes[1]!];
    const sent = await a.send({ topic: 'dead:1', idemKey: 'd1', payload: bytes('doomed') });
    for (let attempt = 1; attempt <= 5; attempt++) {
      const mb = attempt % 2 ? a : b;
      const [d] = await mb.recv({ topic: 'dead:1', maxMessages: 1, waitMs: 5_000 });
      assert.equal(d?.attempt, attempt);
      await mb.nack(d!.msgId, d!.leaseId, { delayMs: 0, reason: `no ${attempt}` });
    }
    const [entry] = await b.dlq.list({ topic: 'dead:1' });
    assert.equal(entry?.meta.msgId, sent.msgId);
    assert.equal(entry?.reason, 'nacked');
    assert.deepEqual(entry?.meta.history.map((h) => [h.attempt, h.outcome, h.reason]), [1, 2, 3, 4, 5].map((n) => [n, 'nacked', `no ${n}`]));
    assert.ok(entry?.meta.history.every((h) => typeof h.session === 'string' && h.session.length > 0), 'each attempt names its session');
    assert.equal(await a.dlq.reprocess({ topic: 'dead:1' }), 1);
    const [back] = await b.recv({ topic: 'dead:1', maxMessages: 1, waitMs: 5_000 });
    assert.equal(back?.msgId, sent.msgId);
    assert.equal(back?.attempt, 1, 'attempts start again');
    assert.equal(Buffer.from(back!.payload).toString(), 'doomed');
    await b.ack(back!.msgId, back!.leaseId);

    const other = await b.send({ topic: 'dead:2', idemKey: 'd2', payload: bytes('also doomed') });
    for (let attempt = 1; attempt <= 5; attempt++) {
      const [d] = await a.recv({ topic: 'dead:2', maxMessages: 1, waitMs: 5_000 });
      await a.nack(d!.msgId, d!.leaseId, { delayMs: 0 });
    }
    assert.deepEqual((await a.dlq.list({ topic: "dead:2" })).map((e) => e.meta.msgId), [other.msgId]);
    assert.equal(await b.dlq.purge({ topic: 'dead:2' }), 1);
    assert.deepEqual(await a.dlq.list({ topic: 'dead:2' }), []);
  });

  test('killing every shard actor of an instance loses nothing: its subscription resumes, and leases taken before the kill still settle', async () => {
    const [a, b] = [boxes[0]!, boxes[1]!];
    const got: Delivery[] = [];
    const session = a.openSession({ onDeliver: (_, ds) => got.push(...ds) });
    await session.subscribe({ topic: 'kill:1', prefetch: 5, visibilityMs: 30_000 });
    await b.sendBatch(Array.from({ length: 5 }, (_, i) => ({ topic: 'kill:1', idemKey: `k${i}`, payload: bytes(`k${i}`) })));
    assert.ok(await waitUntil(() => got.length === 5, 5_000), 'the first five delivered');
    for (let shard = 0; shard < 4; shard++) await a.kill(`/root/shards/shard-${shard}`, 'chaos: shard actor killed');
    assert.ok(await waitUntil(() => a.tree().children?.find((c) => c.path === '/root/shards')?.children?.every((c) => c.state.startsWith('running')) ?? false, 5_000), 'shards restarted');
    for (const d of got) await session.ack(d.msgId, d.leaseId);
    await b.sendBatch(Array.from({ length: 5 }, (_, i) => ({ topic: 'kill:1', idemKey: `after${i}`, payload: bytes(`after${i}`) })));
    assert.ok(await waitUntil(() => got.length === 10, 5_000), `the subscription resumed on the restarted shard (${got.length}/10)`);
    for (const d of got.slice(5)) await session.ack(d.msgId, d.leaseId);
    assert.equal(new Set(got.map((d) => d.msgId)).size, 10, 'no message delivered twice');
    await session.close();
  });
});
