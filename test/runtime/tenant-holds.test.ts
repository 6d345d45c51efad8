/**
 * The policy's per-tenant bounds on what a tenant holds, in a running mailbox: `maxQueued`
 * (messages of every state over every topic and shard, spilled ones included) and
 * `maxOpenLeases` (RECV and push delivery), each refused or held back for one tenant only.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { metricValue } from '../../chaos/inspect.ts';
import { EMPTY_POLICY, type Policy, type TenantLimits } from '../../src/domain/policy.ts';
import type { Delivery, TenantId } from '../../src/domain/types.ts';
import { createMailbox, MailboxError, type Mailbox } from '../../src/index.ts';
import type { MailboxRuntime } from '../../src/runtime/mailbox.ts';
import { MemoryStore } from '../../src/store/memory.ts';

const HOT = 'a'.repeat(32) as TenantId;
const CALM = 'b'.repeat(32) as TenantId;
const payload = new Uint8Array(16);
/** Topics that land on both shards of a two-shard mailbox (routing hashes the topic). */
const TOPICS = ['t0', 't1', 't2', 't3', 't4', 't5'];

function policy(hot: Partial<TenantLimits>): Policy {
  return { ...EMPTY_POLICY, tenants: { [HOT]: hot } };
}

async function until(what: string, check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('per-tenant bounds on queued messages and open leases', () => {
  const boxes: Mailbox[] = [];
  after(async () => {
    for (const b of boxes) await b.stop();
  });
  async function start(p: Policy, store?: MemoryStore): Promise<MailboxRuntime> {
    const config = { amnesia: true, logLevel: 'silent' as const, shards: 2, ...(store ? { queue: { readyWindow: 2, residentBudget: 2 } } : {}) };
    const mb = (await createMailbox(config, { policy: p, ...(store ? { store } : {}) })) as MailboxRuntime;
    boxes.push(mb);
    return mb;
  }

  it('maxQueued refuses the tenant\'s messages past the bound over every topic and shard, not a replay, not another tenant', async () => {
    const mb = await start(policy({ maxQueued: 10 }));
    const hot = mb.openSession({ tenant: HOT });
    const calm = mb.openSession({ tenant: CALM });
    for (let i = 0; i < 10; i++) await hot.send({ topic: TOPICS[i % TOPICS.length]!, idemKey: `k${i}`, payload });
    const results = await hot.sendBatch(Array.from({ length: 5 }, (_, i) => ({ topic: TOPICS[i % TOPICS.length]!, idemKey: `more${i}`, payload })));
    const refused = results.filter((r): r is MailboxError => r instanceof MailboxError);
    assert.equal(refused.length, 5, 'the bound is over every topic and shard');
    for (const e of refused) {
      assert.equal(e.code, 'E_SATURATED');
      assert.match(e.message, /tenant queue limit of 10 messages/);
      assert.ok((e.retryAfterMs ?? 0) > 0, 'says when to come back');
    }
    assert.equal(await metricValue(mb, 'rejected_total{reason="quota"}'), 5);
    // A replay is answered as before, however full the tenant is.
    const replay = await hot.send({ topic: TOPICS[0]!, idemKey: 'k0', payload });
    assert.equal(replay.duplicate, true);
    for (let i = 0; i < 10; i++) await calm.send({ topic: 't0', idemKey: `c${i}`, payload });
    await assert.rejects(hot.send({ topic: 'other', idemKey: 'x', payload }), /tenant queue limit/);
    // A leased message is still held; an acknowledged one is not.
    const got = await hot.recv({ topic: TOPICS[1]!, maxMessages: 2, visibilityMs: 30_000 }); // k1, k7
    assert.equal(got.length, 2);
    await assert.rejects(hot.send({ topic: 'other', idemKey: 'y', payload }), /tenant queue limit/, 'leased messages count');
    for (const d of got) await hot.ack(d.msgId, d.leaseId);
    await hot.send({ topic: 'other', idemKey: 'z1', payload });
    await hot.send({ topic: 'other', idemKey: 'z2', payload });
    await assert.rejects(hot.send({ topic: 'other', idemKey: 'z3', payload }), /tenant queue limit/);
    await hot.close();
    await calm.close();
  });

  it('maxQueued counts messages that wait in a paged store, and again after the shard rebuilds', async () => {
    const mb = await start(policy({ maxQueued: 8 }), new MemoryStore({ paged: true }));
    const hot = mb.openSession({ tenant: HOT });
    // Windows of 2: most of these wait in the store only.
    for (let i = 0; i < 8; i++) await hot.send({ topic: 'deep', idemKey: `d${i}`, payload });
    await assert.rejects(hot.send({ topic: 'deep', idemKey: 'd8', payload }), /tenant queue limit of 8/);
    for (const shard of ['shard-0', 'shard-1']) await mb.kill(`/root/shards/${shard}`, 'test');
    await until('both shards back', () => mb.readiness().ready);
    await assert.rejects(hot.send({ topic: 'deep', idemKey: 'd9', payload }), /tenant queue limit of 8/, 'a rebuilt shard counts its stored messages');
    await hot.close();
  });

  it('maxOpenLeases bounds RECV and push delivery for the tenant alone, and delivery resumes as leases settle', async () => {
    const mb = await start(policy({ maxOpenLeases: 4 }));
    const hot = mb.openSession({ tenant: HOT });
    for (let i = 0; i < 12; i++) await hot.send({ topic: TOPICS[i % 2]!, idemKey: `k${i}`, payload });
    const first = await hot.recv({ topic: TOPICS[0]!, maxMessages: 10, visibilityMs: 30_000 });
    assert.equal(first.length, 4, 'a RECV gets what the bound leaves');
    await assert.rejects(hot.recv({ topic: TOPICS[1]!, maxMessages: 1, visibilityMs: 30_000 }), (e: MailboxError) => e.code === 'E_SATURATED' && /open-lease limit of 4/.test(e.message));
    const calm = mb.openSession({ tenant: CALM });
    await calm.send({ topic: TOPICS[1]!, idemKey: 'c', payload });
    assert.equal((await calm.recv({ topic: TOPICS[1]!, maxMessages: 5, visibilityMs: 30_000 })).length, 1, 'another tenant is not bounded');
    for (const d of first) await hot.ack(d.msgId, d.leaseId);

    // Push: a subscription per topic, credit 100 each; at most 4 are outstanding at any time.
    const outstanding = new Map<string, Delivery>();
    let delivered = 0;
    let most = 0;
    const consumer = mb.openSession({
      tenant: HOT,
      onDeliver: (_sub, ds) => {
        for (const d of ds) outstanding.set(d.msgId, d);
        delivered += ds.length;
        most = Math.max(most, outstanding.size);
      },
    });
    await consumer.subscribe({ topic: TOPICS[0]!, prefetch: 100, visibilityMs: 30_000 });
    await consumer.subscribe({ topic: TOPICS[1]!, prefetch: 100, visibilityMs: 30_000 });
    while (delivered < 8) {
      await until('a delivery', () => outstanding.size > 0);
      // Settle one at a time: the next comes from whichever shard has room (held back ones retry soon).
      const [d] = outstanding.values();
      outstanding.delete(d!.msgId);
      await consumer.ack(d!.msgId, d!.leaseId);
    }
    assert.equal(most <= 4, true, `at most 4 open at once, saw ${most}`);
    assert.ok((await metricValue(mb, 'rejected_total{reason="quota"}')) >= 1);
    await consumer.close();
    await calm.close();
    await hot.close();
  });
});
