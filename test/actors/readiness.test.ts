import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createActor, SimulatedClock } from 'xstate';
import {
  acceptsReads,
  acceptsWrites,
  connectReadiness,
  readinessMachine,
  readinessReport,
  type ReadinessInput,
} from '../../actors/readiness.ts';
import { EventBus } from '../../src/bus/bus.ts';
import type { MailboxEvents } from '../../src/bus/events.ts';

function start(input: ReadinessInput = { shards: 2 }) {
  const clock = new SimulatedClock();
  const actor = createActor(readinessMachine, { input, clock }).start();
  const state = () => actor.getSnapshot().value;
  const report = () => readinessReport(actor.getSnapshot());
  return { actor, clock, state, report };
}

function boot(actor: ReturnType<typeof start>['actor'], shards = 2) {
  actor.send({ type: 'ConfigLoaded' });
  actor.send({ type: 'StoreUp' });
  actor.send({ type: 'ListenerBound', addr: '127.0.0.1:9410' });
  for (let shard = 0; shard < shards; shard++) actor.send({ type: 'ShardUp', shard });
}

describe('readiness gate', () => {
  test('boots to ready once config, store, listener and every shard are up', () => {
    const { actor, state, report } = start({ shards: 2 });
    assert.deepEqual(report(), {
      state: 'booting',
      ready: false,
      reasons: ['waiting for config', 'waiting for store', 'waiting for listener', 'waiting for shards: 0/2 up'],
    });
    actor.send({ type: 'ConfigLoaded' });
    actor.send({ type: 'StoreUp' });
    actor.send({ type: 'ShardUp', shard: 0 });
    actor.send({ type: 'ShardUp', shard: 0 });
    assert.equal(state(), 'booting');
    assert.deepEqual(report().reasons, ['waiting for listener', 'waiting for shards: 1/2 up']);
    actor.send({ type: 'ListenerBound', addr: '127.0.0.1:9410' });
    actor.send({ type: 'ShardUp', shard: 1 });
    assert.deepEqual(report(), { state: 'ready', ready: true, reasons: [] });
    assert.equal(acceptsWrites(actor.getSnapshot()), true);
    assert.equal(acceptsReads(actor.getSnapshot()), true);
  });

  test('the embedded runtime needs no listener', () => {
    const { actor, state } = start({ shards: 1, required: ['config', 'store', 'shards'] });
    actor.send({ type: 'ConfigLoaded' });
    actor.send({ type: 'StoreUp' });
    actor.send({ type: 'ShardUp', shard: 0 });
    assert.equal(state(), 'ready');
  });

  test('a single shard crash after boot does not degrade', () => {
    const { actor, state } = start();
    boot(actor);
    actor.send({ type: 'ShardCrashed', shard: 1, reason: 'oops' });
    assert.equal(state(), 'ready');
  });

  test('a shard crashing repeatedly degrades, and recovers to ready after staying up quietly', () => {
    const { actor, clock, state, report } = start({ shards: 2 });
    boot(actor);
    for (let i = 0; i < 3; i++) {
      actor.send({ type: 'ShardCrashed', shard: 1, reason: `bad page ${i}` });
      clock.increment(1_000);
      actor.send({ type: 'ShardUp', shard: 1 });
    }
    assert.equal(state(), 'degraded');
    assert.deepEqual(report().reasons, ['shard-flapping: shard 1 (bad page 2)']);
    assert.equal(acceptsWrites(actor.getSnapshot()), false, 'degraded sheds writes');
    assert.equal(acceptsReads(actor.getSnapshot()), true, 'reads and acks go on');
    clock.increment(4_999);
    assert.equal(state(), 'degraded');
    actor.send({ type: 'ShardCrashed', shard: 1, reason: 'again' });
    clock.increment(1_000);
    actor.send({ type: 'ShardUp', shard: 1 });
    clock.increment(4_999);
    assert.equal(state(), 'degraded', 'a crash restarts the quiet period');
    clock.increment(1);
    assert.equal(state(), 'ready');
  });

  test('a resync takes the runtime\'s facts as they are, whatever edges the gate missed, and keeps the crash history', () => {
    const { actor, clock, state, report } = start({ shards: 2 });
    boot(actor);
    actor.send({ type: 'StorageFull', reason: 'ENOSPC' });
    assert.equal(state(), 'degraded');
    // StorageRecovered and an Overloaded edge were dropped on the way; the facts say what holds.
    const facts = { storeUp: true, listener: '127.0.0.1:9410', shardsUp: [0, 1], storageFull: null, overloaded: null };
    actor.send({ type: 'readiness.resync', facts });
    assert.deepEqual(report(), { state: 'ready', ready: true, reasons: [] });
    actor.send({ type: 'readiness.resync', facts: { ...facts, overloaded: 'event-loop delay p99 300 ms > 200 ms' } });
    assert.deepEqual(report().reasons, ['overload: event-loop delay p99 300 ms > 200 ms']);
    // Flapping is history: a resync does not clear it, but a shard it reports up starts the quiet period.
    actor.send({ type: 'readiness.resync', facts });
    for (let i = 0; i < 3; i++) actor.send({ type: 'ShardCrashed', shard: 1, reason: `bad page ${i}` });
    actor.send({ type: 'readiness.resync', facts: { ...facts, shardsUp: [0] } });
    assert.equal(state(), 'degraded');
    actor.send({ type: 'readiness.resync', facts }); // shard 1's ShardUp itself was dropped
    assert.deepEqual(report().reasons, ['shard-flapping: shard 1 (bad page 2)']);
    clock.increment(5_000);
    assert.equal(state(), 'ready', 'the quiet period ran from the resync that showed shard 1 up');
  });

  test('crashes spread wider than the flap window do not count as flapping', () => {
    const { actor, clock, state } = start({ shards: 1, flapWindowMs: 10_000 });
    boot(actor, 1);
    for (let i = 0; i < 5; i++) {
      actor.send({ type: 'ShardCrashed', shard: 0, reason: 'rare' });
      actor.send({ type: 'ShardUp', shard: 0 });
      clock.increment(5_001);
    }
    assert.equal(state(), 'ready');
  });

  test('storage full degrades, and ready returns when storage recovers', () => {
    const { actor, state, report } = start();
    boot(actor);
    actor.send({ type: 'StorageFull', reason: 'disk 98% used' });
    assert.equal(state(), 'degraded');
    assert.deepEqual(report().reasons, ['storage: full: disk 98% used']);
    actor.send({ type: 'Overloaded', reason: 'inflight 10000/10000' });
    assert.deepEqual(report().reasons, ['storage: full: disk 98% used', 'overload: inflight 10000/10000']);
    actor.send({ type: 'StorageRecovered' });
    assert.equal(state(), 'degraded');
    actor.send({ type: 'OverloadCleared' });
    assert.equal(state(), 'ready');
    actor.send({ type: 'StoreDown', reason: 'ECONNREFUSED' });
    assert.deepEqual(report(), { state: 'degraded', ready: false, reasons: ['storage: down: ECONNREFUSED'] });
    actor.send({ type: 'StoreUp' });
    assert.equal(state(), 'ready');
  });

  test('a cause active at boot goes straight to degraded', () => {
    const { actor, state } = start();
    actor.send({ type: 'Overloaded', reason: 'warming up' });
    boot(actor);
    assert.equal(state(), 'degraded');
  });

  test('drain refuses writes but serves reads, and Stopped ends the gate', () => {
    const { actor, state, report } = start();
    boot(actor);
    actor.send({ type: 'DrainRequested' });
    assert.deepEqual(report(), { state: 'draining', ready: false, reasons: ['draining'] });
    assert.equal(acceptsWrites(actor.getSnapshot()), false);
    assert.equal(acceptsReads(actor.getSnapshot()), true);
    actor.send({ type: 'StorageRecovered' });
    assert.equal(state(), 'draining', 'no way back from draining');
    actor.send({ type: 'Stopped' });
    assert.equal(state(), 'stopped');
    assert.equal(actor.getSnapshot().status, 'done');
    assert.equal(acceptsReads(actor.getSnapshot()), false);
  });

  test('DrainRequested while booting drains too', () => {
    const { actor, state } = start();
    actor.send({ type: 'DrainRequested' });
    assert.equal(state(), 'draining');
  });

  test('connectReadiness feeds the gate from the bus', async () => {
    const bus = new EventBus<MailboxEvents>();
    const { actor, state } = start({ shards: 1 });
    const disconnect = connectReadiness(bus, actor);
    bus.publish('ConfigLoaded');
    bus.publish('StoreUp');
    bus.publish('ListenerBound', { addr: '127.0.0.1:9410' });
    bus.publish('ShardUp', { shard: 0 });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(state(), 'ready');
    bus.publish('StorageFull', { reason: 'quota' });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(state(), 'degraded');
    disconnect();
    bus.publish('StorageRecovered');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(state(), 'degraded');
  });
});
