/**
 * The partition drill, short: the bus drops every event (bus.faults, in process) for 1.5 s while
 * producers, consumers and shard crashes go on; the promise asserted in detail.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DLQ_BOUND, partitionKept, runPartition, type PartitionOptions } from '../../chaos/partition.drill.ts';
import { waitUntil } from '../../chaos/inspect.ts';
import { chaosConfig, chaosRuntime } from '../../chaos/workload.ts';
import { createMailbox } from '../../src/index.ts';

test('a bus that drops every event for a while: SENDs and deliveries go on, readiness holds, the drops are counted, events flow again, nothing lost, no DLQ explosion', { timeout: 120_000 }, async (t) => {
  const o: PartitionOptions = { messages: 10_000, partitionMs: 1_500, killEveryMs: 250, shards: 8, maxAttempts: 5, seed: 5, log: (l) => t.diagnostic(l) };
  const r = await runPartition(o);
  t.diagnostic(JSON.stringify({ ...r, samples: undefined }));
  const why = r.samples.join('; ');
  assert.ok(r.settled, 'every shard ended empty');
  assert.equal(r.accepted, o.messages, 'every SEND was accepted');
  assert.ok(r.acceptedDuring > 0, 'SENDs were accepted while the bus was down');
  assert.ok(r.ackedDuring > 0, 'deliveries were ACKed while the bus was down');
  assert.ok(r.shardKills > 0, 'shards crashed during the partition');
  assert.equal(r.readinessDuring, 'ready', 'readiness saw none of it and held its state');
  assert.ok(r.dropped > 0, 'the partition dropped events');
  assert.ok(r.overflowMetric >= r.dropped, `bus_overflow_dropped_total rose by ${r.overflowMetric} for ${r.dropped} drops`);
  assert.ok(r.busResumed, 'after the partition a ShardUp reached a subscriber again');
  assert.ok(r.readyAfter, 'readiness is ready after the partition');
  assert.equal(r.lost, 0, `accepted messages neither ACKed nor dead-lettered: ${why}`);
  assert.equal(r.orphans, 0, why);
  assert.equal(r.afterAck, 0, `deliveries after a successful ACK: ${why}`);
  assert.ok(r.dlq <= o.messages * DLQ_BOUND, `${r.dlq} dead-lettered`);
  assert.ok(partitionKept(r, o.messages));
});

// Found by this drill: the readiness gate only hears edges (StorageFull, StorageRecovered,
// ShardUp…); a dropped event now makes the runtime send it its facts (readiness.resync).
test('a StorageRecovered dropped by a partition does not leave readiness degraded for ever', { timeout: 30_000 }, async () => {
  const mb = await createMailbox(chaosConfig({ shards: 2, maxAttempts: 5 }), chaosRuntime());
  try {
    const s = mb.openSession();
    mb.store.faults.failWrites = 'full';
    await s.send({ topic: 'p:a', idemKey: 'full', payload: new Uint8Array(1) }).catch(() => {});
    assert.ok(await waitUntil(() => mb.readiness().state === 'degraded', 5_000), 'degraded for storage');
    mb.bus.faults.dropAll = true;
    mb.store.faults.clear();
    // The store recovers while the bus is down (its recovery probe succeeds; the event is dropped).
    assert.ok(await waitUntil(() => (mb.bus.stats().overflowDropped.StorageRecovered ?? 0) > 0, 5_000), 'StorageRecovered was dropped');
    mb.bus.faults.clear();
    // The resync follows the drop by READINESS_RESYNC_DELAY_MS; the wait only bounds a failure.
    assert.ok(await waitUntil(() => mb.readiness().state === 'ready', 10_000), `still ${JSON.stringify(mb.readiness())}`);
  } finally {
    mb.bus.faults.clear();
    await mb.stop();
  }
});
