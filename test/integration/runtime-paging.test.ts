/**
 * Paging paths of a running mailbox without a disk: MemoryStore({ paged: true }) loads like
 * LevelDB, and a subclass makes its reads fail on demand.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMailbox, type Delivery } from '../../src/index.ts';
import type { MessageMeta, ShardIndex, TenantId, Topic } from '../../src/domain/types.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import type { ReadyPageQuery } from '../../src/store/store.ts';

class FlakyPages extends MemoryStore {
  failures = 0;
  failNext = 0;
  override async readyPage(shard: ShardIndex, tenant: TenantId, topic: Topic, query: ReadyPageQuery): Promise<MessageMeta[]> {
    if (this.failNext > 0) {
      this.failNext--;
      this.failures++;
      throw new Error('injected read failure');
    }
    return super.readyPage(shard, tenant, topic, query);
  }
}

/** A one-shard mailbox with windows of 2 and six messages m0…m5 on `topic`, four of them in the store only. */
async function sixOnDisk(topic: string): Promise<{ store: FlakyPages; mb: Awaited<ReturnType<typeof createMailbox>> }> {
  const store = new FlakyPages({ paged: true });
  const mb = await createMailbox({ amnesia: true, shards: 1, logLevel: 'silent', queue: { readyWindow: 2, residentBudget: 2 } }, { store });
  const bytes = (s: string) => new TextEncoder().encode(s);
  for (let i = 0; i < 6; i++) await mb.send({ topic, idemKey: `k${i}`, payload: bytes(`m${i}`) });
  return { store, mb };
}

test('a page read that fails is tried again, and a RECV still gets the messages waiting in the store', { timeout: 20_000 }, async () => {
  const { store, mb } = await sixOnDisk('flaky');
  try {
    store.failNext = 2;
    const got: string[] = [];
    for (let tries = 0; got.length < 6 && tries < 50; tries++) {
      const ds: Delivery[] = await mb.recv({ topic: 'flaky', maxMessages: 6, visibilityMs: 30_000, waitMs: 1_000 });
      for (const d of ds) {
        got.push(new TextDecoder().decode(d.payload));
        await mb.ack(d.msgId, d.leaseId);
      }
    }
    assert.deepEqual(got, ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    assert.equal(store.failures, 2, 'both injected failures were hit');
  } finally {
    await mb.stop();
  }
});

test('a subscription whose page read fails gets the rest once the store answers again, with no other traffic', { timeout: 20_000 }, async () => {
  const { store, mb } = await sixOnDisk('flaky-sub');
  try {
    // More failures than the two ACKs of the first window can retrigger: the retry timer must.
    store.failNext = 4;
    const got: string[] = [];
    const acks: Array<Promise<void>> = [];
    await new Promise<void>((resolve) => {
      const session = mb.openSession({
        onDeliver: (_sub: string, ds: Delivery[]) => {
          for (const d of ds) {
            got.push(new TextDecoder().decode(d.payload));
            acks.push(session.ack(d.msgId, d.leaseId));
          }
          if (got.length === 6) resolve();
        },
      });
      void session.subscribe({ topic: 'flaky-sub', prefetch: 10, visibilityMs: 30_000 });
    });
    await Promise.all(acks);
    assert.deepEqual(got, ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    assert.equal(store.failures, 4);
  } finally {
    await mb.stop();
  }
});
