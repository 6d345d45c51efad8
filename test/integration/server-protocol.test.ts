/**
 * Protocol conformance over real sockets: what docs/PROTOCOL.md promises for CREDIT, for ACK /
 * NACK / EXTEND of messages that are gone or never were, for the visibility cap, and for a
 * WebSocket message too short to hold a header.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import WebSocket from 'ws';
import { FLAGS, HEADER_SIZE, OPS, type WireDelivery } from '../../src/protocol/index.ts';
import { DEFAULT_TENANT, RawClient, errorOf, type RawMessage } from './helpers/raw-client.ts';
import { eventually, startTestServer } from './helpers/server.ts';
import type { TreeNode } from '../../src/index.ts';

const OTHER_TENANT = '000000000000000000000000000000ff' as typeof DEFAULT_TENANT;
/** A msgId no server issued, and a leaseId shaped like one of shard 0's. */
const GHOST_MSG = '01HZZZZZZZZZZZZZZZZZZZZZZZ';
const GHOST_LEASE = '0.01HZZZZZZZZZZZZZZZZZZZZZZZ';

function ok(m: RawMessage, what: string): Record<string, unknown> {
  assert.equal(m.header.code, 200, `${what}: answered ${m.header.code}${m.header.code === 200 ? '' : ` ${errorOf(m).code}: ${errorOf(m).message}`}`);
  return m.body as Record<string, unknown>;
}

function refused(m: RawMessage, code: string, what: string): void {
  assert.notEqual(m.header.code, 200, `${what}: answered 200, expected ${code}`);
  assert.equal(errorOf(m).code, code, `${what}: ${errorOf(m).message}`);
}

/** Deliveries pushed so far on one subscription, across every DELIVER event. */
function pushed(raw: RawClient, subscriptionId: string): WireDelivery[] {
  return raw.events
    .map((e) => e.body as { subscriptionId: string; deliveries: WireDelivery[] })
    .filter((b) => b.subscriptionId === subscriptionId)
    .flatMap((b) => b.deliveries);
}

test('CREDIT adds n to a full window and the server pushes what is ready; CREDIT for an unknown, another tenant\'s or another connection\'s subscription is E_NOT_FOUND', { timeout: 30_000 }, async () => {
  const t = await startTestServer();
  const raw = await RawClient.connect(t.server.url);
  const other = await RawClient.connect(t.server.url);
  try {
    const cap = t.adminToken;
    const topic = 'credit:jobs';
    for (let i = 0; i < 4; i++) ok(await raw.request(OPS.SEND, { topic, idemKey: `c${i}`, payload: Buffer.from(`job ${i}`) }, { cap }), `SEND ${i}`);
    const { subscriptionId } = ok(await raw.request(OPS.SUBSCRIBE, { topic, prefetch: 1, visibilityMs: 30_000 }, { cap }), 'SUBSCRIBE') as { subscriptionId: string };

    // prefetch 1: one delivery, then the window is full (one leased, three ready).
    await eventually('the first push', () => pushed(raw, subscriptionId).length === 1);
    await eventually('a full window: 1 leased, 3 ready', async () => {
      const d = await t.depths();
      return d.leased === 1 && d.ready === 3;
    });

    // CREDIT 2 without acking anything: two more are pushed, the fourth stays ready.
    ok(await raw.request(OPS.CREDIT, { subscriptionId, n: 2 }, { cap }), 'CREDIT 2');
    await eventually('two more pushes after CREDIT', () => pushed(raw, subscriptionId).length === 3, 10_000);
    await eventually('3 leased, 1 ready', async () => {
      const d = await t.depths();
      return d.leased === 3 && d.ready === 1;
    });
    assert.equal(new Set(pushed(raw, subscriptionId).map((d) => d.msgId)).size, 3, 'three distinct messages');

    refused(await raw.request(OPS.CREDIT, { subscriptionId: 'no-such-subscription', n: 1 }, { cap }), 'E_NOT_FOUND', 'CREDIT of an unknown subscription');
    refused(await raw.request(OPS.CREDIT, { subscriptionId, n: 1 }, { cap, tenant: OTHER_TENANT }), 'E_NOT_FOUND', 'CREDIT naming another tenant');
    refused(await other.request(OPS.CREDIT, { subscriptionId, n: 1 }, { cap }), 'E_NOT_FOUND', 'CREDIT from another connection');
    // None of the refused CREDITs opened the window: the fourth message is still ready.
    await raw.ping();
    assert.equal((await t.depths()).ready, 1);
    assert.equal(pushed(raw, subscriptionId).length, 3);
  } finally {
    await raw.close();
    await other.close();
    await t.stop();
  }
});

test('ACK, NACK and EXTEND of a message that never existed or is already acknowledged are E_NOT_FOUND; with a wrong lease of a live message they are E_STALE_LEASE', { timeout: 30_000 }, async () => {
  const t = await startTestServer();
  const raw = await RawClient.connect(t.server.url);
  try {
    const cap = t.adminToken;
    const topic = 'ack:jobs';
    ok(await raw.request(OPS.SEND, { topic, idemKey: 'a1', payload: Buffer.from('one') }, { cap }), 'SEND');
    const { deliveries } = ok(await raw.request(OPS.RECV, { topic, maxMessages: 1, waitMs: 5_000, visibilityMs: 30_000 }, { cap }), 'RECV') as { deliveries: WireDelivery[] };
    const [d] = deliveries;
    assert.ok(d, 'one delivery');
    const wrongLease = `${d.leaseId.slice(0, d.leaseId.indexOf('.'))}.01HZZZZZZZZZZZZZZZZZZZZZZZ`;

    const ops = (msgId: string, leaseId: string) => [
      { what: 'ACK', send: () => raw.request(OPS.ACK, { msgId, leaseId }, { cap }) },
      { what: 'NACK', send: () => raw.request(OPS.NACK, { msgId, leaseId }, { cap }) },
      { what: 'EXTEND', send: () => raw.request(OPS.EXTEND, { msgId, leaseId, ms: 1_000 }, { cap }) },
      {
        what: 'ACK_BATCH item',
        send: async () => {
          const m = await raw.request(OPS.ACK_BATCH, { items: [{ msgId, leaseId }] }, { cap });
          const [r] = ok(m, 'ACK_BATCH').results as Array<{ code: string; message: string } | null>;
          // Shaped like an error response so one check serves all four.
          return r === null ? m : { ...m, header: { ...m.header, code: 409 }, body: { ...r, corrId: String(m.header.corrId) } };
        },
      },
    ];

    for (const op of ops(GHOST_MSG, GHOST_LEASE)) refused(await op.send(), 'E_NOT_FOUND', `${op.what} of a msgId that never existed`);
    for (const op of ops(d.msgId, wrongLease)) refused(await op.send(), 'E_STALE_LEASE', `${op.what} with a wrong lease of a live message`);
    assert.equal((await t.depths()).leased, 1, 'the wrong leases settled nothing');

    ok(await raw.request(OPS.ACK, { msgId: d.msgId, leaseId: d.leaseId }, { cap }), 'ACK with the live lease');
    for (const op of ops(d.msgId, d.leaseId)) refused(await op.send(), 'E_NOT_FOUND', `${op.what} of an acknowledged message`);
    assert.deepEqual(await t.depths(), { ready: 0, leased: 0, delayed: 0, dlq: 0 });
  } finally {
    await raw.close();
    await t.stop();
  }
});

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

test('the server speaks OAP/1 on any URL path and negotiates no WebSocket subprotocol: a client that offers one is not given it', { timeout: 30_000 }, async () => {
  const t = await startTestServer();
  try {
    // Any path: the reference client uses the URL it is given; nothing is routed on it.
    const raw = await RawClient.connect(`${t.server.url}/some/path?x=1`);
    await raw.ping();
    await raw.close();
    // A subprotocol offered is declined, so a client that insists on one fails its handshake.
    const offered = new WebSocket(t.server.url, ['oap1']);
    const outcome = await new Promise<string>((resolve) => {
      offered.once('open', () => resolve(`open with subprotocol ${JSON.stringify(offered.protocol)}`));
      offered.once('error', (err) => resolve(err.message));
    });
    offered.terminate();
    assert.match(outcome, /no subprotocol/i);
  } finally {
    await t.stop();
  }
});

test('a window widened by CREDIT survives a restart of the shard: the restarted shard pushes up to the widened window', { timeout: 30_000 }, async () => {
  const t = await startTestServer({ config: { shards: 1 } });
  const raw = await RawClient.connect(t.server.url);
  try {
    const cap = t.adminToken;
    const topic = 'credit:restart';
    const { subscriptionId } = ok(await raw.request(OPS.SUBSCRIBE, { topic, prefetch: 1 }, { cap }), 'SUBSCRIBE') as { subscriptionId: string };
    ok(await raw.request(OPS.CREDIT, { subscriptionId, n: 2 }, { cap }), 'CREDIT 2');
    await t.server.mailbox.kill('/root/shards/shard-0', 'test: restart with a live subscription');
    const shard0 = (node: TreeNode): TreeNode | undefined => (node.path === '/root/shards/shard-0' ? node : node.children?.map(shard0).find(Boolean));
    await eventually('the shard restarted and serving', async () => (shard0(t.server.mailbox.tree())?.restarts ?? 0) >= 1 && (await t.depths().then(() => true, () => false)));
    for (let i = 0; i < 4; i++) ok(await raw.request(OPS.SEND, { topic, idemKey: `r${i}`, payload: Buffer.from(`job ${i}`) }, { cap }), `SEND ${i}`);
    await eventually('three pushes: the widened window of 3', () => pushed(raw, subscriptionId).length === 3, 10_000);
    await eventually('3 leased, 1 ready', async () => {
      const d = await t.depths();
      return d.leased === 3 && d.ready === 1;
    });
  } finally {
    await raw.close();
    await t.stop();
  }
});

test('SEND and SEND_BATCH over the wire keep the checks behind the decoder: a wrong payloadHash is E_INTEGRITY, a delay past 7 days E_SCHEMA, an ACK_BATCH lease of no shard E_STALE_LEASE, each for its own item', { timeout: 30_000 }, async () => {
  const t = await startTestServer();
  const raw = await RawClient.connect(t.server.url);
  try {
    const cap = t.adminToken;
    const payload = Buffer.from('checked once');
    const good = createHash('sha256').update(payload).digest('hex');
    const bad = createHash('sha256').update('something else').digest('hex');
    refused(await raw.request(OPS.SEND, { topic: 'wire:checks', idemKey: 's1', payload, payloadHash: bad }, { cap }), 'E_INTEGRITY', 'SEND with a wrong hash');
    refused(await raw.request(OPS.SEND, { topic: 'wire:checks', idemKey: 's2', payload, delayMs: 8 * 86_400_000 }, { cap }), 'E_SCHEMA', 'SEND delayed 8 days');
    const { results } = ok(await raw.request(OPS.SEND_BATCH, {
      items: [
        { topic: 'wire:checks', idemKey: 'b1', payload, payloadHash: good },
        { topic: 'wire:checks', idemKey: 'b2', payload, payloadHash: bad },
        { topic: 'wire:other', idemKey: 'b3', payload, delayMs: 8 * 86_400_000 },
        { topic: 'wire:other', idemKey: 'b4', payload },
      ],
    }, { cap }), 'SEND_BATCH') as { results: Array<{ msgId?: string; duplicate?: boolean; error?: { code: string } }> };
    assert.equal(results.length, 4);
    assert.equal(results[0]!.duplicate, false);
    assert.equal(results[1]!.error?.code, 'E_INTEGRITY');
    assert.equal(results[2]!.error?.code, 'E_SCHEMA');
    assert.equal(results[3]!.duplicate, false);
    assert.equal((await t.depths()).ready, 2, 'only the two good items were queued');

    const acks = ok(await raw.request(OPS.ACK_BATCH, { items: [{ msgId: GHOST_MSG, leaseId: GHOST_LEASE }, { msgId: GHOST_MSG, leaseId: '999.x' }] }, { cap }), 'ACK_BATCH') as { results: Array<{ code: string } | null> };
    assert.deepEqual(acks.results.map((r) => r?.code), ['E_NOT_FOUND', 'E_STALE_LEASE']);
  } finally {
    await raw.close();
    await t.stop();
  }
});
