import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { register as globalRegistry } from 'prom-client';
import { OVERFLOW_LABEL, queueLabel } from '../../src/observability/labels.ts';
import { GOLDEN_METRICS, REJECT_REASONS, createMetrics } from '../../src/observability/metrics.ts';

/** Sample lines (not comments) of one metric. */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

describe('metrics', () => {
  it('a fresh registry renders every golden metric from the first scrape', async () => {
    const text = await createMetrics().render();
    for (const name of GOLDEN_METRICS) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), `${name} missing`);
    }
    for (const reason of REJECT_REASONS) assert.ok(text.includes(`rejected_total{reason="${reason}"} 0`), reason);
    assert.ok(text.includes('integrity_fail_total{stage="ingress"} 0'));
    assert.ok(text.includes('integrity_fail_total{stage="egress"} 0'));
    assert.match(text, /^process_cpu_user_seconds_total /m, 'process default metrics without a prefix');
  });

  it('names exactly the golden metrics of the brief', () => {
    assert.deepEqual([...GOLDEN_METRICS].sort(), [
      'bus_lagged_total', 'bus_overflow_dropped_total', 'dlq_depth', 'dlq_writes_total', 'inflight_requests',
      'integrity_fail_total', 'queue_depth', 'rejected_total', 'request_latency_seconds', 'requests_total',
      'requeued_total', 'service_restarts_total', 'visibility_timeouts_total',
    ]);
  });

  it('two registries in one process do not collide and leave the global registry alone', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.rejected('quota');
    a.rejected('quota');
    b.rejected('storage');
    const textA = await a.render();
    const textB = await b.render();
    assert.ok(textA.includes('rejected_total{reason="quota"} 2'));
    assert.ok(textA.includes('rejected_total{reason="storage"} 0'));
    assert.ok(textB.includes('rejected_total{reason="quota"} 0'));
    assert.ok(textB.includes('rejected_total{reason="storage"} 1'));
    assert.equal(globalRegistry.getSingleMetric('rejected_total'), undefined);
  });

  it('counts requests with latency, inflight and per-queue events', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.inflight('ws', 1);
    m.request('ws', 'SEND', 200, 0.0003);
    m.request('ws', 'SEND', 200, 0.002);
    m.request('ws', 'SEND', 503, 0.001);
    m.requeued('user:42:inbox', 'nack');
    m.visibilityTimeout('user:43:inbox');
    m.dlqWrite('user:44:inbox');
    m.busOverflowDropped('ShardCrashed');
    m.integrityFail('egress');
    m.serviceRestart('root/shards/shard-3');
    const text = await m.render();
    assert.ok(text.includes('requests_total{route="ws",method="SEND",code="200"} 2'));
    assert.ok(text.includes('requests_total{route="ws",method="SEND",code="503"} 1'));
    assert.ok(text.includes('request_latency_seconds_count{route="ws",method="SEND"} 3'));
    assert.ok(text.includes('request_latency_seconds_bucket{le="0.0005",route="ws",method="SEND"} 1'));
    assert.ok(text.includes('inflight_requests{route="ws"} 1'));
    assert.ok(text.includes('requeued_total{queue="user",reason="nack"} 1'));
    assert.ok(text.includes('visibility_timeouts_total{queue="user"} 1'));
    assert.ok(text.includes('dlq_writes_total{queue="user"} 1'));
    assert.ok(text.includes('bus_overflow_dropped_total{topic="ShardCrashed"} 1'));
    assert.ok(text.includes('integrity_fail_total{stage="egress"} 1'));
    assert.ok(text.includes('service_restarts_total{actor="root/shards/shard-3"} 1'));
  });

  it('reads queue depths from the provider at scrape time, summing equal labels', async () => {
    const m = createMetrics({ defaultMetrics: false });
    let ready = 5;
    let calls = 0;
    m.setDepthProvider(() => {
      calls++;
      return [
        { queue: 'user:1:inbox', shard: 0, kind: 'ready', value: ready },
        { queue: 'user:2:inbox', shard: 0, kind: 'ready', value: 1 },
        { queue: 'user', shard: 1, kind: 'dlq', value: 2 },
        { queue: 'user', shard: 2, kind: 'dlq', value: 3 },
      ];
    });
    let text = await m.render();
    assert.equal(calls, 1, 'the provider runs once per scrape');
    assert.ok(text.includes('queue_depth{queue="user",shard="0",kind="ready"} 6'));
    assert.ok(text.includes('queue_depth{queue="user",shard="1",kind="dlq"} 2'));
    assert.ok(text.includes('dlq_depth{queue="user"} 5'));
    ready = 0;
    text = await m.render();
    assert.ok(text.includes('queue_depth{queue="user",shard="0",kind="ready"} 1'));
    m.setDepthProvider(undefined);
    text = await m.render();
    assert.deepEqual(samples(text, 'queue_depth'), [], 'series vanish with their provider');
  });

  it('caps distinct queue label values, folding the rest into "other"', async () => {
    const m = createMetrics({ defaultMetrics: false, labelCap: 8 });
    for (let i = 0; i < 100; i++) {
      m.dlqWrite(`class${i}:x`);
      m.requeued(`class${i}:x`, 'visibility');
    }
    const text = await m.render();
    const dlq = samples(text, 'dlq_writes_total');
    assert.equal(dlq.length, 9, '8 classes + other');
    assert.ok(dlq.includes('dlq_writes_total{queue="class0"} 1'));
    assert.ok(dlq.includes(`dlq_writes_total{queue="${OVERFLOW_LABEL}"} 92`));
    assert.equal(samples(text, 'requeued_total').filter((l) => l.includes('reason="visibility"')).length, 9);
  });

  it('caps the default queue label cardinality at 256', async () => {
    const m = createMetrics({ defaultMetrics: false });
    for (let i = 0; i < 1000; i++) m.visibilityTimeout(`tenant${i}:inbox`);
    assert.equal(samples(await m.render(), 'visibility_timeouts_total').length, 257);
  });

  it('queueLabel is the topic class cut to 64 characters', () => {
    assert.equal(queueLabel('user:42:inbox'), 'user');
    assert.equal(queueLabel('plain'), 'plain');
    assert.equal(queueLabel('x'.repeat(100) + ':1').length, 64);
    const once = queueLabel('y'.repeat(70));
    assert.equal(queueLabel(once), once);
  });

  it('preinit creates zero series for known queues, routes and actors', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.preinit({ queues: ['orders:1'], routes: [{ route: 'ws', method: 'RECV' }], actors: ['root/store'], busTopics: ['ShardUp'] });
    const text = await m.render();
    assert.ok(text.includes('requeued_total{queue="orders",reason="session_lost"} 0'));
    assert.ok(text.includes('dlq_writes_total{queue="orders"} 0'));
    assert.ok(text.includes('request_latency_seconds_count{route="ws",method="RECV"} 0'));
    assert.ok(text.includes('service_restarts_total{actor="root/store"} 0'));
    assert.ok(text.includes('bus_lagged_total{topic="ShardUp"} 0'));
  });

  it('exposes the Prometheus text content type', () => {
    assert.match(createMetrics({ defaultMetrics: false }).contentType, /^text\/plain; version=0\.0\.4/);
  });
});
