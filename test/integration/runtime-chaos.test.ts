import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMailbox } from '../../src/index.ts';
import { chaosConfig, chaosRuntime, DEFAULT_CHAOS, PAGED_WINDOWS, runChaos, shardNodes } from '../../chaos/workload.ts';

/**
 * `paged`: the store loads like LevelDB (held messages and counters only) and the windows are
 * tiny, so most of the backlog waits "on disk" and every rebuild pages it back in under fire.
 */
for (const paged of [false, true]) {
  test(
    `with a random shard, session or DLQ actor killed every 50 ms, every one of 20,000 messages over 200 topics is acknowledged or dead-lettered with its reason, and none is delivered after its ACK succeeded${paged ? ' (paged store, windows of 16)' : ''}`,
    { timeout: 120_000 },
    async (t) => {
      const o = { ...DEFAULT_CHAOS, messages: 20_000, topics: 200, shards: 8, chaosMs: 5_000, settleTimeoutMs: 60_000 };
      const mb = await createMailbox(chaosConfig(o, paged ? PAGED_WINDOWS : {}), chaosRuntime({ paged }));
      try {
        const r = await runChaos(mb, o, (line) => t.diagnostic(line));
        const summary =
          `accepted=${r.accepted} acked=${r.acked} dlq=${r.dlq} deliveries=${r.deliveries} duplicates=${r.duplicates} ` +
          `kills=${r.kills} (shard ${r.shardKills}, session ${r.sessionKills}, dlq ${r.dlqKills}) shardRestarts=${r.shardRestarts} ` +
          `staleLeases=${r.staleLeases} sendRetries=${r.sendRetries} sessionsReopened=${r.sessionsReopened} elapsedMs=${r.elapsedMs}`;
        console.log(`chaos: ${summary}`);
        t.diagnostic(summary);
        const why = r.samples.join('; ');

        assert.ok(r.settled, `the mailbox did not settle: ${r.leftInShards} messages left in shards`);
        assert.equal(r.accepted, o.messages, 'every idemKey was accepted');
        assert.equal(r.idemMismatches, 0, 'a retried SEND answered with another msgId');
        assert.equal(r.lost, 0, `messages neither acknowledged nor dead-lettered: ${why}`);
        assert.equal(r.orphans, 0, `deliveries of msgIds no SEND was answered with: ${why}`);
        assert.equal(r.acked + r.dlq, o.messages, 'acknowledged and dead-lettered add up to what was sent');
        assert.equal(r.ackedDead, 0, `messages both acknowledged and dead-lettered: ${why}`);
        assert.equal(r.badDlq, 0, `DLQ entries without a reason or with a history that does not match their attempts: ${why}`);
        assert.equal(r.afterAck, 0, `deliveries after a successful ACK: ${why}`);
        assert.equal(r.leftInShards, 0);
        for (const node of shardNodes(mb.tree())) {
          assert.deepEqual({ ...node.depths, dlq: 0 }, { ready: 0, leased: 0, delayed: 0, dlq: 0 }, `${node.path} is empty`);
        }
        assert.ok(r.kills > 0 && r.shardKills > 0, 'the kill loop killed shards');
        assert.ok(r.shardRestarts > 0, 'tree() shows shard restarts');
        const shards = mb.tree().children!.find((c) => c.path === '/root/shards')!;
        assert.equal(shards.state, 'running');
        assert.ok(shards.children!.some((c) => c.restarts > 0 && c.lastCrash?.reason === 'chaos'), 'a shard shows its last crash');
      } finally {
        await mb.stop();
      }
    },
  );
}
