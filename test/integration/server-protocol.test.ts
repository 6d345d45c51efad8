/**
 * Protocol conformance over real sockets: what docs/PROTOCOL.md promises for CREDIT, for ACK /
 * NACK / EXTEND of messages that are gone or never were, for the visibility cap, and for a
 * WebSocket message too short to hold a header.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FLAGS, HEADER_SIZE, OPS, type WireDelivery } from '../../src/protocol/index.ts';
import { DEFAULT_TENANT, RawClient, errorOf, type RawMessage } from './helpers/raw-client.ts';
import { eventually, startTestServer } from './helpers/server.ts';

function ok(m: RawMessage, what: string): Record<string, unknown> {
  assert.equal(m.header.code, 200, `${what}: answered ${m.header.code}${m.header.code === 200 ? '' : ` ${errorOf(m).code}: ${errorOf(m).message}`}`);
  return m.body as Record<string, unknown>;
}

/** Deliveries pushed so far on one subscription, across every DELIVER event. */
function pushed(raw: RawClient, subscriptionId: string): WireDelivery[] {
  return raw.events
    .map((e) => e.body as { subscriptionId: string; deliveries: WireDelivery[] })
    .filter((b) => b.subscriptionId === subscriptionId)
    .flatMap((b) => b.deliveries);
}

test('RECV visibilityMs, SUBSCRIBE visibilityMs and EXTEND ms above queue.maxVisibilityMs are clamped to it, and the granted deadline is returned', { timeout: 30_000 }, async () => {
  const CAP = 60_000;
  const t = await startTestServer({ config: { queue: { maxVisibilityMs: CAP } } });
  const raw = await RawClient.connect(t.server.url);
  // The server's clock and ours are the same wall clock; a little slack for rounding to whole ms.
  const SLACK = 1_000;
  const assertGranted = (deadline: number, before: number, after: number, what: string): void => {
    assert.ok(deadline >= before + CAP - SLACK && deadline <= after + CAP + SLACK, `${what}: deadline ${deadline - before} ms ahead, expected about ${CAP}`);
  };
  try {
    const cap = t.adminToken;
    const topic = 'cap:jobs';
    ok(await raw.request(OPS.SEND, { topic, idemKey: 'v1', payload: Buffer.from('one') }, { cap }), 'SEND');

    let before = Date.now();
    const { deliveries } = ok(await raw.request(OPS.RECV, { topic, maxMessages: 1, waitMs: 5_000, visibilityMs: 10 * CAP }, { cap }), 'RECV above the cap') as { deliveries: WireDelivery[] };
    const [d] = deliveries;
    assert.ok(d, 'one delivery');
    assertGranted(d.leaseDeadline, before, Date.now(), 'RECV');

    before = Date.now();
    const { leaseDeadline } = ok(await raw.request(OPS.EXTEND, { msgId: d.msgId, leaseId: d.leaseId, ms: 2_147_483_647 }, { cap }), 'EXTEND above the cap') as { leaseDeadline: number };
    assertGranted(leaseDeadline, before, Date.now(), 'EXTEND');

    const subTopic = 'cap:push';
    ok(await raw.request(OPS.SEND, { topic: subTopic, idemKey: 'p1', payload: Buffer.from('push') }, { cap }), 'SEND to the pushed topic');
    before = Date.now();
    const { subscriptionId } = ok(await raw.request(OPS.SUBSCRIBE, { topic: subTopic, prefetch: 1, visibilityMs: 10 * CAP }, { cap }), 'SUBSCRIBE above the cap') as { subscriptionId: string };
    await eventually('the push', () => pushed(raw, subscriptionId).length === 1);
    assertGranted(pushed(raw, subscriptionId)[0]!.leaseDeadline, before, Date.now(), 'SUBSCRIBE');
  } finally {
    await raw.close();
    await t.stop();
  }
});

test('a WebSocket message shorter than the header, or empty, is answered with E_SCHEMA on corr_id 0 and the connection keeps serving', { timeout: 30_000 }, async () => {
  const t = await startTestServer();
  const raw = await RawClient.connect(t.server.url);
  try {
    const isError = (m: RawMessage): boolean => (m.header.flags & FLAGS.RESP) !== 0 && m.header.corrId === 0n;
    for (const size of [0, 1, 4, HEADER_SIZE - 1]) {
      const seen = raw.responses.filter(isError).length;
      const data = Buffer.alloc(size);
      // The longest one declares a whole header (len 38) and stops a byte short of it.
      if (size >= 4) data.writeUInt32BE(size === HEADER_SIZE - 1 ? HEADER_SIZE : 0, 0);
      await raw.sendRaw(data);
      await raw.waitFor((m) => isError(m) && raw.responses.filter(isError).length > seen, 10_000, `the answer to a ${size}-byte message`);
      const reply = raw.responses.filter(isError).at(-1)!;
      assert.equal(reply.header.code, 400, `${size} bytes`);
      assert.equal(reply.header.op, 0, `${size} bytes: no op to echo`);
      assert.equal(reply.header.tenant, DEFAULT_TENANT, `${size} bytes: no tenant to echo`);
      const err = errorOf(reply);
      assert.equal(err.code, 'E_SCHEMA');
      assert.match(err.message, /shorter than|truncated/, `${size} bytes: ${err.message}`);
      await raw.ping();
    }
    assert.ok(raw.isOpen, 'the connection is still open');
    assert.deepEqual(raw.undecodable, []);
  } finally {
    await raw.close();
    await t.stop();
  }
});
