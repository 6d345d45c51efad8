import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MailboxClient, MailboxError, type ClientDelivery, type ReconnectInfo } from '../../src/client/index.ts';
import { OPS } from '../../src/protocol/index.ts';
import { FakeServer, NO_REPLY, makeDelivery } from './fake-server.ts';

const TOKEN = 'mbx1.test-token';

describe('client connection loss', () => {
  let server: FakeServer;

  before(async () => {
    server = await FakeServer.start();
  });
  after(() => server.close());

  it('in-flight requests are rejected with a retryable E_UNAVAILABLE when the socket drops', async () => {
    const c = await MailboxClient.connect(server.url, { token: TOKEN, reconnect: false, onError: () => {} });
    server.handler = (r) => (r.req.op === OPS.SEND || r.req.op === OPS.PING ? NO_REPLY : undefined);
    const sending = c.send({ topic: 't', idemKey: 'k', payload: 'x' });
    const pinging = c.ping();
    await server.waitFor(() => server.ofOp(OPS.PING).length > 0 && server.ofOp(OPS.SEND).length > 0);
    server.dropAll();
    for (const p of [sending, pinging]) {
      await assert.rejects(p, (err: unknown) => {
        assert.ok(err instanceof MailboxError);
        assert.equal(err.code, 'E_UNAVAILABLE');
        assert.equal(err.retryable, true);
        return true;
      });
    }
    server.handler = undefined;
    await c.close();
  });

  it('reconnects, re-subscribes, and refuses locally to ack a delivery of the lost connection (E_STALE_LEASE)', async () => {
    const reconnects: ReconnectInfo[] = [];
    const c = await MailboxClient.connect(server.url, {
      token: TOKEN, onError: () => {}, onReconnect: (info) => reconnects.push(info), maxReconnectDelayMs: 200,
    });
    const held: ClientDelivery[] = [];
    const sub = c.subscribe({ topic: 'jobs', visibilityMs: 5000, prefetch: 4 }, (d) => {
      held.push(d); // settled later, after the socket is gone
    });
    await sub.ready;
    const first = server.ofOp(OPS.SUBSCRIBE).at(-1)!;
    const firstId = sub.id!;
    server.deliver(first.conn, firstId, [makeDelivery('old')]);
    await server.waitFor(() => held.length === 1);
    const epoch = c.stats().epoch;

    server.dropAll();
    await server.waitFor(() => reconnects.length === 1, 3_000);
    assert.ok(c.stats().epoch > epoch);
    assert.equal(c.stats().reconnects, 1);
    const again = server.ofOp(OPS.SUBSCRIBE).at(-1)!;
    assert.notEqual(again.conn, first.conn);
    assert.deepEqual(again.req.body, first.req.body);
    const hellos = server.ofOp(OPS.HELLO).filter((r) => r.conn === again.conn);
    assert.equal(hellos.length, 1);
    assert.ok(server.requests.findIndex((r) => r === hellos[0]) < server.requests.findIndex((r) => r === again));
    assert.notEqual(sub.id, firstId);

    const acksBefore = server.ofOp(OPS.ACK).length + server.ofOp(OPS.ACK_BATCH).length;
    await assert.rejects(held[0]!.ack(), { code: 'E_STALE_LEASE' });
    await assert.rejects(held[0]!.nack(), { code: 'E_STALE_LEASE' });
    await assert.rejects(held[0]!.extend(1000), { code: 'E_STALE_LEASE' });
    assert.equal(server.ofOp(OPS.ACK).length + server.ofOp(OPS.ACK_BATCH).length, acksBefore);

    // Deliveries on the new connection flow to the same handler and settle normally.
    server.deliver(again.conn, sub.id!, [makeDelivery('new')]);
    await server.waitFor(() => held.length === 2);
    await held[1]!.ack();
    await c.close();
  });

  it('calls made while reconnecting fail fast with E_UNAVAILABLE and a retryAfterMs', async () => {
    const c = await MailboxClient.connect(server.url, { token: TOKEN, onError: () => {}, maxReconnectDelayMs: 5_000 });
    server.dropAll();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(c.stats().connected, false);
    await assert.rejects(c.send({ topic: 't', idemKey: 'k', payload: 'x' }), (err: unknown) => {
      assert.ok(err instanceof MailboxError);
      assert.equal(err.code, 'E_UNAVAILABLE');
      assert.equal(typeof err.retryAfterMs, 'number');
      assert.ok(err.retryAfterMs! >= 50, `a hint worth waiting for, not a tight loop (${err.retryAfterMs} ms)`);
      return true;
    });
    await c.close();
  });

  it('close() flushes pending sends, waits for their replies, and later calls reject with E_UNAVAILABLE', async () => {
    const c = await MailboxClient.connect(server.url, { token: TOKEN });
    const sending = c.send({ topic: 't', idemKey: 'last', payload: 'x' });
    await c.close();
    assert.match((await sending).msgId, /^[0-9A-HJKMNP-TV-Z]{26}$/);
    await assert.rejects(c.send({ topic: 't', idemKey: 'k', payload: 'x' }), { code: 'E_UNAVAILABLE' });
    await assert.rejects(c.ping(), { code: 'E_UNAVAILABLE' });
  });

  it('the first connect rejects with E_UNAVAILABLE when nothing listens', async () => {
    await assert.rejects(MailboxClient.connect('ws://127.0.0.1:1', { token: TOKEN }), { code: 'E_UNAVAILABLE' });
  });

  it('a refused HELLO rejects connect with the server error', async () => {
    server.handler = (r) => (r.req.op === OPS.HELLO ? new MailboxError('E_CAP_AUTH', 'bad signature') : undefined);
    await assert.rejects(MailboxClient.connect(server.url, { token: 'mbx1.forged' }), { code: 'E_CAP_AUTH' });
    server.handler = undefined;
  });
});
