import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMailbox } from '../../src/index.ts';
import { listAllDlq, nodeAt, shardServing, waitUntil } from '../../chaos/inspect.ts';

const bytes = (s: string) => new TextEncoder().encode(s);

test(
  "a child that crashes past its intensity takes its supervisor through the parent's strategy, and the dump shows it",
  { timeout: 30_000 },
  async () => {
    const shards = 4;
    const mb = await createMailbox(
      { amnesia: true, logLevel: 'silent', shards, supervision: { intensity: 2, periodMs: 600_000, restartBaseMs: 2, restartMaxMs: 20 } },
      { readiness: { quietMs: 200 } },
    );
    try {
      const topics = Array.from({ length: 20 }, (_, i) => `esc:${i}`);
      const accepted = new Set<string>();
      for (const [i, topic] of topics.entries()) accepted.add((await mb.send({ topic, idemKey: `k${i}`, payload: bytes(`m${i}`) })).msgId);
      // A consumer holds leases across the escalation; its session goes down with the sessions supervisor.
      const consumer = mb.openSession();
      const held = await consumer.recv({ topic: topics[0]!, maxMessages: 1, visibilityMs: 60_000 });
      assert.equal(held.length, 1);

      for (let i = 0; i < 3; i++) {
        assert.ok(await waitUntil(() => shardServing(mb, 0), 10_000), 'shard-0 is back before the next kill');
        await mb.kill('/root/shards/shard-0', `boom ${i}`);
      }
      // Third crash within the period: intensity 2 exceeded, /root/shards escalates; root (rest_for_one) restarts shards, dlq, sessions.
      assert.ok(await waitUntil(() => (nodeAt(mb, '/root/shards')?.restarts ?? 0) >= 1, 10_000), 'the shards supervisor was restarted');
      const all = (): boolean => nodeAt(mb, '/root/shards')?.state === 'running' && Array.from({ length: shards }, (_, i) => shardServing(mb, i)).every(Boolean);
      assert.ok(await waitUntil(all, 10_000), 'every shard serves again');

      const tree = mb.tree();
      const sup = nodeAt(mb, '/root/shards')!;
      assert.equal(sup.restarts, 1);
      assert.match(sup.lastCrash?.reason ?? '', /escalated: child shard-0 crashed 3 times/);
      assert.match(sup.lastCrash?.reason ?? '', /boom 2/);
      assert.equal(nodeAt(mb, '/root/dlq')?.restarts, 1, 'rest_for_one restarted the dlq supervisor after shards');
      assert.equal(nodeAt(mb, '/root/sessions')?.restarts, 1, 'and the sessions supervisor');
      for (const id of ['store', 'bus', 'readiness']) assert.equal(nodeAt(mb, `/root/${id}`)?.restarts, 0, `${id} (before shards) kept running`);
      assert.equal(tree.state, 'running');
      assert.equal(consumer.closed, true, 'sessions ended with their supervisor');

      // Still serving, nothing lost: every message comes back exactly once more and is acknowledged.
      assert.ok(await waitUntil(() => mb.readiness().state === 'ready', 15_000), 'readiness is ready again');
      await mb.send({ topic: 'esc:after', idemKey: 'after', payload: bytes('after') }).then((r) => accepted.add(r.msgId));
      const seen = new Set<string>();
      for (const topic of [...topics, 'esc:after']) {
        const ds = await mb.recv({ topic, maxMessages: 10, waitMs: 2_000 });
        for (const d of ds) {
          seen.add(d.msgId);
          await mb.ack(d.msgId, d.leaseId);
        }
      }
      assert.deepEqual([...seen].sort(), [...accepted].sort());
      assert.equal((await listAllDlq(mb)).length, 0);
    } finally {
      await mb.stop();
    }
  },
);
