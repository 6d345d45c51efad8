import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MailboxClient, MailboxError, type ClientDelivery } from '../../src/client/index.ts';
import { OPS } from '../../src/protocol/index.ts';
import { FakeServer, makeDelivery } from './fake-server.ts';

const TOKEN = 'mbx1.test-token';

describe('client deliveries', () => {
  let server: FakeServer;

  before(async () => {
    server = await FakeServer.start();
  });
  after(() => server.close());

  it('a delivery with a bad payload hash is NACKed with reason integrity and reported, never handed to the handler', async () => {
    const errors: MailboxError[] = [];
    const c = await MailboxClient.connect(server.url, { token: TOKEN, onError: (e) => errors.push(e) });
    const seen: ClientDelivery[] = [];
    const sub = c.subscribe({ topic: 'jobs', visibilityMs: 5000, prefetch: 16 }, async (d) => {
      seen.push(d);
      await d.ack();
    });
    await sub.ready;
    const conn = server.ofOp(OPS.SUBSCRIBE).at(-1)!.conn;
    const good = makeDelivery('good');
    const bad = makeDelivery('tampered', { badHash: true });
    server.deliver(conn, sub.id!, [good, bad]);
    await server.waitFor(() => server.ofOp(OPS.NACK).length === 1 && server.ofOp(OPS.ACK).length === 1);
    assert.deepEqual(seen.map((d) => d.msgId), [good.msgId]);
    const nack = server.ofOp(OPS.NACK)[0]!;
    assert.ok(nack.req.op === OPS.NACK);
    assert.deepEqual(nack.req.body, { msgId: bad.msgId, leaseId: bad.leaseId, reason: 'integrity' });
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.code, 'E_INTEGRITY');
    assert.equal(c.stats().integrityFailures, 1);
    assert.equal(c.stats().deliveriesReceived, 2);
    await c.close();
  });

  it('recv leaves out and NACKs deliveries that fail their integrity check', async () => {
    const errors: MailboxError[] = [];
    const c = await MailboxClient.connect(server.url, { token: TOKEN, onError: (e) => errors.push(e) });
    const good = makeDelivery('ok');
    const bad = makeDelivery('bad', { badHash: true });
    server.handler = (r) => (r.req.op === OPS.RECV ? { deliveries: [bad, good] } : undefined);
    const got = await c.recv({ topic: 'jobs', visibilityMs: 5000, maxMessages: 32, waitMs: 1000 });
    server.handler = undefined;
    assert.deepEqual(got.map((d) => d.msgId), [good.msgId]);
    assert.equal(Buffer.from(got[0]!.payload).toString(), 'ok');
    await server.waitFor(() => server.ofOp(OPS.NACK).some((r) => r.req.op === OPS.NACK && r.req.body.msgId === bad.msgId));
    assert.equal(errors[0]!.code, 'E_INTEGRITY');
    await c.close();
  });

  it('dispatches one delivery at a time per subscription, in order, by default', async () => {
    const c = await MailboxClient.connect(server.url, { token: TOKEN });
    let running = 0;
    let maxRunning = 0;
    const order: string[] = [];
    const sub = c.subscribe({ topic: 'jobs', prefetch: 8 }, async (d) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((r) => setTimeout(r, 5));
      order.push(Buffer.from(d.payload).toString());
      running--;
      await d.ack();
    });
    await sub.ready;
    const conn = server.ofOp(OPS.SUBSCRIBE).at(-1)!.conn;
    server.deliver(conn, sub.id!, ['a', 'b', 'c'].map((p) => makeDelivery(p)));
    server.deliver(conn, sub.id!, [makeDelivery('d')]);
    await server.waitFor(() => order.length === 4);
    assert.deepEqual(order, ['a', 'b', 'c', 'd']);
    assert.equal(maxRunning, 1);
    await c.close();
  });

  it('a handler that throws NACKs its delivery and reports the error', async () => {
    const errors: MailboxError[] = [];
    const c = await MailboxClient.connect(server.url, { token: TOKEN, onError: (e) => errors.push(e) });
    const sub = c.subscribe({ topic: 'jobs', prefetch: 4 }, () => {
      throw new Error('boom');
    });
    await sub.ready;
    const d = makeDelivery('x');
    server.deliver(server.ofOp(OPS.SUBSCRIBE).at(-1)!.conn, sub.id!, [d]);
    await server.waitFor(() => server.ofOp(OPS.NACK).some((r) => r.req.op === OPS.NACK && r.req.body.msgId === d.msgId));
    const nack = server.ofOp(OPS.NACK).find((r) => r.req.op === OPS.NACK && r.req.body.msgId === d.msgId)!;
    assert.ok(nack.req.op === OPS.NACK);
    assert.equal(nack.req.body.reason, 'handler: boom');
    assert.match(errors[0]!.message, /boom/);
    await c.close();
  });

  it('nack, extend, ping and the DLQ calls reach the server with their bodies', async () => {
    const c = await MailboxClient.connect(server.url, { token: TOKEN });
    const d = makeDelivery('x');
    server.handler = (r) => (r.req.op === OPS.RECV ? { deliveries: [d] } : undefined);
    const [delivery] = await c.recv({ topic: 'jobs', maxMessages: 1 });
    server.handler = undefined;
    const deadline = await delivery!.extend(10_000);
    assert.ok(deadline > Date.now());
    await delivery!.nack({ delayMs: 1000, reason: 'busy' });
    const nack = server.ofOp(OPS.NACK).at(-1)!;
    assert.deepEqual(nack.req.body, { msgId: d.msgId, leaseId: d.leaseId, delayMs: 1000, reason: 'busy' });
    assert.ok((await c.ping()) >= 0);
    assert.deepEqual(await c.dlq.list({ topic: 'jobs', limit: 10 }), []);
    assert.equal(await c.dlq.reprocess({ reason: 'session_lost' }), 0);
    assert.equal(await c.dlq.purge({}), 0);
    assert.deepEqual(server.ofOp(OPS.DLQ_LIST).at(-1)!.req.body, { topic: 'jobs', limit: 10 });
    await c.close();
  });

  it('closing a subscription unsubscribes and NACKs what was queued but not handled', async () => {
    const c = await MailboxClient.connect(server.url, { token: TOKEN });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const handled: string[] = [];
    const sub = c.subscribe({ topic: 'jobs', prefetch: 8 }, async (d) => {
      handled.push(d.msgId);
      await gate;
      await d.ack();
    });
    await sub.ready;
    const id = sub.id!;
    const ds = [makeDelivery('1'), makeDelivery('2'), makeDelivery('3')];
    server.deliver(server.ofOp(OPS.SUBSCRIBE).at(-1)!.conn, id, ds);
    await server.waitFor(() => handled.length === 1);
    const closing = sub.close();
    release();
    await closing;
    assert.ok(sub.closed);
    assert.deepEqual(handled, [ds[0]!.msgId]);
    assert.deepEqual(server.ofOp(OPS.UNSUBSCRIBE).at(-1)!.req.body, { subscriptionId: id });
    const nacked = server.ofOp(OPS.NACK).map((r) => (r.req.op === OPS.NACK ? r.req.body.msgId : ''));
    assert.ok(nacked.includes(ds[1]!.msgId) && nacked.includes(ds[2]!.msgId));
    await server.waitFor(() => server.ofOp(OPS.ACK).some((r) => r.req.op === OPS.ACK && r.req.body.msgId === ds[0]!.msgId));
    await c.close();
  });

  it('a refused SUBSCRIBE rejects sub.ready and closes the subscription', async () => {
    const c = await MailboxClient.connect(server.url, { token: TOKEN, onError: () => {} });
    server.handler = (r) => (r.req.op === OPS.SUBSCRIBE ? new MailboxError('E_CAP_SCOPE', 'topic not granted') : undefined);
    const sub = c.subscribe({ topic: 'secret', prefetch: 1 }, () => {});
    await assert.rejects(sub.ready, { code: 'E_CAP_SCOPE' });
    server.handler = undefined;
    assert.ok(sub.closed);
    await c.close();
  });
});
