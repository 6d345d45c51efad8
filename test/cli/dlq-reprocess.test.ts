/**
 * `mailbox dlq reprocess --rate N/s [--dry-run]` driven as a child process against a real server:
 * exactly the DLQ's messages come back once each, a dry run moves none, and Ctrl-C mid-run
 * neither loses nor duplicates a message.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { mailbox, spawnMailbox } from './helpers.ts';
import { eventually, startTestServer, type TestServer } from '../integration/helpers/server.ts';
import type { MailboxClient } from '../../src/client/index.ts';

const TOPIC = 'jobs:reprocess';

/** N messages sent and NACKed once (maxAttempts 1): all N in the DLQ. Returns their msgIds. */
async function fillDlq(t: TestServer, client: MailboxClient, n: number): Promise<Set<string>> {
  const ids = new Set<string>();
  for (let i = 0; i < n; i++) ids.add(String((await client.send({ topic: TOPIC, idemKey: `m${i}`, payload: `p${i}` })).msgId));
  let nacked = 0;
  while (nacked < n) {
    for (const d of await client.recv({ topic: TOPIC, maxMessages: n, waitMs: 5_000, visibilityMs: 60_000 })) {
      await d.nack({ delayMs: 0, reason: 'poison' });
      nacked++;
    }
  }
  await eventually(`${n} DLQ entries`, async () => (await t.depths()).dlq === n);
  return ids;
}

/** Leases and ACKs every ready message until none comes within a short wait; returns their msgIds in order of arrival. */
async function drainReady(client: MailboxClient): Promise<string[]> {
  const got: string[] = [];
  for (;;) {
    const batch = await client.recv({ topic: TOPIC, maxMessages: 100, waitMs: 300, visibilityMs: 60_000 });
    if (batch.length === 0) return got;
    for (const d of batch) {
      got.push(String(d.msgId));
      await d.ack();
    }
  }
}

const target = (t: TestServer): string[] => ['--url', t.server.url, '--token', t.adminToken];
const config = { queue: { maxAttempts: 1 } };

describe('mailbox dlq reprocess --rate', () => {
  it('moves exactly the DLQ\'s messages back to ready, each once, and leaves the DLQ empty', { timeout: 60_000 }, async () => {
    const t = await startTestServer({ config });
    try {
      const client = await t.client();
      const ids = await fillDlq(t, client, 12);
      const r = await mailbox(['dlq', 'reprocess', '--topic', TOPIC, '--rate', '5/s', ...target(t)]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'reprocessed 12, 0 left\n');
      // Off a TTY one plain progress line per step: steps of at most 5 (one second's worth).
      const progress = [...r.stderr.matchAll(/ (\d+)\/12 moved, (\d+) left, 5\/s\n/g)].map((m) => Number(m[1]));
      assert.deepEqual(progress, [0, 5, 10, 12], r.stderr);
      const got = await drainReady(client);
      assert.equal(got.length, 12, 'each message delivered once');
      assert.deepEqual(new Set(got), ids);
      assert.deepEqual(await t.depths(), { ready: 0, delayed: 0, leased: 0, dlq: 0 });
    } finally {
      await t.stop();
    }
  });

  it('--dry-run lists and counts what would move and moves nothing', { timeout: 60_000 }, async () => {
    const t = await startTestServer({ config });
    try {
      const client = await t.client();
      const ids = await fillDlq(t, client, 5);
      const r = await mailbox(['dlq', 'reprocess', '--dry-run', '--rate', '100/s', ...target(t)]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /would reprocess 5\n$/);
      for (const id of ids) assert.ok(r.stdout.includes(id), `${id} listed`);
      const json = await mailbox(['dlq', 'reprocess', '--dry-run', '--limit', '3', '--json', ...target(t)]);
      assert.equal((JSON.parse(json.stdout) as { wouldReprocess: number }).wouldReprocess, 3);
      assert.deepEqual(await t.depths(), { ready: 0, delayed: 0, leased: 0, dlq: 5 });
      assert.deepEqual(await drainReady(client), []);
    } finally {
      await t.stop();
    }
  });

  it('Ctrl-C mid-run finishes the step in flight, exits 130, and loses or duplicates no message; a second run moves the rest', { timeout: 90_000 }, async () => {
    const t = await startTestServer({ config });
    try {
      const client = await t.client();
      const ids = await fillDlq(t, client, 20);
      const run = spawnMailbox(['dlq', 'reprocess', '--rate', '4/s', ...target(t)]);
      const { child, exited } = run;
      await eventually('the first step', () => / 4\/20 moved/.test(run.stderr()), 30_000);
      child.kill('SIGINT');
      assert.equal(await exited, 130, run.stderr());
      const m = /^interrupted: reprocessed (\d+), (\d+) left\n$/.exec(run.stdout());
      assert.ok(m, `stdout: ${run.stdout()}`);
      const [moved, left] = [Number(m[1]), Number(m[2])];
      assert.equal(moved + left, 20);
      assert.ok(left > 0, 'stopped before the end');

      const depths = await t.depths();
      assert.equal(depths.ready, moved);
      assert.equal(depths.dlq, left);
      const dead = new Set((await client.dlq.list({ limit: 1000 })).map((e) => String(e.msgId)));
      const first = await drainReady(client);
      assert.equal(first.length, moved);
      for (const id of first) assert.ok(!dead.has(id), `${id} both ready and in the DLQ`);
      assert.deepEqual(new Set([...first, ...dead]), ids, 'none lost');

      const again = await mailbox(['dlq', 'reprocess', '--rate', '100/s', ...target(t)]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stdout, `reprocessed ${left}, 0 left\n`);
      const second = await drainReady(client);
      assert.deepEqual(new Set(second), dead);
      assert.equal(first.length + second.length, 20, 'each message delivered once');
      assert.deepEqual(await t.depths(), { ready: 0, delayed: 0, leased: 0, dlq: 0 });
    } finally {
      await t.stop();
    }
  });

  it('--rate must be N/s with N > 0, and only for reprocess (usage error, exit 2)', async () => {
    for (const rate of ['0/s', '100', '-5/s', '1.5/s', '10/m', 'fast']) {
      const r = await mailbox(['dlq', 'reprocess', `--rate=${rate}`, '--url', 'ws://127.0.0.1:1', '--token', 'x']);
      assert.equal(r.code, 2, `${rate}: ${r.stderr}`);
      assert.match(r.stderr, /^mailbox dlq reprocess: --rate must be N\/s/);
    }
    const list = await mailbox(['dlq', 'list', '--rate', '1/s', '--url', 'ws://127.0.0.1:1', '--token', 'x']);
    assert.equal(list.code, 2);
    assert.match(list.stderr, /--rate is for dlq reprocess only/);
  });
});
