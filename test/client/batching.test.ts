import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MailboxClient, MailboxError } from '../../src/client/index.ts';
import { CHUNK_SIZE, OPS } from '../../src/protocol/index.ts';
import { FakeServer, makeDelivery, nextMsgId } from './fake-server.ts';

const TOKEN = 'mbx1.test-token';

describe('client batching on the wire', () => {
  let server: FakeServer;
  let client: MailboxClient;

  before(async () => {
    server = await FakeServer.start();
  });
  after(() => server.close());
  beforeEach(async () => {
    server.handler = undefined;
    await client?.close();
    client = await MailboxClient.connect(server.url, { token: TOKEN });
    server.requests.length = 0;
    server.frames.length = 0;
  });
  after(() => client.close());

  it('says HELLO first, with ACK_REQ and the token as capability', async () => {
    const fresh = await FakeServer.start();
    const c = await MailboxClient.connect(fresh.url, { token: TOKEN, tenant: '0123456789abcdef0123456789abcdef' });
    await c.ping();
    assert.equal(fresh.requests[0]!.req.op, OPS.HELLO);
    assert.deepEqual(fresh.requests[0]!.req.body, { versions: [1], client: 'svc-mailbox-client' });
    for (const r of fresh.requests) assert.equal(r.cap, TOKEN);
    assert.equal(c.limits.maxBatch, 1000);
    await c.close();
    await fresh.close();
  });

  it('sends made in one tick travel as one SEND_BATCH frame and each promise gets its own result', async () => {
    const ids: string[] = [];
    server.handler = (r) => {
      if (r.req.op !== OPS.SEND_BATCH) return undefined;
      return { results: r.req.body.items.map(() => { const id = nextMsgId(); ids.push(id); return { msgId: id, duplicate: false }; }) };
    };
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => client.send({ topic: 'orders', idemKey: `k-${i}`, payload: `p-${i}` })),
    );
    assert.equal(server.ofOp(OPS.SEND_BATCH).length, 1);
    assert.equal(server.ofOp(OPS.SEND).length, 0);
    assert.equal(server.frames.length, 1);
    const batch = server.ofOp(OPS.SEND_BATCH)[0]!;
    assert.equal(batch.req.op === OPS.SEND_BATCH && batch.req.body.items.length, 50);
    assert.deepEqual(results.map((r) => r.msgId), ids);
    assert.equal(client.stats().sendBatches, 1);
  });

  it('a per-item error in SEND_BATCH rejects only that caller, with a typed MailboxError', async () => {
    server.handler = (r) => {
      if (r.req.op !== OPS.SEND_BATCH) return undefined;
      return {
        results: r.req.body.items.map((item) => (item.idemKey === 'dup'
          ? { error: { code: 'E_IDEM_CONFLICT', message: 'idemKey reused with a different payload' } }
          : { msgId: nextMsgId(), duplicate: false })),
      };
    };
    const outcomes = await Promise.allSettled([
      client.send({ topic: 't', idemKey: 'a', payload: 'x' }),
      client.send({ topic: 't', idemKey: 'dup', payload: 'y' }),
      client.send({ topic: 't', idemKey: 'c', payload: 'z' }),
    ]);
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'fulfilled']);
    const err = (outcomes[1] as PromiseRejectedResult).reason;
    assert.ok(err instanceof MailboxError);
    assert.equal(err.code, 'E_IDEM_CONFLICT');
  });

  it('splits one tick of sends so that each SEND_BATCH body fits one 64 KiB chunk; a larger send travels alone', async () => {
    const payload = Buffer.alloc(1024, 7);
    await Promise.all(Array.from({ length: 200 }, (_, i) => client.send({ topic: 't', idemKey: `kib-${i}`, payload })));
    await client.send({ topic: 't', idemKey: 'big', payload: Buffer.alloc(100 * 1024, 7) });
    const sizes = server.requests.map((r) => (r.req.op === OPS.SEND_BATCH ? r.req.body.items.length : 1));
    assert.equal(sizes.reduce((a, b) => a + b, 0), 201);
    assert.ok(sizes.length >= 4, `200 KiB of payload in ${sizes.length} requests`);
    const batchFrames = server.frames.filter((f) => f.op === OPS.SEND_BATCH);
    assert.equal(batchFrames.length, sizes.length - 1, 'one frame per SEND_BATCH');
    for (const f of batchFrames) assert.ok(f.bodyLen <= CHUNK_SIZE, `body ${f.bodyLen}`);
    for (const f of batchFrames.slice(0, -1)) assert.ok(f.bodyLen > CHUNK_SIZE - 2048, `a full batch uses its chunk: body ${f.bodyLen}`);
    assert.equal(sizes.at(-1), 1);
  });

  it('sendBatch answers each input with its result or its error, in order', async () => {
    const results = await client.sendBatch([
      { topic: 't', idemKey: 'a', payload: 'x' },
      { topic: '', idemKey: 'b', payload: 'y' },
    ]);
    assert.equal(typeof (results[0] as { msgId: string }).msgId, 'string');
    assert.ok(results[1] instanceof MailboxError);
    assert.equal((results[1] as MailboxError).code, 'E_SCHEMA');
    assert.equal(server.ofOp(OPS.SEND).length, 1, 'the invalid item never left the client');
  });

  it('acks made in one tick travel as one ACK_BATCH, including d.ack()', async () => {
    const d = makeDelivery('hello');
    server.handler = (r) => (r.req.op === OPS.RECV ? { deliveries: [d] } : undefined);
    const [delivery] = await client.recv({ topic: 'jobs', maxMessages: 1 });
    server.handler = (r) => {
      if (r.req.op !== OPS.ACK_BATCH) return undefined;
      return { results: r.req.body.items.map((it) => (it.leaseId === 'gone' ? { code: 'E_STALE_LEASE', message: 'lease expired' } : null)) };
    };
    const outcomes = await Promise.allSettled([
      delivery!.ack(),
      client.ack(nextMsgId(), 'lease-a'),
      client.ack(nextMsgId(), 'gone'),
      client.ack(nextMsgId(), 'lease-c'),
    ]);
    assert.equal(server.ofOp(OPS.ACK_BATCH).length, 1);
    assert.equal(server.ofOp(OPS.ACK).length, 0);
    const batch = server.ofOp(OPS.ACK_BATCH)[0]!;
    assert.ok(batch.req.op === OPS.ACK_BATCH);
    assert.deepEqual(batch.req.body.items[0], { msgId: d.msgId, leaseId: d.leaseId });
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    assert.equal(((outcomes[2] as PromiseRejectedResult).reason as MailboxError).code, 'E_STALE_LEASE');
  });

  it('an error response rejects the call with a typed MailboxError carrying retryAfterMs', async () => {
    server.handler = (r) => (r.req.op === OPS.SEND ? new MailboxError('E_SATURATED', 'shard 3 is full', { retryAfterMs: 250 }) : undefined);
    await assert.rejects(client.send({ topic: 't', idemKey: 'k', payload: 'x' }), (err: unknown) => {
      assert.ok(err instanceof MailboxError);
      assert.equal(err.code, 'E_SATURATED');
      assert.equal(err.retryAfterMs, 250);
      assert.equal(err.retryable, true);
      return true;
    });
  });

  it('a 900 KiB payload is sent as a chunked stream of frames of at most 64 KiB of body', async () => {
    const payload = Buffer.alloc(900 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const { msgId } = await client.send({ topic: 'bulk', idemKey: 'big', payload });
    assert.match(msgId, /^[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(server.frames.length, 15);
    for (const [i, f] of server.frames.entries()) {
      assert.ok(f.bodyLen <= CHUNK_SIZE);
      assert.equal(f.capLen > 0, i === 0, 'the capability rides on the first frame only');
    }
    const sent = server.ofOp(OPS.SEND)[0]!;
    assert.ok(sent.req.op === OPS.SEND);
    assert.ok(Buffer.from(sent.req.body.payload).equals(payload));
  });

  it('refuses a payload above the server limit locally with E_FRAME_TOO_LARGE', async () => {
    await assert.rejects(client.send({ topic: 't', idemKey: 'k', payload: Buffer.alloc(1_100_000) }), { code: 'E_FRAME_TOO_LARGE' });
    assert.equal(server.requests.length, 0);
  });

  it('a batch that fills up mid-tick leaves at once: thousands queued in one tick are pipelined, in order', async () => {
    const sent: number[] = [];
    const calls: Array<Promise<unknown>> = [];
    for (let i = 0; i < 2500; i++) {
      calls.push(client.send({ topic: 't', idemKey: `many-${i}`, payload: 'x' }));
      sent.push(client.stats().sendBatches);
    }
    // maxBatch is 1000 (the fake server's HELLO): the 1000th and 2000th sends flushed their batch
    // right away; the last 500 wait for the end of the tick.
    assert.deepEqual([sent[998], sent[999], sent[1999], sent[2499]], [0, 1, 2, 2]);
    await Promise.all(calls);
    const batches = server.ofOp(OPS.SEND_BATCH).map((r) => (r.req.op === OPS.SEND_BATCH ? r.req.body.items.map((it) => it.idemKey) : []));
    assert.deepEqual(batches.map((b) => b.length), [1000, 1000, 500]);
    assert.deepEqual(batches.flat(), Array.from({ length: 2500 }, (_, i) => `many-${i}`));
  });

  it('bounds calls in flight by maxInflight; the rest wait for a slot', async () => {
    const c = await MailboxClient.connect(server.url, { token: TOKEN, maxInflight: 4 });
    server.requests.length = 0;
    const all = Promise.all(Array.from({ length: 10 }, (_, i) => c.send({ topic: 't', idemKey: `w-${i}`, payload: 'x' })));
    assert.equal(c.stats().inflight, 4);
    const results = await all;
    assert.equal(results.length, 10);
    assert.equal(c.stats().inflight, 0);
    const perRequest = server.requests.map((r) => (r.req.op === OPS.SEND_BATCH ? r.req.body.items.length : 1));
    assert.ok(Math.max(...perRequest) <= 4);
    await c.close();
  });
});
