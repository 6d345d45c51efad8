/**
 * The governance policy in a running mailbox (createMailbox, amnesia): per-tenant quotas from
 * the policy file, a reload that applies whole or is refused whole (the cached policy stays),
 * presets, and a start with a bad file.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { metricValue } from '../../chaos/inspect.ts';
import type { TenantId } from '../../src/domain/types.ts';
import { createMailbox, MailboxError, type Mailbox } from '../../src/index.ts';
import type { MailboxRuntime } from '../../src/runtime/mailbox.ts';

const HOT = 'a'.repeat(32) as TenantId;
const CALM = 'b'.repeat(32) as TenantId;
const bytes = (n: number) => new Uint8Array(n);

describe('governance policy in a running mailbox', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailbox-policy-'));
  const file = join(dir, 'policy.json');
  const boxes: Mailbox[] = [];
  after(async () => {
    for (const b of boxes) await b.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const write = (doc: unknown): void => {
    writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2));
    chmodSync(file, 0o600);
  };
  async function start(): Promise<MailboxRuntime> {
    const mb = (await createMailbox({ amnesia: true, logLevel: 'silent', shards: 2, policyFile: file })) as MailboxRuntime;
    boxes.push(mb);
    return mb;
  }
  /**
   * How many of `n` single SENDs of `size` bytes a tenant gets through, sent at once, and how
   * long that took: a bucket refills while they run, so bounds allow `rate × elapsed` more.
   */
  async function burst(mb: MailboxRuntime, tenant: TenantId, n: number, size = 10): Promise<{ ok: number; refused: MailboxError[]; elapsedMs: number }> {
    const s = mb.openSession({ tenant });
    const t0 = performance.now();
    const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => s.send({ topic: 'q', idemKey: `${tenant.slice(0, 4)}-${i}-${Math.random()}`, payload: bytes(size) })));
    const elapsedMs = performance.now() - t0;
    await s.close();
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as MailboxError] : []));
    return { ok: n - refused.length, refused, elapsedMs };
  }
  /** `got` is `base` plus at most what `perSecond` refilled in `elapsedMs` (and one for rounding). */
  const within = (got: number, base: number, perSecond: number, elapsedMs: number, what: string): void => {
    const most = base + Math.ceil((perSecond * elapsedMs) / 1000) + 1;
    assert.ok(got >= base && got <= most, `${what}: ${got} not in [${base}, ${most}] (${elapsedMs.toFixed(0)} ms)`);
  };

  it('enforces each tenant its own message and byte rates, refusing with E_SATURATED and a retry-after, counted as quota', async () => {
    write({ defaults: { sendPerSecond: 1_000 }, tenants: { [HOT]: { sendPerSecond: 5, burstSeconds: 1 }, [CALM]: { sendBytesPerSecond: 2_000_000, burstSeconds: 1 } } });
    const mb = await start();
    const hot = await burst(mb, HOT, 12);
    within(hot.ok, 5, 5, hot.elapsedMs, 'the hot tenant gets its 5/s burst');
    assert.ok(hot.refused.every((e) => e.code === 'E_SATURATED' && (e.retryAfterMs ?? 0) > 0 && /5 messages\/s/.test(e.message)));
    const calm = await burst(mb, CALM, 12);
    assert.equal(calm.ok, 12, 'another tenant is not held back by the hot one');
    const big = await burst(mb, CALM, 4, 700_000);
    within(big.ok, 2, 2_000_000 / 700_000, big.elapsedMs, 'the byte rate bounds big payloads (4 × 700 kB at 2 MB/s, 2 MB burst)');
    assert.ok(big.ok < 4, 'not all of them');
    assert.ok(big.refused.every((e) => /bytes\/s/.test(e.message)));
    assert.ok((await metricValue(mb, 'rejected_total{reason="quota"}')) >= hot.refused.length + big.refused.length);
  });

  it('a reload applies a new policy whole; a bad file is refused whole, keeps the cached policy and is counted', async () => {
    write({ tenants: { [HOT]: { sendPerSecond: 2 } } });
    const mb = await start();
    const before = await burst(mb, HOT, 6);
    within(before.ok, 2, 2, before.elapsedMs, 'the first policy: 2/s');
    write({ tenants: { [HOT]: { sendPerSecond: 500 } } });
    const result = await mb.reloadPolicy('test');
    assert.ok(result.ok);
    assert.deepEqual(result.ok && result.changes, ['tenants.aaaaaaaa….sendPerSecond: 2 → 500']);
    assert.equal((await burst(mb, HOT, 6)).ok, 6, 'the new limit is in force at once');
    write('{ "tenants": { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": { "sendPerSecond": "lots" } } }');
    const refused = await mb.reloadPolicy('test');
    assert.ok(!refused.ok);
    assert.match(refused.ok ? '' : refused.reason, /line 1, tenants\.a{32}\.sendPerSecond: must be a number/);
    assert.equal((await metricValue(mb, 'policy_reload_failures_total')), 1);
    assert.equal(mb.policyReport().policy.tenants[HOT]?.sendPerSecond, 500, 'the cached policy stayed');
    assert.equal((await burst(mb, HOT, 6)).ok, 6);
  });

  it('reloads under load lose nothing: every SEND is either accepted and delivered once acknowledged, or refused whole', async () => {
    write({ tenants: { [HOT]: { sendPerSecond: 100_000, maxQueued: 100_000 } } });
    const mb = await start();
    const producer = mb.openSession({ tenant: HOT });
    const delivered = new Set<string>();
    const consumer = mb.openSession({
      tenant: HOT,
      onDeliver: (_sub, ds) => {
        for (const d of ds) {
          delivered.add(d.msgId);
          void consumer.ack(d.msgId, d.leaseId);
        }
      },
    });
    await consumer.subscribe({ topic: 'q', prefetch: 500 });
    const accepted = new Set<string>();
    let refused = 0;
    let sending = true;
    const load = (async () => {
      for (let round = 0; sending; round++) {
        const batch = Array.from({ length: 50 }, (_, i) => ({ topic: 'q', idemKey: `r${round}-${i}`, payload: bytes(64) }));
        try {
          for (const r of await producer.sendBatch(batch)) {
            if (r instanceof MailboxError) refused++;
            else accepted.add(r.msgId);
          }
        } catch (err) {
          assert.ok(err instanceof MailboxError && err.code === 'E_SATURATED', String(err));
          refused += batch.length; // refused whole by the rate quota
        }
        // A refusal is answered without I/O: let the timers (the reloads) run between batches.
        await new Promise((res) => setImmediate(res));
      }
    })();
    // Alternate good policies (tight and wide) and a bad one, while the batches run.
    const docs: unknown[] = [
      { tenants: { [HOT]: { sendPerSecond: 200, maxQueued: 100_000 } } },
      '{ "tenants": { "bad": {} } }',
      { tenants: { [HOT]: { sendPerSecond: 100_000, maxQueued: 100_000 } } },
    ];
    for (let i = 0; i < 12; i++) {
      write(docs[i % docs.length]!);
      const r = await mb.reloadPolicy('test');
      assert.equal(r.ok, i % docs.length !== 1, `reload ${i}`);
      await new Promise((res) => setTimeout(res, 25));
    }
    sending = false;
    await load;
    assert.ok(accepted.size > 0 && refused > 0, `both happened: ${accepted.size} accepted, ${refused} refused`);
    const end = Date.now() + 10_000;
    while (delivered.size < accepted.size && Date.now() < end) await new Promise((res) => setTimeout(res, 20));
    for (const id of accepted) assert.ok(delivered.has(id), `accepted ${id} was never delivered`);
    await producer.close();
    await consumer.close();
  });

  it('a preset scales every rate while it lasts and shows its time left', async () => {
    write({ defaults: { sendPerSecond: 10, burstSeconds: 1 }, presets: { 'brownout-1': { scale: 0.2, expiresAt: new Date(Date.now() + 30 * 60_000).toISOString() } } });
    const mb = await start();
    const scaled = await burst(mb, CALM, 6);
    within(scaled.ok, 2, 2, scaled.elapsedMs, '10/s scaled by 0.2');
    const [preset] = mb.policyReport().presets;
    assert.equal(preset?.name, 'brownout-1');
    assert.ok(preset!.leftMs > 29 * 60_000 && preset!.leftMs <= 30 * 60_000);
  });

  it('refuses to start on a policy file that is wrong, naming the file, the line and the key', async () => {
    write('{\n  "defaults": { "sendPerSecond": 1 },\n  "tenant": {}\n}');
    await assert.rejects(createMailbox({ amnesia: true, logLevel: 'silent', policyFile: file }), (e: unknown) => {
      assert.ok(e instanceof MailboxError && e.code === 'E_CONFIG');
      assert.match(e.message, /policy\.json: line 3, tenant: is not a known key/);
      return true;
    });
  });
});
