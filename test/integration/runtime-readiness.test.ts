import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMailbox } from '../../src/index.ts';
import { shardServing, topicsOnShard, waitUntil } from '../../chaos/inspect.ts';

const bytes = (s: string) => new TextEncoder().encode(s);

test(
  'a shard crashing repeatedly moves readiness to degraded; SEND is refused with E_UNAVAILABLE while RECV and ACK keep working; readiness returns to ready after the quiet period',
  { timeout: 30_000 },
  async () => {
    const shards = 2;
    const mb = await createMailbox(
      { amnesia: true, logLevel: 'silent', shards, supervision: { intensity: 100, restartBaseMs: 2, restartMaxMs: 20 } },
      // The quiet period is long enough to check the degraded state in, short enough to wait out.
      { readiness: { flapThreshold: 3, quietMs: 2_000 } },
    );
    try {
      const [topic] = topicsOnShard(0, shards, 1, 'flap');
      const sent = await mb.send({ topic: topic!, idemKey: 'before', payload: bytes('before') });
      assert.equal(mb.readiness().state, 'ready');

      for (let i = 0; i < 3; i++) {
        assert.ok(await waitUntil(() => shardServing(mb, 0), 10_000), 'shard-0 is back before the next kill');
        await mb.kill('/root/shards/shard-0', `flap ${i}`);
      }
      assert.ok(await waitUntil(() => mb.readiness().state === 'degraded', 10_000), 'readiness degrades');
      const report = mb.readiness();
      assert.equal(report.ready, false);
      assert.ok(report.reasons.some((r) => r.includes('shard-flapping') && r.includes('flap 2')), report.reasons.join('; '));

      await assert.rejects(mb.send({ topic: topic!, idemKey: 'during', payload: bytes('during') }), (err: { code: string; retryAfterMs?: number }) => {
        assert.equal(err.code, 'E_UNAVAILABLE');
        assert.ok((err.retryAfterMs ?? 0) > 0);
        return true;
      });
      const [d] = await mb.recv({ topic: topic!, maxMessages: 1, waitMs: 5_000 });
      assert.equal(d?.msgId, sent.msgId, 'RECV works while degraded');
      await mb.ack(d!.msgId, d!.leaseId);
      assert.equal(mb.readiness().state, 'degraded', 'still degraded: the checks above ran inside the quiet period');

      assert.ok(await waitUntil(() => mb.readiness().state === 'ready', 15_000), 'ready again after the quiet period');
      const after = await mb.send({ topic: topic!, idemKey: 'after', payload: bytes('after') });
      const [again] = await mb.recv({ topic: topic!, maxMessages: 5 });
      assert.equal(again?.msgId, after.msgId, 'the acknowledged message did not come back');
    } finally {
      await mb.stop();
    }
  },
);
