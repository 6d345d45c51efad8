/**
 * Tenant isolation over real sockets: a msgId or leaseId never reaches across tenants, and a
 * token acts only for the tenant it was minted for. Every request is a raw OAP/1 frame, so the
 * tenant of the header and the token of the request are exactly what the test says.
 *
 * The matrix, for each op that names a message: request tenant ∈ {own, other, default} ×
 * token ∈ {own tenant's, other tenant's} (plus the default tenant's own token and an operator's
 * `tenant=*` token). Only own tenant + own token settles. A token that does not act for the
 * request's tenant is refused at the edge with E_CAP_SCOPE; a token that does, naming another
 * tenant's message, gets what an unknown msgId gets (E_NOT_FOUND, same message) from the
 * shard. Both count in rejected_total{reason="auth"}, and the message stays leased.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ANY_TENANT, type Caveat } from '../../src/auth/index.ts';
import { OPS } from '../../src/protocol/index.ts';
import { DEFAULT_TENANT, RawClient, errorOf, type RawMessage, type RequestOptions } from './helpers/raw-client.ts';
import { seriesValue, startTestServer, type TestServer } from './helpers/server.ts';

type Tenant = NonNullable<RequestOptions['tenant']>;
const OWN = 'a'.repeat(32) as Tenant;
const OTHER = 'b'.repeat(32) as Tenant;
const TOPIC = 'tenancy:inbox';
const UNKNOWN_ID = '01HZZZZZZZZZZZZZZZZZZZZZZZ';

interface Wire {
  msgId: string;
  leaseId: string;
}

const tenantCaveat = (tenant: Tenant | typeof ANY_TENANT): Caveat => ({ kind: 'tenant', tenant: tenant as never });

/** What an answer says, with the msgId named in it written as <id>: equal for two ids answered alike. */
function verdict(m: RawMessage, msgId: string): string {
  if (m.header.code !== 200) {
    const err = errorOf(m);
    return `${err.code} ${err.message.replaceAll(msgId, '<id>')}`;
  }
  const body = m.body as { results?: Array<{ code: string; message: string } | null> };
  const item = body.results?.[0];
  return item ? `item ${item.code} ${item.message.replaceAll(msgId, '<id>')}` : 'ok';
}

async function authRejections(t: TestServer): Promise<number> {
  return seriesValue(await t.metrics(), 'rejected_total{reason="auth"}') ?? 0;
}

const MESSAGE_OPS = {
  ACK: { op: OPS.ACK, body: (w: Wire) => ({ msgId: w.msgId, leaseId: w.leaseId }) },
  'ACK_BATCH item': { op: OPS.ACK_BATCH, body: (w: Wire) => ({ items: [{ msgId: w.msgId, leaseId: w.leaseId }] }) },
  NACK: { op: OPS.NACK, body: (w: Wire) => ({ msgId: w.msgId, leaseId: w.leaseId, delayMs: 0 }) },
  EXTEND: { op: OPS.EXTEND, body: (w: Wire) => ({ msgId: w.msgId, leaseId: w.leaseId, ms: 60_000 }) },
} as const;

// LevelDB too: a paged store looks on disk for an ACKed message it has not in RAM, and must not for another tenant's.
const STORES = ['memory', 'LevelDB'] as const;

for (const [name, { op, body }] of Object.entries(MESSAGE_OPS)) for (const store of STORES) {
  test(`other tenant's ${name} is refused as not found (or for its token), the message stays leased, and only its own tenant settles it (${store})`, { timeout: 30_000 }, async () => {
    const dataDir = store === 'LevelDB' ? await mkdtemp(join(tmpdir(), 'mailbox-tenancy-')) : undefined;
    const t = await startTestServer({ config: { queue: { maxAttempts: 1 }, ...(dataDir ? { amnesia: false, dataDir } : {}) } });
    const raw = await RawClient.connect(t.server.url);
    try {
      const own = t.token([tenantCaveat(OWN)]);
      const other = t.token([tenantCaveat(OTHER)]);
      const defaultToken = t.token(); // minted without a tenant: the default tenant's
      const operator = t.token([tenantCaveat(ANY_TENANT)]);
      const sent = await raw.request(OPS.SEND, { topic: TOPIC, idemKey: `k-${name}`, payload: Buffer.from('private') }, { tenant: OWN, cap: own });
      assert.equal(sent.header.code, 200, 'the owner sends');
      const recv = await raw.request(OPS.RECV, { topic: TOPIC, maxMessages: 1, visibilityMs: 60_000 }, { tenant: OWN, cap: own });
      const [delivery] = (recv.body as { deliveries: Wire[] }).deliveries;
      assert.ok(delivery, 'the owner leased its message');
      const real: Wire = { msgId: delivery.msgId, leaseId: delivery.leaseId };
      const made: Wire = { msgId: UNKNOWN_ID, leaseId: delivery.leaseId };

      const cases: Array<{ what: string; tenant: Tenant; cap: string; expect: 'scope' | 'not-found' }> = [
        { what: 'own tenant, other tenant\'s token', tenant: OWN, cap: other, expect: 'scope' },
        { what: 'other tenant, own tenant\'s token', tenant: OTHER, cap: own, expect: 'scope' },
        { what: 'other tenant, its own token', tenant: OTHER, cap: other, expect: 'not-found' },
        { what: 'default tenant, own tenant\'s token', tenant: DEFAULT_TENANT, cap: own, expect: 'scope' },
        { what: 'default tenant, other tenant\'s token', tenant: DEFAULT_TENANT, cap: other, expect: 'scope' },
        { what: 'default tenant, its own token', tenant: DEFAULT_TENANT, cap: defaultToken, expect: 'not-found' },
        { what: 'other tenant, an operator\'s tenant=* token', tenant: OTHER, cap: operator, expect: 'not-found' },
      ];
      for (const c of cases) {
        const before = await authRejections(t);
        const reply = await raw.request(op, body(real), { tenant: c.tenant, cap: c.cap });
        const got = verdict(reply, real.msgId);
        if (c.expect === 'scope') {
          assert.equal(reply.header.code, 403, `${c.what}: ${got}`);
          assert.equal(errorOf(reply).code, 'E_CAP_SCOPE', `${c.what}: ${got}`);
        } else {
          // Exactly what a msgId that does not exist gets, on the same shard, from the same tenant.
          const unknown = verdict(await raw.request(op, body(made), { tenant: c.tenant, cap: c.cap }), made.msgId);
          assert.equal(got, unknown, `${c.what}: answered as an unknown id`);
          assert.match(got, /^(item )?E_NOT_FOUND /, `${c.what}: ${got}`);
        }
        assert.equal(await authRejections(t), before + 1, `${c.what}: rejected_total{reason="auth"} rose by one`);
        assert.deepEqual(await t.depths(), { ready: 0, delayed: 0, leased: 1, dlq: 0 }, `${c.what}: the message is still leased`);
      }

      // Untouched: the owner's lease is still the live one, and the owner settles with it.
      const settled = await raw.request(op, body(real), { tenant: OWN, cap: own });
      assert.equal(verdict(settled, real.msgId), 'ok', `the owner's ${name} succeeds`);
      const after = await t.depths();
      if (op === OPS.EXTEND) {
        assert.deepEqual(after, { ready: 0, delayed: 0, leased: 1, dlq: 0 });
        assert.ok((settled.body as { leaseDeadline: number }).leaseDeadline > Date.now() + 30_000, 'extended by the owner');
      } else if (op === OPS.NACK) {
        assert.deepEqual(after, { ready: 0, delayed: 0, leased: 0, dlq: 1 }, 'maxAttempts 1: the NACK dead-lettered it');
      } else {
        assert.deepEqual(after, { ready: 0, delayed: 0, leased: 0, dlq: 0 }, 'acknowledged');
      }
    } finally {
      await raw.close();
      await t.stop();
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    }
  });
}

test("DLQ list, reprocess and purge only ever see the request tenant's entries", { timeout: 30_000 }, async () => {
  const t = await startTestServer({ config: { queue: { maxAttempts: 1 } } });
  const raw = await RawClient.connect(t.server.url);
  try {
    const tokens = { [OWN]: t.token([tenantCaveat(OWN)]), [OTHER]: t.token([tenantCaveat(OTHER)]) };
    const operator = t.token([tenantCaveat(ANY_TENANT)]);
    // One dead-lettered message per tenant, on the same topic.
    const dead: Record<string, string> = {};
    for (const tenant of [OWN, OTHER]) {
      const options = { tenant, cap: tokens[tenant]! };
      await raw.request(OPS.SEND, { topic: TOPIC, idemKey: 'poison', payload: Buffer.from(tenant) }, options);
      const [d] = ((await raw.request(OPS.RECV, { topic: TOPIC, maxMessages: 1 }, options)).body as { deliveries: Wire[] }).deliveries;
      assert.equal((await raw.request(OPS.NACK, { msgId: d!.msgId, leaseId: d!.leaseId }, options)).header.code, 200);
      dead[tenant] = d!.msgId;
    }
    assert.equal((await t.depths()).dlq, 2);
    const list = async (tenant: Tenant, cap: string, filter: Record<string, unknown> = {}): Promise<string[]> => {
      const reply = await raw.request(OPS.DLQ_LIST, { topic: TOPIC, ...filter }, { tenant, cap });
      assert.equal(reply.header.code, 200, verdict(reply, ''));
      return (reply.body as { entries: Array<{ msgId: string }> }).entries.map((e) => e.msgId);
    };

    // Each tenant, with its own token or an operator's, lists its own entry and never the other's.
    for (const cap of [tokens[OWN]!, operator]) assert.deepEqual(await list(OWN, cap), [dead[OWN]]);
    for (const cap of [tokens[OTHER]!, operator]) assert.deepEqual(await list(OTHER, cap), [dead[OTHER]]);
    assert.deepEqual(await list(DEFAULT_TENANT, operator), [], 'the default tenant has no entries');
    assert.deepEqual(await list(OTHER, tokens[OTHER]!, { after: '00000000000000000000000000' }), [dead[OTHER]], 'a cursor does not reach across');
    // A token that does not act for the request's tenant is refused.
    for (const [tenant, cap] of [[OWN, tokens[OTHER]!], [OTHER, tokens[OWN]!], [DEFAULT_TENANT, tokens[OWN]!]] as const) {
      for (const dlqOp of [OPS.DLQ_LIST, OPS.DLQ_REPROCESS, OPS.DLQ_PURGE]) {
        const before = await authRejections(t);
        const reply = await raw.request(dlqOp, { topic: TOPIC }, { tenant, cap });
        assert.equal(errorOf(reply).code, 'E_CAP_SCOPE');
        assert.equal(await authRejections(t), before + 1);
      }
    }
    assert.equal((await t.depths()).dlq, 2, 'nothing was moved by a refused request');

    // Reprocess and purge by the other tenant move only its own entry; the owner's stays.
    const reprocessed = await raw.request(OPS.DLQ_REPROCESS, { topic: TOPIC }, { tenant: OTHER, cap: tokens[OTHER]! });
    assert.equal((reprocessed.body as { count: number }).count, 1);
    assert.deepEqual(await list(OWN, tokens[OWN]!), [dead[OWN]], "the owner's entry is still dead-lettered");
    const [back] = ((await raw.request(OPS.RECV, { topic: TOPIC, maxMessages: 10 }, { tenant: OTHER, cap: tokens[OTHER]! })).body as { deliveries: Wire[] }).deliveries;
    assert.equal(back?.msgId, dead[OTHER], "the other tenant got back its own message, not the owner's");
    await raw.request(OPS.NACK, { msgId: back!.msgId, leaseId: back!.leaseId }, { tenant: OTHER, cap: tokens[OTHER]! });
    const purged = await raw.request(OPS.DLQ_PURGE, { topic: TOPIC }, { tenant: OTHER, cap: operator });
    assert.equal((purged.body as { count: number }).count, 1);
    assert.deepEqual(await list(OWN, tokens[OWN]!), [dead[OWN]], "a purge for the other tenant left the owner's entry");
    assert.equal((await raw.request(OPS.DLQ_PURGE, {}, { tenant: OWN, cap: tokens[OWN]! })).header.code, 200);
    assert.deepEqual(await t.depths(), { ready: 0, delayed: 0, leased: 0, dlq: 0 });
  } finally {
    await raw.close();
    await t.stop();
  }
});

test('a token minted without a tenant cannot act for tenant X (refused) and acts for the default tenant', { timeout: 30_000 }, async () => {
  const t = await startTestServer();
  const raw = await RawClient.connect(t.server.url);
  try {
    const plain = t.token([{ kind: 'op', ops: ['send', 'recv', 'ack'] }]);
    const before = await authRejections(t);
    const refused = await raw.request(OPS.SEND, { topic: TOPIC, idemKey: 'x', payload: Buffer.from('x') }, { tenant: OWN, cap: plain });
    assert.equal(errorOf(refused).code, 'E_CAP_SCOPE');
    assert.match(errorOf(refused).message, new RegExp(OWN));
    const recvX = await raw.request(OPS.RECV, { topic: TOPIC, maxMessages: 1 }, { tenant: OWN, cap: plain });
    assert.equal(errorOf(recvX).code, 'E_CAP_SCOPE');
    assert.equal(await authRejections(t), before + 2);
    assert.deepEqual(await t.depths(), { ready: 0, delayed: 0, leased: 0, dlq: 0 }, 'nothing was enqueued for tenant X');

    const sent = await raw.request(OPS.SEND, { topic: TOPIC, idemKey: 'd', payload: Buffer.from('d') }, { tenant: DEFAULT_TENANT, cap: plain });
    assert.equal(sent.header.code, 200, 'the default tenant is the one it acts for');
    const [d] = ((await raw.request(OPS.RECV, { topic: TOPIC, maxMessages: 1 }, { tenant: DEFAULT_TENANT, cap: plain })).body as { deliveries: Wire[] }).deliveries;
    assert.equal(d?.msgId, (sent.body as { msgId: string }).msgId);
    assert.equal((await raw.request(OPS.ACK, { msgId: d!.msgId, leaseId: d!.leaseId }, { tenant: DEFAULT_TENANT, cap: plain })).header.code, 200);
  } finally {
    await raw.close();
    await t.stop();
  }
});

test("other tenant's ACK of a message waiting on disk (LevelDB, paged out) is answered as an unknown id", { timeout: 30_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mailbox-tenancy-'));
  // One shard and a ready window of 2: most of the owner's backlog stays in the store, not in RAM.
  const t = await startTestServer({ config: { amnesia: false, dataDir, shards: 1, queue: { readyWindow: 2, residentBudget: 2 } } });
  const raw = await RawClient.connect(t.server.url);
  try {
    const own = t.token([tenantCaveat(OWN)]);
    const other = t.token([tenantCaveat(OTHER)]);
    const items = Array.from({ length: 20 }, (_, i) => ({ topic: TOPIC, idemKey: `backlog-${i}`, payload: Buffer.from(`m${i}`) }));
    const sent = await raw.request(OPS.SEND_BATCH, { items }, { tenant: OWN, cap: own });
    const ids = (sent.body as { results: Array<{ msgId: string }> }).results.map((r) => r.msgId);
    const deep = ids[ids.length - 1]!; // the newest: on disk, far past the window
    const leaseId = `0.${UNKNOWN_ID}`; // well-formed, names the shard, is nobody's lease
    for (const op of [OPS.ACK, OPS.ACK_BATCH] as const) {
      const body = (msgId: string) => (op === OPS.ACK ? { msgId, leaseId } : { items: [{ msgId, leaseId }] });
      const before = await authRejections(t);
      const got = verdict(await raw.request(op, body(deep), { tenant: OTHER, cap: other }), deep);
      const unknown = verdict(await raw.request(op, body(UNKNOWN_ID), { tenant: OTHER, cap: other }), UNKNOWN_ID);
      assert.equal(got, unknown, 'the other tenant learns nothing from a msgId on disk');
      assert.equal(await authRejections(t), before + 1, 'counted once, as an auth refusal');
      // The owner, with a lease that is not the live one, is told its message is still queued.
      const mine = verdict(await raw.request(op, body(deep), { tenant: OWN, cap: own }), deep);
      assert.match(mine, /E_STALE_LEASE .*queued again/);
    }
    assert.equal((await t.depths()).ready, 20, 'nothing was acknowledged');
  } finally {
    await raw.close();
    await t.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
