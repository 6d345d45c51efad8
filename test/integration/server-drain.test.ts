import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MailboxError } from '../../src/client/index.ts';
import { eventually, startTestServer } from './helpers/server.ts';

test(
  'drain moves /readyz to 503 draining, refuses new SENDs with E_UNAVAILABLE, still accepts the ACK of an open lease, and completes once that lease is settled',
  { timeout: 40_000 },
  async () => {
    const t = await startTestServer({ config: { drainTimeoutMs: 60_000 } });
    let drained = false;
    try {
      const producer = await t.client({ clientName: 'producer' });
      const consumer = await t.client({ clientName: 'consumer' });
      const topic = 'drain:jobs';
      await producer.sendBatch([1, 2].map((i) => ({ topic, idemKey: `d${i}`, payload: `job ${i}` })));
      const [held] = await consumer.recv({ topic, maxMessages: 1, visibilityMs: 60_000, waitMs: 5_000 });
      assert.ok(held, 'the consumer holds a lease');
      assert.equal((await t.json<{ ready: boolean }>('/readyz')).status, 200);

      const draining = t.server.drain().then(() => {
        drained = true;
      });
      await eventually('/readyz to report draining', async () => (await t.get('/readyz')).status === 503, 10_000);
      const readyz = await t.json<{ state: string; ready: boolean }>('/readyz');
      assert.equal(readyz.status, 503);
      assert.equal(readyz.body.state, 'draining');
      assert.equal(readyz.body.ready, false);

      await assert.rejects(producer.send({ topic, idemKey: 'late', payload: 'too late' }), (err: unknown) => {
        assert.ok(err instanceof MailboxError, String(err));
        assert.equal(err.code, 'E_UNAVAILABLE');
        assert.ok(err.retryable);
        return true;
      });
      assert.deepEqual(await consumer.recv({ topic, maxMessages: 1, waitMs: 100 }), [], 'no new leases while draining');
      assert.equal((await t.depths()).leased, 1);
      assert.equal(drained, false, 'drain waits for the open lease');

      await held.ack();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        draining,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('drain did not complete after the lease was settled')), 20_000);
        }),
      ]).finally(() => clearTimeout(timer));
      assert.equal(drained, true);
      // Stopped: the ingress is closed.
      await eventually('the consumer to see the connection close', () => !consumer.connected, 10_000);
    } finally {
      if (!drained) await t.stop();
      else await t.stop().catch(() => {});
    }
  },
);
