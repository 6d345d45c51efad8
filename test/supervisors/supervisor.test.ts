import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SeededRng, type Rng } from '../../src/domain/clock.ts';
import type { SupervisionConfig } from '../../src/config/config.ts';
import type { SupervisorEvent } from '../../supervisors/events.ts';
import { Supervisor, type Strategy } from '../../supervisors/supervisor.ts';
import { findNode } from '../../supervisors/tree.ts';
import { ChildFactory, FakeScheduler, settle, supervision } from './helpers.ts';
import type { ChildSpec } from '../../supervisors/child.ts';

function setup(strategy: Strategy, specs: (f: ChildFactory) => ChildSpec[], overrides: Partial<SupervisionConfig> = {}, rng: Rng = new SeededRng(7)) {
  const factory = new ChildFactory();
  const scheduler = new FakeScheduler();
  const events: SupervisorEvent[] = [];
  const supervisor = new Supervisor({
    id: 'root',
    strategy,
    supervision: { ...supervision, ...overrides },
    children: specs(factory),
    clock: scheduler.clock,
    rng,
    scheduler,
    onEvent: (event) => events.push(event),
  });
  return { factory, scheduler, events, supervisor };
}

describe('Supervisor', () => {
  test('one_for_one restarts only the crashed child', async () => {
    const { factory, scheduler, supervisor } = setup('one_for_one', (f) => [f.spec('a'), f.spec('b'), f.spec('c')]);
    await supervisor.start();
    const a = factory.current('a');
    const c = factory.current('c');
    factory.current('b').crash('disk on fire');
    assert.equal(findNode(supervisor.tree(), '/root/b')?.state, 'restarting');
    await scheduler.runNext();
    assert.deepEqual([factory.starts('a'), factory.starts('b'), factory.starts('c')], [1, 2, 1]);
    assert.equal(factory.current('a'), a);
    assert.equal(factory.current('c'), c);
    assert.equal(a.stopped || c.stopped, false);
    const b = findNode(supervisor.tree(), '/root/b');
    assert.equal(b?.state, 'running:serving');
    assert.equal(b?.restarts, 1);
    assert.equal(b?.lastCrash?.reason, 'disk on fire');
    assert.equal(b?.lastCrash?.at, 1_700_000_000_000, 'wall-clock time of the crash');
  });

  test('rest_for_one restarts the crashed child and the ones after it, not before', async () => {
    const { factory, scheduler, supervisor } = setup('rest_for_one', (f) => [f.spec('a'), f.spec('b'), f.spec('c'), f.spec('d')]);
    await supervisor.start();
    factory.log.length = 0;
    factory.current('b').crash();
    await scheduler.runNext();
    assert.deepEqual(factory.log, ['stop d', 'stop c', 'start b', 'start c', 'start d']);
    assert.equal(factory.starts('a'), 1);
    const tree = supervisor.tree();
    assert.deepEqual(
      tree.children?.map((n) => [n.path, n.state, n.restarts]),
      [
        ['/root/a', 'running:serving', 0],
        ['/root/b', 'running:serving', 1],
        ['/root/c', 'running:serving', 1],
        ['/root/d', 'running:serving', 1],
      ],
    );
  });

  test('a crash of an earlier child while a later one waits folds both into one restart', async () => {
    const { factory, scheduler, supervisor } = setup('rest_for_one', (f) => [f.spec('a'), f.spec('b'), f.spec('c')]);
    await supervisor.start();
    factory.current('c').crash();
    factory.current('a').crash();
    await settle();
    factory.log.length = 0;
    await scheduler.runAll();
    assert.deepEqual(factory.log, ['start a', 'start b', 'start c']);
    assert.equal(scheduler.pending, 0);
  });

  test('rest_for_one stops later temporary children and does not start them again', async () => {
    const { factory, scheduler, supervisor } = setup('rest_for_one', (f) => [f.spec('a'), f.spec('b'), f.spec('session-1', 'temporary', 'session')]);
    await supervisor.start();
    factory.log.length = 0;
    factory.current('a').crash();
    await scheduler.runAll();
    assert.deepEqual(factory.log, ['stop session-1', 'stop b', 'start a', 'start b']);
    assert.deepEqual(supervisor.tree().children?.map((n) => n.path), ['/root/a', '/root/b']);
  });

  test('a temporary child is not restarted and leaves the tree', async () => {
    const { factory, scheduler, supervisor, events } = setup('one_for_one', (f) => [f.spec('session-1', 'temporary', 'session')]);
    await supervisor.start();
    factory.current('session-1').crash('socket reset');
    await settle();
    assert.equal(scheduler.pending, 0);
    assert.equal(factory.starts('session-1'), 1);
    assert.deepEqual(supervisor.tree().children, []);
    const crashed = events.find((e) => e.type === 'childCrashed');
    assert.equal(crashed?.type === 'childCrashed' && crashed.willRestart, false);
  });

  test('a clean exit is not restarted, not even for a permanent child', async () => {
    const { factory, scheduler, supervisor, events } = setup('one_for_one', (f) => [f.spec('a'), f.spec('b', 'transient')]);
    await supervisor.start();
    factory.current('a').exitNormally();
    factory.current('b').exitNormally();
    await settle();
    assert.equal(scheduler.pending, 0);
    assert.deepEqual(supervisor.tree().children?.map((n) => [n.state, n.restarts]), [
      ['exited', 0],
      ['exited', 0],
    ]);
    assert.equal(events.filter((e) => e.type === 'childExited').length, 2);
  });

  test('a transient child is restarted after a crash', async () => {
    const { factory, scheduler, supervisor } = setup('one_for_one', (f) => [f.spec('t', 'transient')]);
    await supervisor.start();
    factory.current('t').crash();
    await scheduler.runNext();
    assert.equal(factory.starts('t'), 2);
  });

  test('restart delays fall in [base/2, min(cap, base·2^n)] and grow', async () => {
    const { factory, scheduler, supervisor, events } = setup('one_for_one', (f) => [f.spec('a')], { restartBaseMs: 100, restartMaxMs: 5_000 });
    await supervisor.start();
    const delays: number[] = [];
    for (let n = 0; n < 10; n++) {
      factory.current('a').crash(`crash ${n}`);
      delays.push(await scheduler.runNext());
    }
    delays.forEach((delay, n) => {
      assert.ok(delay >= 50, `delay ${n} = ${delay} below base/2`);
      assert.ok(delay <= Math.min(5_000, 100 * 2 ** n), `delay ${n} = ${delay} above its ceiling`);
    });
    const scheduled = events.flatMap((e) => (e.type === 'childCrashed' && e.delayMs !== undefined ? [e.delayMs] : []));
    assert.deepEqual(scheduled, delays);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    assert.ok(sum(delays.slice(-3)) > sum(delays.slice(0, 3)), `delays do not grow: ${delays.join(', ')}`);
  });

  test('backoff starts over after the child has been up quietly for resetAfterMs', async () => {
    const almostOne: Rng = { next: () => 0.99 };
    const { factory, scheduler, supervisor } = setup('one_for_one', (f) => [f.spec('a')], { resetAfterMs: 10_000 }, almostOne);
    await supervisor.start();
    const delays: number[] = [];
    for (let n = 0; n < 3; n++) {
      factory.current('a').crash();
      delays.push(await scheduler.runNext());
    }
    assert.deepEqual(delays, [99, 198, 396]);
    scheduler.clock.advance(9_999);
    factory.current('a').crash();
    assert.equal(await scheduler.runNext(), 792, 'not quiet long enough: the back-off keeps growing');
    scheduler.clock.advance(10_000);
    factory.current('a').crash();
    assert.equal(await scheduler.runNext(), 99);
  });

  test('too many restarts escalate to the parent, which applies its strategy; the dump shows it', async () => {
    const factory = new ChildFactory();
    const scheduler = new FakeScheduler();
    const events: SupervisorEvent[] = [];
    const options = { clock: scheduler.clock, rng: new SeededRng(3), scheduler, onEvent: (e: SupervisorEvent) => events.push(e) };
    let shardSupervisors = 0;
    const root = new Supervisor({
      id: 'root',
      strategy: 'rest_for_one',
      supervision,
      ...options,
      children: [
        factory.spec('store', 'permanent', 'store'),
        {
          id: 'shards',
          kind: 'supervisor',
          restart: 'permanent',
          start: () => {
            shardSupervisors += 1;
            return new Supervisor({
              id: 'shards',
              path: '/root/shards',
              strategy: 'one_for_one',
              supervision: { ...supervision, intensity: 2, periodMs: 10_000 },
              children: [factory.spec('shard-0', 'permanent', 'shard'), factory.spec('shard-1', 'permanent', 'shard')],
              ...options,
            }).start();
          },
        },
        factory.spec('dlq', 'permanent', 'dlq'),
      ],
    });
    await root.start();
    for (let i = 0; i < 2; i++) {
      factory.current('shard-1').crash(`bad page ${i}`);
      await scheduler.runNext();
    }
    factory.current('shard-1').crash('bad page 2');
    await settle();
    const escalated = events.find((e) => e.type === 'escalated');
    assert.deepEqual(escalated, {
      type: 'escalated',
      supervisor: '/root/shards',
      reason: 'escalated: child shard-1 crashed 3 times in 10000 ms: bad page 2',
    });
    assert.ok(factory.current('shard-0').stopped, 'the escalating supervisor stops its children');
    assert.ok(factory.current('dlq').stopped, 'rest_for_one: the parent stops the children after it');
    assert.equal(factory.current('store').stopped, false);
    await scheduler.runAll();
    assert.equal(shardSupervisors, 2);
    assert.deepEqual([factory.starts('store'), factory.starts('shard-0'), factory.starts('shard-1'), factory.starts('dlq')], [1, 2, 4, 2]);
    const shards = findNode(root.tree(), '/root/shards');
    assert.equal(shards?.kind, 'supervisor');
    assert.equal(shards?.state, 'running');
    assert.equal(shards?.restarts, 1);
    assert.equal(shards?.lastCrash?.reason, 'escalated: child shard-1 crashed 3 times in 10000 ms: bad page 2');
    assert.deepEqual(shards?.children?.map((n) => [n.path, n.restarts]), [
      ['/root/shards/shard-0', 0],
      ['/root/shards/shard-1', 0],
    ]);
    assert.deepEqual(findNode(root.tree(), '/root/shards/shard-1')?.depths, { ready: 4, leased: 0, delayed: 0, dlq: 0 });
  });

  test('the root escalating reports to onEscalate after stopping its children', async () => {
    const factory = new ChildFactory();
    const scheduler = new FakeScheduler();
    const escalations: string[] = [];
    const root = new Supervisor({
      id: 'root',
      strategy: 'one_for_one',
      supervision: { ...supervision, intensity: 0 },
      children: [factory.spec('a'), factory.spec('b')],
      clock: scheduler.clock,
      scheduler,
      onEscalate: (e) => escalations.push(`${e.path} ${e.reason}`),
    });
    await root.start();
    factory.current('a').crash('oops');
    await settle();
    assert.deepEqual(escalations, ['/root escalated: child a crashed 1 time in 60000 ms: oops']);
    assert.equal(root.status, 'crashed');
    assert.equal(root.tree().lastCrash?.reason, 'escalated: child a crashed 1 time in 60000 ms: oops');
    assert.ok(factory.current('b').stopped);
    assert.equal(scheduler.pending, 0);
  });

  test('killPath crashes the node at that path, and unknown paths are E_NOT_FOUND', async () => {
    const factory = new ChildFactory();
    const scheduler = new FakeScheduler();
    const options = { clock: scheduler.clock, scheduler, supervision };
    const root = new Supervisor({
      id: 'root',
      strategy: 'one_for_one',
      ...options,
      children: [
        {
          id: 'shards',
          kind: 'supervisor',
          restart: 'permanent',
          start: () =>
            new Supervisor({ id: 'shards', path: '/root/shards', strategy: 'one_for_one', children: [factory.spec('shard-3', 'permanent', 'shard')], ...options }).start(),
        },
      ],
    });
    await root.start();
    root.killPath('/root/shards/shard-3', 'chaos drill');
    await scheduler.runAll();
    assert.equal(factory.starts('shard-3'), 2);
    assert.equal(findNode(root.tree(), '/root/shards/shard-3')?.lastCrash?.reason, 'chaos drill');
    assert.throws(() => root.killPath('/root/shards/shard-9'), { code: 'E_NOT_FOUND' });
    assert.throws(() => root.killPath('/elsewhere/x'), { code: 'E_NOT_FOUND' });
  });

  test('a child that fails to start during a restart counts as a crash and is retried', async () => {
    const scheduler = new FakeScheduler();
    const factory = new ChildFactory();
    const inner = factory.spec('a');
    let failures = 1;
    const supervisor = new Supervisor({
      id: 'root',
      strategy: 'one_for_one',
      supervision,
      clock: scheduler.clock,
      scheduler,
      children: [
        {
          ...inner,
          start: () => {
            if (factory.starts('a') === 1 && failures-- > 0) throw new Error('port in use');
            return inner.start();
          },
        },
      ],
    });
    await supervisor.start();
    factory.current('a').crash();
    await scheduler.runNext();
    assert.equal(findNode(supervisor.tree(), '/root/a')?.lastCrash?.reason, 'start failed: port in use');
    await scheduler.runNext();
    assert.equal(findNode(supervisor.tree(), '/root/a')?.state, 'running:serving');
    assert.equal(findNode(supervisor.tree(), '/root/a')?.restarts, 2);
  });

  test('a supervisor whose initial child fails to start stops the others and rejects', async () => {
    const factory = new ChildFactory();
    const supervisor = new Supervisor({
      id: 'root',
      strategy: 'rest_for_one',
      supervision,
      children: [factory.spec('a'), { id: 'b', kind: 'store', restart: 'permanent', start: () => Promise.reject(new Error('LOCK held')) }],
    });
    await assert.rejects(supervisor.start(), /could not start child b: LOCK held/);
    assert.ok(factory.current('a').stopped);
    assert.equal(supervisor.status, 'stopped');
  });

  test('a supervisor with 8,000 temporary children starts, dumps and terminates them', async () => {
    const { factory, supervisor } = setup('one_for_one', () => []);
    await supervisor.start();
    const starts: Promise<unknown>[] = [];
    for (let i = 0; i < 8_000; i++) starts.push(supervisor.startChild(factory.spec(`s-${i}`, 'temporary', 'session')));
    await Promise.all(starts);
    assert.equal(supervisor.size, 8_000);
    assert.equal(supervisor.tree().children?.length, 8_000);
    await assert.rejects(supervisor.startChild(factory.spec('s-1', 'temporary', 'session')), /already has a child s-1/);
    factory.current('s-42').exitNormally();
    assert.equal(await supervisor.terminateChild('s-43'), true);
    assert.ok(factory.current('s-43').stopped);
    assert.equal(await supervisor.terminateChild('s-43'), false);
    assert.equal(supervisor.size, 7_998);
    await supervisor.stop();
    assert.ok(factory.current('s-7999').stopped);
    assert.equal(supervisor.status, 'stopped');
  });
});
