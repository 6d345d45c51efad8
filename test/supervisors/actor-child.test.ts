import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assign, createActor, createMachine, fromTransition, setup, type AnyActorRef } from 'xstate';
import { actorChild, crashable, InjectedCrash } from '../../supervisors/actor-child.ts';
import type { ChildExit, ChildSpec } from '../../supervisors/child.ts';
import type { SupervisorEvent } from '../../supervisors/events.ts';
import { Supervisor } from '../../supervisors/supervisor.ts';
import { findNode } from '../../supervisors/tree.ts';
import { FakeScheduler, settle, supervision } from './helpers.ts';

const shardMachine = createMachine({
  id: 'shard',
  initial: 'serving',
  context: { handled: 0 },
  states: {
    serving: {
      on: {
        work: { actions: assign({ handled: ({ context }) => context.handled + 1 }) },
        retire: 'retired',
        fail: { actions: () => { throw new Error('index corrupted'); } },
      },
    },
    retired: { type: 'final' },
  },
});

type CounterEvent = { type: 'inc' } | { type: 'explode' };
const counterLogic = fromTransition((count: number, event: CounterEvent) => {
  if (event.type === 'explode') throw new Error('counter exploded');
  return count + 1;
}, 0);

/** A machine that handles `$crash` itself rather than through `crashable`. */
const selfCrashingMachine = setup({
  types: { events: {} as { type: '$crash'; reason: string } },
}).createMachine({
  initial: 'idle',
  states: { idle: { on: { $crash: { actions: ({ event }) => { throw new Error(event.reason); } } } } },
});

function watch(actor: AnyActorRef): { exits: ChildExit[] } {
  const exits: ChildExit[] = [];
  actorChild(actor).onExit((exit) => exits.push(exit));
  return { exits };
}

describe('actorChild', () => {
  test('an actor that throws is a crash with the error message as reason', () => {
    const actor = createActor(shardMachine);
    const { exits } = watch(actor);
    actor.send({ type: 'fail' });
    assert.equal(exits.length, 1);
    assert.deepEqual({ ...exits[0], error: undefined }, { kind: 'crash', reason: 'index corrupted', error: undefined });
    assert.equal(actor.getSnapshot().status, 'error');
  });

  test('an actor that reaches a final state exits normally', () => {
    const actor = createActor(shardMachine);
    const { exits } = watch(actor);
    actor.send({ type: 'retire' });
    assert.deepEqual(exits, [{ kind: 'normal' }]);
  });

  test('kill crashes a crashable machine through the XState error path', () => {
    const actor = createActor(crashable(shardMachine));
    const { exits } = watch(actor);
    actor.send({ type: 'work' });
    assert.equal(actor.getSnapshot().context.handled, 1, 'the wrapped machine still works');
    const child = actorChild(actor);
    child.kill('chaos');
    assert.equal(actor.getSnapshot().status, 'error');
    assert.ok(actor.getSnapshot().error instanceof InjectedCrash);
    assert.equal(exits[0]?.kind === 'crash' && exits[0].reason, 'chaos');
  });

  test('kill crashes a crashable fromTransition reducer through the XState error path', () => {
    const actor = createActor(crashable(counterLogic));
    const child = actorChild(actor);
    const exits: ChildExit[] = [];
    child.onExit((exit) => exits.push(exit));
    actor.send({ type: 'inc' });
    assert.equal(actor.getSnapshot().context, 1);
    child.kill('chaos');
    assert.equal(actor.getSnapshot().status, 'error');
    assert.equal(exits[0]?.kind === 'crash' && exits[0].reason, 'chaos');
  });

  test('kill crashes a machine that handles $crash itself', () => {
    const actor = createActor(selfCrashingMachine);
    const child = actorChild(actor);
    const exits: ChildExit[] = [];
    child.onExit((exit) => exits.push(exit));
    child.kill('by hand');
    assert.equal(actor.getSnapshot().status, 'error');
    assert.equal(exits[0]?.kind === 'crash' && exits[0].reason, 'by hand');
  });

  test('kill of logic that ignores $crash is still reported as a crash', () => {
    const actor = createActor(shardMachine);
    const child = actorChild(actor);
    const exits: ChildExit[] = [];
    child.onExit((exit) => exits.push(exit));
    child.kill('ignored');
    assert.equal(exits.length, 1);
    assert.equal(exits[0]?.kind === 'crash' && exits[0].reason, 'ignored');
    assert.equal(actor.getSnapshot().status, 'stopped');
  });

  test('a stop asked for is not reported as a crash', () => {
    const actor = createActor(shardMachine);
    const child = actorChild(actor);
    const exits: ChildExit[] = [];
    child.onExit((exit) => exits.push(exit));
    child.stop();
    assert.deepEqual(exits, [{ kind: 'normal' }]);
  });
});

describe('Supervisor with XState actors', () => {
  test('killPath crashes real XState actors (machine and fromTransition) and they are restarted', async () => {
    const scheduler = new FakeScheduler();
    const events: SupervisorEvent[] = [];
    const actors = new Map<string, AnyActorRef[]>();
    const track = (id: string, actor: AnyActorRef): AnyActorRef => {
      actors.set(id, [...(actors.get(id) ?? []), actor]);
      return actor;
    };
    const specs: ChildSpec[] = [
      { id: 'shard-0', kind: 'shard', restart: 'permanent', start: () => actorChild(track('shard-0', createActor(crashable(shardMachine)))) },
      {
        id: 'counter',
        kind: 'worker',
        restart: 'permanent',
        start: () =>
          actorChild(track('counter', createActor(crashable(counterLogic))), {
            describe: (snapshot) => ({ state: `count=${(snapshot as unknown as { context: number }).context}` }),
          }),
      },
    ];
    const root = new Supervisor({
      id: 'root',
      strategy: 'one_for_one',
      supervision,
      children: specs,
      clock: scheduler.clock,
      scheduler,
      onEvent: (event) => events.push(event),
    });
    await root.start();
    assert.equal(findNode(root.tree(), '/root/shard-0')?.state, 'running:serving');
    assert.equal(findNode(root.tree(), '/root/counter')?.state, 'running:count=0');

    for (const id of ['shard-0', 'counter']) {
      const first = actors.get(id)?.[0];
      root.killPath(`/root/${id}`, `drill ${id}`);
      assert.equal(first?.getSnapshot().status, 'error', `${id} failed as a real failure would`);
      await scheduler.runNext();
      const second = actors.get(id)?.[1];
      assert.equal(second?.getSnapshot().status, 'active', `${id} restarted`);
      const node = findNode(root.tree(), `/root/${id}`);
      assert.equal(node?.restarts, 1);
      assert.equal(node?.lastCrash?.reason, `drill ${id}`);
    }
    const crashes = events.flatMap((e) => (e.type === 'childCrashed' ? [`${e.path}: ${e.reason}`] : []));
    assert.deepEqual(crashes, ['/root/shard-0: drill shard-0', '/root/counter: drill counter']);

    // A bug, not a drill: the same path.
    actors.get('counter')?.[1]?.send({ type: 'explode' });
    await scheduler.runNext();
    assert.equal(findNode(root.tree(), '/root/counter')?.lastCrash?.reason, 'counter exploded');
    await root.stop();
    assert.equal(actors.get('shard-0')?.[1]?.getSnapshot().status, 'stopped');
    await settle();
  });

  test('a supervisor with 8,000 temporary XState session actors starts and stops them all', async () => {
    const sessions = new Supervisor({ id: 'sessions', path: '/root/sessions', strategy: 'one_for_one', supervision });
    await sessions.start();
    const sessionLogic = crashable(counterLogic);
    const refs: AnyActorRef[] = [];
    const starts: Promise<unknown>[] = [];
    for (let i = 0; i < 8_000; i++) {
      starts.push(
        sessions.startChild({
          id: `session-${i}`,
          kind: 'session',
          restart: 'temporary',
          start: () => {
            const ref = createActor(sessionLogic);
            refs.push(ref);
            return actorChild(ref);
          },
        }),
      );
    }
    await Promise.all(starts);
    assert.equal(sessions.size, 8_000);
    sessions.killPath('/root/sessions/session-7', 'socket reset');
    assert.equal(sessions.size, 7_999, 'a crashed session is gone, not restarted');
    await sessions.stop();
    // A stopped fromTransition actor keeps status 'active' in its snapshot; it ignores events.
    for (const ref of [refs[0], refs[3_999], refs[7_999]]) {
      const before = ref?.getSnapshot().context;
      ref?.send({ type: 'inc' });
      assert.equal(ref?.getSnapshot().context, before);
    }
  });
});
