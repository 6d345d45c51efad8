/**
 * `mailbox tree --watch`: the renderer on a fake tree (colours on and off, crash age), and the
 * real command as a child process against a test server (frames redrawn every second, plain
 * off a terminal, Ctrl-C exits 0, a server that goes away is reported while it keeps asking).
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { spawnMailbox } from './helpers.ts';
import { eventually, startTestServer } from '../integration/helpers/server.ts';
import { formatAge, renderFrame, renderWatchTree, useColour } from '../../src/cli/tree-watch.ts';
import type { TreeNode } from '../../src/runtime/api.ts';

const NOW = Date.parse('2026-12-02T18:00:00.000Z');
const FAKE: TreeNode = {
  path: '/root', kind: 'supervisor', state: 'running', restarts: 0, uptimeMs: 60_000,
  children: [
    { path: '/root/readiness', kind: 'readiness', state: 'running:degraded', restarts: 0, uptimeMs: 60_000 },
    {
      path: '/root/shards', kind: 'supervisor', state: 'running', restarts: 0, uptimeMs: 60_000,
      children: [
        { path: '/root/shards/shard-0', kind: 'shard', state: 'running', restarts: 0, uptimeMs: 60_000, depths: { ready: 3, leased: 1, delayed: 0, dlq: 2 } },
        { path: '/root/shards/shard-1', kind: 'shard', state: 'restarting', restarts: 2, uptimeMs: 0, lastCrash: { reason: 'chaos', at: NOW - 12_400 } },
        { path: '/root/shards/shard-2', kind: 'shard', state: 'exited', restarts: 5, uptimeMs: 0, lastCrash: { reason: 'boom', at: NOW - 245_000 } },
      ],
    },
  ],
};
const ANSI = /\x1b\[/;
const strip = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '');

describe('tree --watch renderer', () => {
  it('plain: one line per node with restarts and the last crash reason with its age', () => {
    const text = renderWatchTree(FAKE, { colour: false, now: NOW });
    assert.doesNotMatch(text, ANSI);
    const lines = text.split('\n');
    assert.equal(lines.length, 6);
    assert.equal(lines[3], '    shard-0  [shard]  running  ready=3 leased=1 delayed=0 dlq=2  up 60.0s');
    assert.equal(lines[4], '    shard-1  [shard]  restarting  restarts=2  crashed 12s ago: chaos  up 0.0s');
    assert.equal(lines[5], '    shard-2  [shard]  exited  restarts=5  crashed 4m05s ago: boom  up 0.0s');
  });

  it('coloured: states green / yellow / red, crashes red, and the same text underneath', () => {
    const text = renderWatchTree(FAKE, { colour: true, now: NOW });
    assert.equal(strip(text), renderWatchTree(FAKE, { colour: false, now: NOW }));
    const lines = text.split('\n');
    assert.ok(lines[0]!.includes('\x1b[32mrunning\x1b[0m'), 'running is green');
    assert.ok(lines[1]!.includes('\x1b[33mrunning:degraded\x1b[0m'), 'degraded is yellow');
    assert.ok(lines[4]!.includes('\x1b[33mrestarting\x1b[0m'), 'restarting is yellow');
    assert.ok(lines[4]!.includes('\x1b[31mcrashed 12s ago: chaos\x1b[0m'), 'the crash is red');
    assert.ok(lines[5]!.includes('\x1b[31mexited\x1b[0m'), 'exited is red');
  });

  it('colours only on a TTY and never with NO_COLOR; ages to the second; a frame names the server', () => {
    assert.equal(useColour({ isTTY: true }, {}), true);
    assert.equal(useColour({ isTTY: true }, { NO_COLOR: '1' }), false);
    assert.equal(useColour({ isTTY: false }, {}), false);
    assert.equal(useColour({}, {}), false);
    assert.deepEqual([0, 999, 59_999, 60_000, 3_599_000, 7_620_000].map(formatAge), ['0s', '0s', '59s', '1m00s', '59m59s', '2h07m']);
    const frame = renderFrame('http://127.0.0.1:9600', { unreachable: 'cannot reach http://127.0.0.1:9600: connection refused' }, { colour: false, now: NOW });
    assert.equal(frame, 'mailbox tree --watch: http://127.0.0.1:9600 at 2026-12-02T18:00:00.000Z (Ctrl-C to exit)\ncannot reach http://127.0.0.1:9600: connection refused; asking again every second\n');
  });
});

describe('mailbox tree --watch', () => {
  it('redraws every second (plain off a TTY), shows a crash with its age, reports a server that goes away, exits 0 on Ctrl-C', { timeout: 60_000 }, async () => {
    const t = await startTestServer();
    let stopped = false;
    try {
      await t.server.mailbox.kill('/root/shards/shard-1', 'chaos');
      const run = spawnMailbox(['tree', '--watch', '--admin', t.server.adminUrl]);
      const { child, exited } = run;
      const frames = (): number => run.stdout().split(`mailbox tree --watch: ${t.server.adminUrl} at `).length - 1;
      await eventually('two frames', () => frames() >= 2, 30_000);
      assert.doesNotMatch(run.stdout(), ANSI, 'no colours off a TTY');
      assert.match(run.stdout(), /shard-1 {2}\[shard\] {2}running {2}restarts=1 .* crashed \d+s ago: chaos/);

      await t.stop();
      stopped = true;
      await eventually('the outage reported', () => /cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused; asking again every second/.test(run.stdout()), 30_000);
      assert.equal(child.exitCode, null, 'keeps asking');
      child.kill('SIGINT');
      assert.equal(await exited, 0, run.stderr());
      assert.equal(run.stderr(), '');
    } finally {
      if (!stopped) await t.stop();
    }
  });
});
