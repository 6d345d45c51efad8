import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMailbox, MailboxError, type LeaseId, type MsgId } from '../../src/index.ts';
import type { MailboxRuntime } from '../../src/runtime/mailbox.ts';
import { shardServing, waitUntil } from '../../chaos/inspect.ts';
import { shardFor } from '../../src/domain/routing.ts';
import { DEFAULT_TENANT, type Topic } from '../../src/domain/types.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const SHARDS = 4;

describe('runtime queue semantics', () => {
  let mb: MailboxRuntime;
  before(async () => {
    mb = await createMailbox({
      amnesia: true, logLevel: 'silent', shards: SHARDS,
      queue: { maxAttempts: 3, backoffBaseMs: 1, backoffMaxMs: 2, maxPayloadBytes: 1024 },
      supervision: { restartBaseMs: 2, restartMaxMs: 20 },
    });
  });
  after(() => mb.stop());

  test('an expired lease returns the message with attempt 2', { timeout: 20_000 }, async () => {
    const { msgId } = await mb.send({ topic: 'vis:a', idemKey: 'k', payload: bytes('a') });
    const [d1] = await mb.recv({ topic: 'vis:a', maxMessages: 1, visibilityMs: 100 });
    assert.equal(d1?.attempt, 1);
    const [d2] = await mb.recv({ topic: 'vis:a', maxMessages: 1, waitMs: 30_000 });
    assert.equal(d2?.msgId, msgId);
    assert.equal(d2?.attempt, 2);
    await assert.rejects(mb.ack(d1!.msgId, d1!.leaseId), { code: 'E_STALE_LEASE' }, 'the expired lease is fenced off');
    await mb.ack(d2!.msgId, d2!.leaseId);
  });

  test('NACK past maxAttempts dead-letters the message with its history; reprocess brings it back as attempt 1; purge deletes it', { timeout: 20_000 }, async () => {
    const { msgId } = await mb.send({ topic: 'dlq:a', idemKey: 'k', payload: bytes('poison') });
    for (let attempt = 1; attempt <= 3; attempt++) {
      const [d] = await mb.recv({ topic: 'dlq:a', maxMessages: 1, waitMs: 10_000 });
      assert.equal(d?.attempt, attempt);
      await mb.nack(d!.msgId, d!.leaseId, { delayMs: 0, reason: `bad ${attempt}` });
    }
    const [entry] = await mb.dlq.list({ topic: 'dlq:a' });
    assert.equal(entry?.meta.msgId, msgId);
    assert.equal(entry?.reason, 'nacked');
    assert.deepEqual(entry?.meta.history.map((h) => [h.attempt, h.outcome, h.reason]), [[1, 'nacked', 'bad 1'], [2, 'nacked', 'bad 2'], [3, 'nacked', 'bad 3']]);
    assert.equal(Buffer.from(entry!.payload!).toString(), 'poison');
    assert.deepEqual(await mb.recv({ topic: 'dlq:a', maxMessages: 1 }), []);

    assert.equal(await mb.dlq.reprocess({ topic: 'dlq:a' }), 1);
    assert.deepEqual(await mb.dlq.list({ topic: 'dlq:a' }), []);
    const [back] = await mb.recv({ topic: 'dlq:a', maxMessages: 1, waitMs: 10_000 });
    assert.equal(back?.msgId, msgId);
    assert.equal(back?.attempt, 1);
    for (let d = back; d; [d] = await mb.recv({ topic: 'dlq:a', maxMessages: 1, waitMs: 2_000 })) await mb.nack(d.msgId, d.leaseId);
    assert.equal((await mb.dlq.list({ topic: 'dlq:a' })).length, 1);
    assert.equal(await mb.dlq.purge({ topic: 'dlq:a' }), 1);
    assert.deepEqual(await mb.dlq.list({ topic: 'dlq:a' }), []);
  });

  test('an ACK with the lease of a dead-lettered message is refused as stale, also after its shard restarted', { timeout: 20_000 }, async () => {
    await mb.send({ topic: 'late:a', idemKey: 'k', payload: bytes('late') });
    let last: { msgId: MsgId; leaseId: LeaseId } | undefined;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const [d] = await mb.recv({ topic: 'late:a', maxMessages: 1, waitMs: 10_000, visibilityMs: 50 });
      assert.equal(d?.attempt, attempt);
      last = d!;
    }
    // The third lease expires into the DLQ; its holder then ACKs.
    const dead = async () => (await mb.dlq.list({ topic: 'late:a' })).length === 1;
    for (let i = 0; i < 200 && !(await dead()); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(await dead(), 'dead-lettered after its last lease expired');
    await assert.rejects(mb.ack(last!.msgId, last!.leaseId), { code: 'E_STALE_LEASE' });
    const shard = shardFor(DEFAULT_TENANT, 'late:a' as Topic, SHARDS);
    await mb.kill(`/root/shards/shard-${shard}`, 'restart for the test');
    assert.ok(await waitUntil(() => shardServing(mb, shard), 10_000));
    await assert.rejects(mb.ack(last!.msgId, last!.leaseId), { code: 'E_STALE_LEASE' }, 'the rebuilt shard knows its DLQ');
    assert.equal(await mb.dlq.purge({ topic: 'late:a' }), 1);
  });

  test('EXTEND keeps a lease past its original deadline', { timeout: 20_000 }, async () => {
    await mb.send({ topic: 'ext:a', idemKey: 'k', payload: bytes('a') });
    const [d] = await mb.recv({ topic: 'ext:a', maxMessages: 1, visibilityMs: 200 });
    const deadline = await mb.extend(d!.msgId, d!.leaseId, 60_000);
    assert.ok(deadline > d!.leaseDeadline);
    // Wait until well past the original deadline (a wait, not a timing assertion).
    await new Promise((r) => setTimeout(r, Math.max(0, d!.leaseDeadline - Date.now()) + 300));
    assert.deepEqual(await mb.recv({ topic: 'ext:a', maxMessages: 1 }), [], 'not redelivered');
    await mb.ack(d!.msgId, d!.leaseId);
  });

  test('the same idemKey with a different payload is refused with E_IDEM_CONFLICT; the same payload is a duplicate', async () => {
    const first = await mb.send({ topic: 'idem:a', idemKey: 'same', payload: bytes('one') });
    const again = await mb.send({ topic: 'idem:a', idemKey: 'same', payload: bytes('one') });
    assert.deepEqual(again, { msgId: first.msgId, duplicate: true });
    await assert.rejects(mb.send({ topic: 'idem:a', idemKey: 'same', payload: bytes('two') }), { code: 'E_IDEM_CONFLICT' });
    const ds = await mb.recv({ topic: 'idem:a', maxMessages: 10 });
    assert.equal(ds.length, 1);
    await mb.ack(ds[0]!.msgId, ds[0]!.leaseId);
  });

  test('one sendBatch fans out to 1,000 topics and each topic holds exactly its message', { timeout: 30_000 }, async () => {
    const inputs = Array.from({ length: 1000 }, (_, i) => ({ topic: `fan:${i}`, idemKey: 'k', payload: bytes(`to ${i}`) }));
    const results = await mb.sendBatch(inputs);
    assert.equal(results.filter((r) => r instanceof MailboxError).length, 0);
    for (let i = 0; i < 1000; i++) {
      const ds = await mb.recv({ topic: `fan:${i}`, maxMessages: 10 });
      assert.equal(ds.length, 1, `fan:${i}`);
      assert.equal(ds[0]!.msgId, (results[i] as { msgId: string }).msgId);
      assert.equal(Buffer.from(ds[0]!.payload).toString(), `to ${i}`);
      await mb.ack(ds[0]!.msgId, ds[0]!.leaseId);
    }
  });

  test('bad inputs are refused with E_SCHEMA, an oversized payload with E_FRAME_TOO_LARGE', async () => {
    const p = bytes('x');
    await assert.rejects(mb.send({ topic: '', idemKey: 'k', payload: p }), { code: 'E_SCHEMA' });
    await assert.rejects(mb.send({ topic: 'x'.repeat(300), idemKey: 'k', payload: p }), { code: 'E_SCHEMA' });
    await assert.rejects(mb.send({ topic: 'schema:a', idemKey: '', payload: p }), { code: 'E_SCHEMA' });
    await assert.rejects(mb.send({ topic: 'schema:a', idemKey: 'k', payload: 'text' as unknown as Uint8Array }), { code: 'E_SCHEMA' });
    await assert.rejects(mb.send({ topic: 'schema:a', idemKey: 'k', payload: new Uint8Array(1025) }), { code: 'E_FRAME_TOO_LARGE' });
    await assert.rejects(mb.sendBatch([]), { code: 'E_SCHEMA' });
    await assert.rejects(mb.recv({ topic: 'schema:a', maxMessages: 0 }), { code: 'E_SCHEMA' });
    await assert.rejects(mb.recv({ topic: 'schema:a', maxMessages: 1, waitMs: -1 }), { code: 'E_SCHEMA' });
    await assert.rejects(mb.ack('not-a-ulid' as MsgId, '0.x' as LeaseId), { code: 'E_SCHEMA' });
    await assert.rejects(mb.ack('01ARZ3NDEKTSV4RRFFQ69G5FAV' as MsgId, 'nope' as LeaseId), { code: 'E_STALE_LEASE' });
    const [r] = await mb.sendBatch([{ topic: '', idemKey: 'k', payload: p }]);
    assert.ok(r instanceof MailboxError && r.code === 'E_SCHEMA', 'a batch reports a bad item in its slot');
  });
});

test('an invalid configuration fails at createMailbox with a message naming the key', async () => {
  await assert.rejects(createMailbox({ amnesia: true, logLevel: 'silent', shards: 0 }), (err: MailboxError) => {
    assert.equal(err.code, 'E_CONFIG');
    assert.match(err.message, /shards/);
    return true;
  });
  await assert.rejects(createMailbox({ amnesia: true, logLevel: 'silent', queue: { maxAttempts: 0 } }), /queue\.maxAttempts/);
  await assert.rejects(createMailbox({ amnesia: true, logLevel: 'silent', nope: 1 } as never), /nope is not a known key/);
});
