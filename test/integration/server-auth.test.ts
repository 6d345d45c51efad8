import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyRing, generateKey, mint, TOKEN_PREFIX } from '../../src/auth/index.ts';
import { MailboxClient, MailboxError } from '../../src/client/index.ts';
import { OPS } from '../../src/protocol/index.ts';
import { RawClient, errorOf } from './helpers/raw-client.ts';
import { seriesValue, startTestServer } from './helpers/server.ts';

/** The same token with the last signature byte flipped: well-formed, wrongly signed. */
function forge(token: string): string {
  const bytes = Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url');
  bytes[bytes.length - 1] ^= 0x01;
  return TOKEN_PREFIX + bytes.toString('base64url');
}

async function rejectsWith(p: Promise<unknown>, code: string, what: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof MailboxError, `${what}: expected a MailboxError, got ${String(err)}`);
    assert.equal(err.code, code, `${what}: ${err.message}`);
    return true;
  });
}

test(
  'SEND is refused for an expired, wrong-topic, forged, foreign-key or missing token, and nothing is enqueued',
  { timeout: 30_000 },
  async () => {
    const t = await startTestServer();
    try {
      const topic = 'secure:inbox';
      const tenantB = 'b'.repeat(32);
      const cases: Array<{ what: string; token: string | undefined; code: 'E_CAP_AUTH' | 'E_CAP_SCOPE'; tenant?: string }> = [
        { what: 'expired token', token: t.token([{ kind: 'expiry', at: Date.now() - 60_000 }]), code: 'E_CAP_AUTH' },
        { what: 'wrong-topic token', token: t.token([{ kind: 'topic', pattern: 'other:*' }]), code: 'E_CAP_SCOPE' },
        { what: 'wrong-tenant token', token: t.token([{ kind: 'tenant', tenant: 'a'.repeat(32) as never }]), code: 'E_CAP_SCOPE', tenant: tenantB },
        { what: 'forged token', token: forge(t.adminToken), code: 'E_CAP_AUTH' },
        { what: 'token of another key ring', token: mint(new KeyRing('k1', generateKey())), code: 'E_CAP_AUTH' },
        { what: 'not a token', token: 'mbx1.garbage', code: 'E_CAP_AUTH' },
        { what: 'no token', token: undefined, code: 'E_CAP_AUTH' },
      ];
      const before = seriesValue(await t.metrics(), 'rejected_total{reason="auth"}') ?? 0;

      // On the wire: each SEND (and SEND_BATCH) answered with the error frame.
      const raw = await RawClient.connect(t.server.url);
      for (const c of cases) {
        const options = { ...(c.token ? { cap: c.token } : {}), ...(c.tenant ? { tenant: c.tenant as never } : {}) };
        const reply = await raw.request(OPS.SEND, { topic, idemKey: `k-${c.what}`, payload: Buffer.from('x') }, options);
        const err = errorOf(reply);
        assert.equal(err.code, c.code, `${c.what}: ${err.message}`);
        assert.equal(reply.header.code, err.status);
        assert.equal(reply.header.op, OPS.SEND);
        const batch = await raw.request(OPS.SEND_BATCH, { items: [{ topic, idemKey: `b-${c.what}`, payload: Buffer.from('y') }] }, options);
        assert.equal(errorOf(batch).code, c.code, `${c.what} on SEND_BATCH`);
        if (c.token) assert.ok(!errorOf(reply).message.includes(c.token), 'the error does not echo the token');
      }
      await raw.ping();
      await raw.close();

      // Through the SDK: a token that does not verify is refused at HELLO; a valid one out of scope at SEND.
      for (const c of cases) {
        if (!c.token) {
          await rejectsWith(MailboxClient.connect(t.server.url, { token: '' }), 'E_CONFIG', 'the SDK refuses to connect without a token');
          continue;
        }
        const connecting = MailboxClient.connect(t.server.url, { token: c.token, reconnect: false, ...(c.tenant ? { tenant: c.tenant } : {}) });
        if (c.code === 'E_CAP_AUTH') {
          await rejectsWith(connecting, 'E_CAP_AUTH', `${c.what} at HELLO`);
        } else {
          const client = await connecting;
          await rejectsWith(client.send({ topic, idemKey: `sdk-${c.what}`, payload: 'x' }), c.code, `${c.what} on send`);
          await client.close();
        }
      }

      assert.deepEqual(await t.depths(), { ready: 0, delayed: 0, leased: 0, dlq: 0 }, 'nothing was enqueued');
      const after = seriesValue(await t.metrics(), 'rejected_total{reason="auth"}') ?? 0;
      assert.ok(after >= before + 2 * cases.length, `rejected_total{reason="auth"} went from ${before} to ${after}`);
    } finally {
      await t.stop();
    }
  },
);

test('a send-only token can SEND but not RECV, SUBSCRIBE, ACK or DLQ_LIST; an admin token can do all of them', { timeout: 30_000 }, async () => {
  const t = await startTestServer();
  try {
    const topic = 'secure:jobs';
    const sender = await t.client({ token: t.token([{ kind: 'op', ops: ['send'] }]) });
    const admin = await t.client();

    const { msgId } = await sender.send({ topic, idemKey: 'job-1', payload: 'work' });
    await rejectsWith(sender.recv({ topic, maxMessages: 1 }), 'E_CAP_SCOPE', 'send-only RECV');
    await rejectsWith(sender.dlq.list({ topic }), 'E_CAP_SCOPE', 'send-only DLQ_LIST');
    await rejectsWith(sender.dlq.purge({ topic }), 'E_CAP_SCOPE', 'send-only DLQ_PURGE');
    const sub = sender.subscribe({ topic, prefetch: 1 }, () => {
      assert.fail('a send-only token must not receive deliveries');
    });
    await rejectsWith(sub.ready, 'E_CAP_SCOPE', 'send-only SUBSCRIBE');
    assert.equal((await t.depths()).ready, 1, 'the refused RECV and SUBSCRIBE leased nothing');

    const [d] = await admin.recv({ topic, maxMessages: 1, waitMs: 5_000 });
    assert.equal(d?.msgId, msgId);
    await rejectsWith(sender.ack(d!.msgId, d!.leaseId), 'E_CAP_SCOPE', 'send-only ACK');
    await d!.ack();
    assert.deepEqual(await admin.dlq.list({ topic }), []);
    assert.equal(await admin.dlq.purge({ topic }), 0);
    assert.deepEqual(await t.depths(), { ready: 0, delayed: 0, leased: 0, dlq: 0 });
  } finally {
    await t.stop();
  }
});

test('each request is judged by its own token: a connection switching tokens never reuses the last verdict', { timeout: 30_000 }, async () => {
  const t = await startTestServer();
  try {
    const topic = 'switch:inbox';
    const good = t.token([{ kind: 'topic', pattern: 'switch:*' }]);
    const narrow = t.token([{ kind: 'topic', pattern: 'other:*' }]);
    const raw = await RawClient.connect(t.server.url);
    const send = (n: number, cap?: string) => raw.request(OPS.SEND, { topic, idemKey: `s-${n}`, payload: Buffer.from('x') }, cap ? { cap } : {});
    const outcome = async (n: number, cap?: string): Promise<string> => {
      const reply = await send(n, cap);
      return reply.header.code === 200 ? 'ok' : errorOf(reply).code;
    };
    assert.deepEqual(
      [await outcome(1, good), await outcome(2, good), await outcome(3, forge(good)), await outcome(4, good), await outcome(5, narrow), await outcome(6, good), await outcome(7)],
      ['ok', 'ok', 'E_CAP_AUTH', 'ok', 'E_CAP_SCOPE', 'ok', 'E_CAP_AUTH'],
    );
    await raw.close();
    assert.deepEqual(await t.depths(), { ready: 4, delayed: 0, leased: 0, dlq: 0 }, 'the four accepted SENDs, nothing else');
  } finally {
    await t.stop();
  }
});
