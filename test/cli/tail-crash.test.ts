/**
 * `mailbox tail` against a real (in-process) server shows an actor crash as it happens: a shard
 * killed the way the chaos drills kill it (chaos/kill-loop.ts) appears as a ShardCrashed line.
 */
import { strict as assert } from 'node:assert';
import { it } from 'node:test';
import { spawnMailbox } from './helpers.ts';
import { eventually, startTestServer } from '../integration/helpers/server.ts';

it('mailbox tail shows the crash event of a killed shard', { timeout: 60_000 }, async () => {
  const t = await startTestServer();
  const { child, stdout } = spawnMailbox(['tail', '--admin', t.server.adminUrl]);
  try {
    const lines = (): Array<Record<string, unknown>> => stdout().split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
    await eventually('the first (readiness) line', () => lines().length > 0, 30_000);
    assert.equal(lines()[0]!.type, 'Readiness');

    await t.server.mailbox.kill('/root/shards/shard-2', 'chaos: tail test');
    await eventually('a ShardCrashed line', () => lines().some((l) => l.type === 'ShardCrashed'), 20_000);
    const crash = lines().find((l) => l.type === 'ShardCrashed')!;
    assert.equal(crash.shard, 2);
    assert.match(String(crash.reason), /chaos: tail test/);
    assert.ok(!Number.isNaN(Date.parse(String(crash.at))), 'the line has its time');
  } finally {
    child.kill('SIGKILL');
    await t.stop();
  }
});
