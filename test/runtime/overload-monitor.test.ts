/** The overload monitor over both signals: event-loop delay and store commit latency. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventBus } from '../../src/bus/bus.ts';
import type { MailboxEvents } from '../../src/bus/events.ts';
import { LatencyWindow } from '../../src/domain/overload.ts';
import { watchOverload } from '../../src/runtime/overload-monitor.ts';

const until = async (ok: () => boolean, ms = 2_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
  assert.ok(ok(), 'condition not reached');
};

test('store commits slower than overloadCommitMs for 3 windows raise Overloaded naming the commit latency; fast commits clear it', async () => {
  const bus = new EventBus<MailboxEvents>();
  const events: string[] = [];
  bus.subscribe('Overloaded', (e) => events.push(`raised: ${e.reason}`));
  bus.subscribe('OverloadCleared', () => events.push('cleared'));
  const commits = new LatencyWindow();
  let slow = true;
  let windows = 0;
  const stop = watchOverload(bus, { lagMs: 0, commitMs: 100 }, () => {}, {
    commits: { record: () => {}, take: () => (windows++, commits.record(slow ? 250 : 3), commits.take()) } as unknown as LatencyWindow,
    windowMs: 10,
  });
  try {
    await until(() => events.length === 1);
    assert.match(events[0]!, /^raised: store commit latency p99 250 ms > 100 ms$/);
    assert.ok(windows >= 3, 'not before 3 bad windows');
    slow = false;
    await until(() => events.length === 2);
    assert.equal(events[1], 'cleared');
  } finally {
    stop();
  }
});

test('with both signals bad the overload clears only once both are good again', async () => {
  const bus = new EventBus<MailboxEvents>();
  const events: string[] = [];
  bus.subscribe('Overloaded', (e) => events.push(`raised: ${e.reason}`));
  bus.subscribe('OverloadCleared', () => events.push('cleared'));
  let lag = 500;
  let commit = 500;
  const window = { record: () => {}, take: () => commit } as unknown as LatencyWindow;
  const stop = watchOverload(bus, { lagMs: 50, commitMs: 100 }, () => {}, { lagP99: () => lag, commits: window, windowMs: 10 });
  try {
    await until(() => events.length === 1);
    assert.match(events[0]!, /event-loop delay/);
    lag = 1;
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(events.length, 1, 'the commit latency still holds it');
    commit = 1;
    await until(() => events.length === 2);
    assert.equal(events[1], 'cleared');
  } finally {
    stop();
  }
});

test('both bounds 0: no monitor', () => {
  const bus = new EventBus<MailboxEvents>();
  let asked = 0;
  const stop = watchOverload(bus, { lagMs: 0, commitMs: 0 }, () => {}, { lagP99: () => ++asked });
  stop();
  assert.equal(asked, 0);
});
