import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EventBus, type BusCounter } from '../../src/bus/bus.ts';
import type { MailboxEvents } from '../../src/bus/events.ts';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

type TestEvents = { n: number; other: string; bare: undefined };

describe('EventBus', () => {
  test('each subscriber gets its topic in publish order, asynchronously', async () => {
    const bus = new EventBus<TestEvents>();
    const a: number[] = [];
    const b: number[] = [];
    const others: string[] = [];
    bus.subscribe('n', (n) => a.push(n));
    bus.subscribe('n', (n) => b.push(n));
    bus.subscribe('other', (s) => others.push(s));
    for (let i = 0; i < 10; i++) bus.publish('n', i);
    bus.publish('other', 'x');
    assert.deepEqual(a, [], 'delivery is not synchronous');
    await tick();
    assert.deepEqual(a, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(b, a);
    assert.deepEqual(others, ['x']);
    assert.equal(bus.stats().published, 11);
  });

  test('a full queue drops the oldest event and counts it as overflow', async () => {
    const counters: Array<[BusCounter, string]> = [];
    const bus = new EventBus<TestEvents>({ onCounter: (counter, topic) => counters.push([counter, topic]) });
    const got: number[] = [];
    bus.subscribe('n', (n) => got.push(n), { capacity: 4 });
    for (let i = 0; i < 7; i++) bus.publish('n', i);
    await tick();
    assert.deepEqual(got, [3, 4, 5, 6]);
    const stats = bus.stats();
    assert.deepEqual(stats.overflowDropped, { n: 3 });
    assert.deepEqual(stats.lagged, { n: 1 });
    assert.deepEqual(counters, [
      ['lagged', 'n'],
      ['overflow_dropped', 'n'],
      ['overflow_dropped', 'n'],
      ['overflow_dropped', 'n'],
    ]);
  });

  test('a partitioned bus (faults.dropAll) delivers nothing, counts each missed event as overflow, and carries events again once cleared', async () => {
    const counted: Array<[BusCounter, string]> = [];
    const bus = new EventBus<TestEvents>({ onCounter: (c, t) => counted.push([c, t]) });
    const a: number[] = [];
    const b: number[] = [];
    bus.subscribe('n', (n) => a.push(n));
    bus.subscribe('n', (n) => b.push(n));
    bus.faults.dropAll = true;
    bus.publish('n', 1);
    bus.publish('n', 2);
    bus.publish('other', 'nobody listens');
    await tick();
    assert.deepEqual([a, b], [[], []]);
    assert.equal(bus.faults.dropped, 4, 'two events missed by two subscribers');
    assert.deepEqual(bus.stats().overflowDropped, { n: 4 });
    assert.equal(counted.length, 4);
    bus.faults.clear();
    bus.publish('n', 3);
    await tick();
    assert.deepEqual([a, b], [[3], [3]], 'what was dropped stays dropped');
  });

  test('lag is counted once per episode: past half capacity, until the queue empties', async () => {
    const bus = new EventBus<TestEvents>();
    bus.subscribe('n', () => {}, { capacity: 8 });
    for (let i = 0; i < 4; i++) bus.publish('n', i);
    await tick();
    assert.deepEqual(bus.stats().lagged, {}, 'exactly half is not lagging');
    for (let i = 0; i < 7; i++) bus.publish('n', i);
    assert.deepEqual(bus.stats().lagged, { n: 1 });
    await tick();
    for (let i = 0; i < 6; i++) bus.publish('n', i);
    await tick();
    assert.deepEqual(bus.stats().lagged, { n: 2 }, 'a new burst is a new episode');
    assert.deepEqual(bus.stats().overflowDropped, {});
  });

  test('a slow consumer only costs its own queue', async () => {
    const bus = new EventBus<TestEvents>();
    const fast: number[] = [];
    const small: number[] = [];
    bus.subscribe('n', (n) => fast.push(n));
    bus.subscribe('n', (n) => small.push(n), { capacity: 2 });
    for (let i = 0; i < 5; i++) bus.publish('n', i);
    await tick();
    assert.deepEqual(fast, [0, 1, 2, 3, 4]);
    assert.deepEqual(small, [3, 4]);
  });

  test('events published by a handler come in a later batch, in order', async () => {
    const bus = new EventBus<TestEvents>();
    const got: number[] = [];
    bus.subscribe('n', (n) => {
      got.push(n);
      if (n < 3) bus.publish('n', n + 10);
    });
    bus.publish('n', 0);
    bus.publish('n', 1);
    await tick();
    assert.deepEqual(got, [0, 1, 10, 11]);
  });

  test('unsubscribe stops delivery, including what was already queued', async () => {
    const bus = new EventBus<TestEvents>();
    const got: number[] = [];
    const off = bus.subscribe('n', (n) => got.push(n));
    bus.publish('n', 1);
    off();
    bus.publish('n', 2);
    await tick();
    assert.deepEqual(got, []);
  });

  test('a throwing handler is counted and does not stop delivery', async () => {
    const errors: string[] = [];
    const bus = new EventBus<TestEvents>({ onHandlerError: (error, topic) => errors.push(`${topic}: ${(error as Error).message}`) });
    const got: number[] = [];
    bus.subscribe('n', (n) => {
      if (n === 1) throw new Error('bad handler');
      got.push(n);
    });
    for (let i = 0; i < 3; i++) bus.publish('n', i);
    await tick();
    assert.deepEqual(got, [0, 2]);
    assert.deepEqual(errors, ['n: bad handler']);
    assert.equal(bus.stats().handlerErrors, 1);
  });

  test('the mailbox events type checks payloads, and bare topics need none', async () => {
    const bus = new EventBus<MailboxEvents>();
    const seen: string[] = [];
    bus.subscribe('ShardCrashed', ({ shard, reason }) => seen.push(`${shard}:${reason}`));
    bus.subscribe('Stopped', () => seen.push('stopped'));
    bus.publish('ShardCrashed', { shard: 3, reason: 'boom' });
    bus.publish('Stopped');
    // @ts-expect-error ShardCrashed needs a payload
    bus.publish('ShardCrashed');
    // @ts-expect-error unknown topic
    bus.publish('Nope', 1);
    await tick();
    assert.deepEqual(seen.slice(0, 2), ['3:boom', 'stopped']);
  });
});
