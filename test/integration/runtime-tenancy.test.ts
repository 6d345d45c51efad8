import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMailbox, type TenantId } from '../../src/index.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const TENANT_A = 'a'.repeat(32) as TenantId;

test("the embedding API acts for the default tenant unless given one: another tenant's messages and DLQ entries stay out of reach", { timeout: 20_000 }, async () => {
  const mb = await createMailbox({ amnesia: true, logLevel: 'silent', shards: 2, queue: { maxAttempts: 1 } });
  try {
    const a = mb.openSession({ tenant: TENANT_A });
    assert.equal(a.tenant, TENANT_A);
    assert.equal(mb.openSession().tenant, '0'.repeat(32), 'a session without a tenant is the default tenant');
    await a.send({ topic: 'jobs', idemKey: 'dead', payload: bytes('a') });
    await a.send({ topic: 'jobs', idemKey: 'live', payload: bytes('b') });
    const [dying, held] = await a.recv({ topic: 'jobs', maxMessages: 2, visibilityMs: 60_000 });
    await a.nack(dying!.msgId, dying!.leaseId);

    // The mailbox's own calls are the default tenant's: tenant A's lease is unknown to them.
    await assert.rejects(mb.ack(held!.msgId, held!.leaseId), { code: 'E_NOT_FOUND' });
    await assert.rejects(mb.extend(held!.msgId, held!.leaseId, 1_000), { code: 'E_NOT_FOUND' });
    await assert.rejects(mb.nack(held!.msgId, held!.leaseId), { code: 'E_NOT_FOUND' });
    assert.deepEqual(await mb.recv({ topic: 'jobs', maxMessages: 10 }), [], 'topics are per tenant');

    assert.deepEqual(await mb.dlq.list(), [], "the default tenant's DLQ is empty");
    assert.equal(await mb.dlq.reprocess(), 0);
    assert.equal(await mb.dlq.purge(), 0);
    const [entry] = await mb.dlq.list({}, TENANT_A);
    assert.equal(entry?.meta.msgId, dying!.msgId, "tenant A's entry is still there, for tenant A");

    await a.ack(held!.msgId, held!.leaseId);
    assert.equal(await mb.dlq.purge({}, TENANT_A), 1);
  } finally {
    await mb.stop();
  }
});
