/**
 * The kill-9 drill, short: the server process (bin/mailbox.mjs serve, LevelDB) killed with
 * SIGKILL twice under SDK producers and consumers; the promise asserted in detail.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kill9Kept, runKill9 } from '../../chaos/kill-9.drill.ts';
import { spread } from '../../chaos/remote.ts';

test('kill -9 of the server process under load, twice: every acknowledged SEND is ACKed by a consumer or dead-lettered with its reason, none lost, none delivered after its ACK', { timeout: 120_000 }, async (t) => {
  const o = { kills: 2, durationMs: 0, messages: 3_000, gapMs: [300, 1_200] as [number, number], producers: 2, topics: 8, maxAttempts: 10, settleTimeoutMs: 60_000, seed: 3, log: (l: string) => t.diagnostic(l) };
  const r = await runKill9(o);
  t.diagnostic(`accepted=${r.accepted} acked=${r.acked} ackUnconfirmed=${r.ackUnconfirmed} dlq=${r.dlq} (${r.dlqReasons}) deliveries=${r.deliveries} duplicates=${r.duplicates} readyMs=${spread(r.readyMs)} sendRetries=${r.sendRetries} elapsedMs=${r.elapsedMs}`);
  const why = r.samples.join('; ');
  assert.ok(r.settled, 'the server ended with no ready, delayed or leased message');
  assert.equal(r.kills, 2);
  assert.equal(r.readyMs.length, 2, 'a spawn-to-/readyz time per restart');
  assert.ok(r.readyMs.every((ms) => ms > 0));
  assert.ok(r.accepted > 0, 'SENDs were acknowledged');
  assert.equal(r.refused, 0, `SENDs refused with a non-retryable error: ${why}`);
  assert.equal(r.idemMismatches, 0, 'a retried SEND answered with another msgId');
  assert.equal(r.lost, 0, `acknowledged SENDs neither ACKed nor dead-lettered: ${why}`);
  assert.equal(r.orphans, 0, `deliveries of msgIds no SEND was answered with: ${why}`);
  assert.equal(r.badDlq, 0, `DLQ entries without a reason or a matching history: ${why}`);
  assert.equal(r.afterAck, 0, `deliveries after a successful ACK: ${why}`);
  assert.equal(r.acked + r.ackUnconfirmed + r.dlq, r.accepted, 'ACKed and dead-lettered add up to what was acknowledged');
  assert.ok(kill9Kept(r, o.kills));
});
