import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMailbox, MailboxError } from '../../src/index.ts';

/** Keeps the event loop busy in 150 ms slices for `ms`, yielding in between. */
async function starveEventLoop(ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const slice = Date.now() + 150;
    while (Date.now() < slice) { /* busy */ }
    await new Promise((r) => setImmediate(r));
  }
}

async function waitFor(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('sustained event-loop lag moves readiness to degraded (overload) and sheds SENDs until it clears', { timeout: 60_000 }, async () => {
  const mb = await createMailbox({ amnesia: true, logLevel: 'silent', shards: 2, overloadLagMs: 50 });
  try {
    await waitFor(() => mb.readiness().ready, 10_000);
    await starveEventLoop(4_500);
    await waitFor(() => mb.readiness().state === 'degraded', 5_000);
    assert.match(mb.readiness().reasons.join(' '), /overload: event-loop delay/);
    await assert.rejects(mb.send({ topic: 't', idemKey: 'k', payload: new Uint8Array(1) }), (e: unknown) => e instanceof MailboxError && e.code === 'E_UNAVAILABLE');
    await waitFor(() => mb.readiness().ready, 20_000);
    assert.equal((await mb.send({ topic: 't', idemKey: 'k', payload: new Uint8Array(1) })).duplicate, false);
  } finally {
    await mb.stop();
  }
});
