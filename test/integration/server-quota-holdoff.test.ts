/**
 * A client that floods past its tenant's SEND rate and ignores retryAfterMs: after each quota
 * refusal the server reads nothing more from it until retryAfterMs has passed, so the flood
 * waits in TCP instead of costing a refusal per frame, and the client still gets its rate.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FLAGS, OPS } from '../../src/protocol/index.ts';
import { DEFAULT_TENANT, RawClient } from './helpers/raw-client.ts';
import { eventually, seriesValue, startTestServer } from './helpers/server.ts';

const FRAMES = 400;

test('a SEND flood past the quota is read no faster than its retryAfterMs: one refusal per wait, the rate still admitted', { timeout: 30_000 }, async () => {
  // 200/s (a bucket of 200: the quota keys hold one second of rate at least): a frame refused now may come back in 5 ms.
  const t = await startTestServer({ config: { quota: { sendPerSecond: 200, burst: 20 } } });
  const raw = await RawClient.connect(t.server.url);
  try {
    const cap = t.token();
    // Every frame at once, none waiting for its answer (as a client that ignores refusals does).
    const started = performance.now();
    for (let i = 0; i < FRAMES; i++) void raw.send(OPS.SEND, { topic: 'flood', idemKey: `f${i}`, payload: Buffer.from('x') }, { tenant: DEFAULT_TENANT, cap });
    await eventually('every frame answered', () => raw.responses.length === FRAMES, 20_000);
    const elapsedMs = performance.now() - started;
    const ok = raw.responses.filter((m) => m.header.code === 200).length;
    const refused = raw.responses.filter((m) => m.header.code !== 200);
    assert.ok(refused.every((m) => (m.header.flags & FLAGS.RESP) !== 0 && m.header.code === 429), 'refusals are E_SATURATED');
    // Read all at once, ~200 would pass and ~200 be refused within a few ms. Held off, each
    // refusal pauses reading for its retryAfterMs (5 ms), at least 10 ms: ~60 refusals, ~340
    // admitted in ~0.75 s (measured 337-338 / 62-63 / 745-756 ms). A loaded machine only resumes
    // later: fewer refusals.
    assert.equal(ok + refused.length, FRAMES);
    const most = 200 + Math.ceil((200 * elapsedMs) / 1000) + 1;
    assert.ok(ok <= most, `${ok} admitted in ${elapsedMs.toFixed(0)} ms: at most ${most} by the rate`);
    assert.ok(refused.length <= 150, `${refused.length} refusals: the flood was read as fast as it came`);
    assert.ok(elapsedMs >= refused.length * 4, `${refused.length} refusals in ${elapsedMs.toFixed(0)} ms: each should have paused reading ~5 ms`);
    assert.equal(seriesValue(await t.metrics(), 'rejected_total{reason="quota"}'), refused.length);
    assert.equal((await t.depths()).ready, ok, 'every admitted SEND is queued');
  } finally {
    raw.ws.close();
    await t.stop();
  }
});
