/**
 * Fair delivery in a running mailbox: a tenant with a deep backlog and wide credit does not
 * hold a shard's delivery while another tenant's consumer waits (deficit round robin across
 * tenants and topics, within a turn budget; actors/shard-core.ts `pump`).
 */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import type { TenantId } from '../../src/domain/types.ts';
import { createMailbox, type Mailbox } from '../../src/index.ts';

const HOT = 'a'.repeat(32) as TenantId;
const CALM = 'b'.repeat(32) as TenantId;
const BACKLOG = 6_000;

const boxes: Mailbox[] = [];
after(async () => {
  for (const b of boxes) await b.stop();
});

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

it('a hot tenant\'s backlog does not hold the shard: the calm tenant is served before the backlog is through', { timeout: 30_000 }, async () => {
  const mb = await createMailbox({ amnesia: true, logLevel: 'silent', shards: 1 });
  boxes.push(mb);
  const payload = new Uint8Array(1024);
  const hotProducer = mb.openSession({ tenant: HOT });
  for (let i = 0; i < BACKLOG; i += 1_000) {
    await hotProducer.sendBatch(Array.from({ length: 1_000 }, (_, j) => ({ topic: 'bulk', idemKey: `h${i + j}`, payload })));
  }
  const calmProducer = mb.openSession({ tenant: CALM });
  for (let i = 0; i < 20; i++) await calmProducer.send({ topic: 'orders', idemKey: `c${i}`, payload });

  let hot = 0;
  let calm = 0;
  let hotBeforeCalm: number | undefined;
  const hotConsumer = mb.openSession({ tenant: HOT, onDeliver: (_s, ds) => (hot += ds.length) });
  const calmConsumer = mb.openSession({
    tenant: CALM,
    onDeliver: (_s, ds) => {
      hotBeforeCalm ??= hot;
      calm += ds.length;
    },
  });
  // Both subscribe in one tick: the hot one's turn comes first, with credit for its whole backlog.
  const subs = [hotConsumer.subscribe({ topic: 'bulk', prefetch: 10_000 }), calmConsumer.subscribe({ topic: 'orders', prefetch: 100 })];
  await Promise.all(subs);
  await until('every message delivered', () => hot === BACKLOG && calm === 20);
  assert.ok(hotBeforeCalm !== undefined && hotBeforeCalm < BACKLOG, `the calm tenant waited for ${hotBeforeCalm} of the hot tenant's ${BACKLOG} messages`);
  // One turn's budget (2 MiB: ~1,900 of these) at most went out ahead of it.
  assert.ok(hotBeforeCalm! <= 2_000, `${hotBeforeCalm} hot deliveries before the calm tenant's first`);
  for (const s of [hotProducer, calmProducer, hotConsumer, calmConsumer]) await s.close();
});
