/**
 * Workloads A, B and fan-out against a running svc-mailbox, over real WebSocket
 * connections with the SDK: producers and consumers are separate MailboxClients (separate
 * sockets) in this process, as the peers' producer and consumer are.
 *
 * The consumer's handler records the id and calls `ack()` without awaiting it, so the acks
 * of one DELIVER frame coalesce into one ACK_BATCH (as `consume()` + per-message `ack()`
 * does for NATS). End barrier: every id seen, every ack answered, then a PING on each
 * consumer connection.
 */
import { MailboxClient } from '../src/client/index.ts';
import {
  Tracker, Window, cpuEnd, cpuStart, deadline, makePayload, measuredFields, now, paced, percentiles, readSeq, readTs, sleep,
} from './lib.ts';
import { watchGc } from './gc.ts';
import type { MailboxServer } from './server.ts';
import type { BenchOptions, RunResult } from './types.ts';

const SEND_RETRIES = 5;

let runSeq = 0;
/** Unique per process and run: topics and idemKeys never collide with an earlier run. */
function tag(workload: string): string {
  return `${workload.toLowerCase()}${process.pid.toString(36)}${Date.now().toString(36)}${(runSeq++).toString(36)}`;
}

/** Who a run's clients are: a tenant and a token that acts for it (workload fair's calm tenant). */
export interface Identity {
  tenant: string;
  token: string;
}

/**
 * One SDK client of the bench: its own socket, no reconnect, a wide in-flight window; to `url`,
 * else the server's; as `as`, else with the server's token for the default tenant.
 */
export function connect(server: MailboxServer, name: string, onError?: (e: Error) => void, url = server.url, as?: Identity): Promise<MailboxClient> {
  return MailboxClient.connect(url, {
    token: as?.token ?? server.token, reconnect: false, clientName: name, maxInflight: 100_000, ...(as ? { tenant: as.tenant } : {}), ...(onError ? { onError } : {}),
  });
}

export async function mailboxLoad(
  server: MailboxServer, workload: 'A' | 'B', run: number, opts: BenchOptions, progress: (done: number, total: number) => void, as?: Identity,
): Promise<RunResult> {
  const runTag = tag(workload);
  const topics = Array.from({ length: Math.max(1, opts.topics) }, (_, i) => `bench.${runTag}.${i}`);
  const byDuration = workload === 'A' && opts.durationS !== undefined;
  const planned = workload === 'A' ? opts.count : Math.round(opts.rate * (opts.seconds + opts.warmupSeconds));
  const capacity = byDuration ? Math.ceil(opts.durationS! * 400_000) : planned;
  const tracker = new Tracker(byDuration ? capacity : planned, capacity);
  if (workload === 'B') tracker.latencyFrom = Math.round(opts.rate * opts.warmupSeconds);
  const errors: string[] = [];
  const onError = (e: Error): void => void (errors.length < 20 && errors.push(e.message));

  const producers = await Promise.all(Array.from({ length: opts.producers }, (_, i) => connect(server, `bench-producer-${i}`, onError, placed(server, 'producers', i), as)));
  const consumers = await Promise.all(Array.from({ length: opts.consumers }, (_, i) => connect(server, `bench-consumer-${i}`, onError, placed(server, 'consumers', i), as)));

  // ---- consumers ----
  let acksIssued = 0;
  let acksSettled = 0;
  let ackErrors = 0;
  let acksIdle: (() => void) | undefined;
  const onAcked = (): void => {
    if (++acksSettled === acksIssued && acksIdle) acksIdle();
  };
  const onAckFailed = (e: Error): void => {
    ackErrors++;
    onError(e);
    onAcked();
  };
  const subs = consumers.flatMap((c) => topics.map((topic) => c.subscribe({ topic, prefetch: opts.prefetch, visibilityMs: 60_000 }, (d) => {
    tracker.record(readSeq(d.payload), workload === 'B' ? readTs(d.payload) : undefined);
    acksIssued++;
    d.ack().then(onAcked, onAckFailed);
  })));
  await Promise.all(subs.map((s) => s.ready));
  const report = setInterval(() => progress(tracker.unique, tracker.expected), 200);
  report.unref();

  // ---- producers ----
  let pubErrors = 0;
  let sent = 0;
  const gcWatch = await watchGc(server.gcTotals);
  const redis0 = await server.backend?.counters();
  const c0 = cpuStart(server.pid, ...backendPids(server));
  const redisCpu0 = server.backend?.pid === undefined ? undefined : cpuStart(server.backend.pid);
  const t0 = now();
  const produce = async (client: MailboxClient, from: number, to: number, win: Window): Promise<void> => {
    const publish = (seq: number, tries = 0): void => {
      client.send({ topic: topics[seq % topics.length]!, idemKey: `${runTag}-${seq}`, payload: makePayload(seq, opts.payload) }).then(
        () => win.release(),
        (err: Error) => {
          pubErrors++;
          if (tries < SEND_RETRIES) setTimeout(() => publish(seq, tries + 1), 10);
          else {
            onError(err);
            win.release();
          }
        },
      );
    };
    if (workload === 'A') {
      for (let seq = from; seq < to; seq++) {
        if (byDuration && now() - t0 >= opts.durationS! * 1000) break;
        const w = win.acquire();
        if (w) await w;
        publish(seq);
        sent++;
      }
    }
    await win.drain();
  };
  const windows = producers.map(() => new Window(opts.window));
  let sendInfo: { sendSeconds?: number } = {};
  if (workload === 'A') {
    const per = Math.ceil(capacity / producers.length);
    await Promise.all(producers.map((p, i) => produce(p, i * per, Math.min(capacity, (i + 1) * per), windows[i]!)));
    if (byDuration) tracker.expect(sent);
  } else {
    // B: one paced stream, spread over the producers round-robin.
    sendInfo = await paced(opts.rate, opts.seconds + opts.warmupSeconds, (seq) => {
      const i = seq % producers.length;
      const win = windows[i]!;
      const go = (): void => {
        sent++;
        producers[i]!.send({ topic: topics[seq % topics.length]!, idemKey: `${runTag}-${seq}`, payload: makePayload(seq, opts.payload) })
          .then(() => win.release(), (err: Error) => (pubErrors++, onError(err), win.release()));
      };
      const w = win.acquire();
      return w ? w.then(go) : go();
    });
    await Promise.all(windows.map((w) => w.drain()));
  }
  const tProducerDone = now();
  try {
    await deadline(tracker.done, opts.timeoutS * 1000, `svc-mailbox ${server.variant} ${workload}: waiting for deliveries (${tracker.unique}/${tracker.expected})`);
    if (acksSettled < acksIssued) await new Promise<void>((r) => (acksIdle = r));
    await Promise.all(consumers.map((c) => c.ping()));
  } catch (err) {
    onError(err as Error);
  }
  const tEnd = now();
  const cpu = cpuEnd(c0);
  const redisCpuS = redisCpu0 ? cpuEnd(redisCpu0).serverCpuS : undefined;
  const redis1 = await server.backend?.counters();
  const gc = await gcWatch.stop();
  clearInterval(report);
  progress(tracker.unique, tracker.expected);

  // ---- verification (not timed) ----
  await Promise.all(subs.map((s) => s.close()));
  await Promise.all([...producers, ...consumers].map((c) => c.close()));
  await sleep(100);
  const depths = await server.depths();
  const total = tracker.expected;
  const stats = { ackErrors, ...(errors.length ? { errors } : {}) };
  return {
    system: 'svc-mailbox',
    variant: server.variant,
    workload,
    run,
    n: total,
    size: opts.payload,
    window: opts.window,
    cpu,
    ...(redis0 && redis1 ? {
      redis: {
        commandsPerMsg: perMsg(redis1.commands - redis0.commands, total),
        roundTripsPerMsg: perMsg(redis1.scripts - redis0.scripts, total),
        scriptUsPerMsg: perMsg(redis1.scriptUs - redis0.scriptUs, total),
        ...(redisCpuS === undefined ? {} : { serverCpuS: redisCpuS }),
      },
    } : {}),
    gc,
    ...measuredFields(workload, tracker, { n: total, t0, tProducerDone, tEnd, sendSeconds: sendInfo.sendSeconds }),
    pubErrors,
    serverAfter: { ready: depths.ready, leased: depths.leased, delayed: depths.delayed, dlq: depths.dlq },
    info: { producers: opts.producers, consumers: opts.consumers, topics: topics.length, prefetch: opts.prefetch, ...stats },
    ...(tracker.missing() > 0 || ackErrors > 0 ? { error: errors[0] ?? 'incomplete' } : {}),
  };
}

function perMsg(count: number, messages: number): number {
  return Math.round((count / messages) * 1000) / 1000;
}

/** Where client i of a role connects: a group's list in turn (bench/server-group.ts), else the one server. */
function placed(server: MailboxServer, role: 'producers' | 'consumers', i: number): string {
  const urls = server.urls?.[role];
  return urls?.length ? urls[i % urls.length]! : server.url;
}

/**
 * The processes besides the server whose CPU is the server's: a group's other servers, and the
 * Redis of a redis-store server when it runs here.
 */
function backendPids(server: MailboxServer): number[] {
  const pid = server.backend?.pid;
  return [...(server.otherPids ?? []), ...(pid === undefined ? [] : [pid])];
}

/**
 * Fan-out: 10,000 messages to 10,000 distinct topics in one `sendBatch` (the SDK splits it
 * into SEND_BATCH frames of ≤ 1,000 items), timed from the call to the last confirmation,
 * `reps` times. The messages stay queued (no consumer); the server is discarded afterwards.
 */
export async function mailboxFanout(server: MailboxServer, run: number, opts: BenchOptions, progress: (done: number, total: number) => void): Promise<RunResult> {
  const runTag = tag('f');
  const topics = Array.from({ length: opts.fanoutTopics }, (_, i) => `fan.${runTag}.${i}`);
  const client = await connect(server, 'bench-fanout', undefined, placed(server, 'producers', 0));
  const times: number[] = [];
  let pubErrors = 0;
  let firstError: string | undefined;
  const gcWatch = await watchGc(server.gcTotals);
  const c0 = cpuStart(server.pid, ...backendPids(server));
  for (let rep = 0; rep < opts.fanoutReps; rep++) {
    const inputs = topics.map((topic, i) => ({ topic, idemKey: `${runTag}-${rep}-${i}`, payload: makePayload(i, opts.fanoutPayload) }));
    const t = now();
    const results = await deadline(client.sendBatch(inputs), opts.timeoutS * 1000, 'fan-out round');
    times.push(now() - t);
    for (const r of results) {
      if (r instanceof Error) {
        pubErrors++;
        firstError ??= r.message;
      }
    }
    progress(rep + 1, opts.fanoutReps);
  }
  const cpu = cpuEnd(c0);
  const gc = await gcWatch.stop();
  const stats = client.stats();
  await client.close();
  const depths = await server.depths();
  return {
    system: 'svc-mailbox',
    variant: server.variant,
    workload: 'fanout',
    run,
    n: topics.length,
    size: opts.fanoutPayload,
    cpu,
    gc,
    fanoutMs: percentiles(times)!,
    pubErrors,
    serverAfter: { ready: depths.ready, leased: depths.leased, delayed: depths.delayed, dlq: depths.dlq },
    info: { reps: opts.fanoutReps, topics: topics.length, sendBatches: stats.sendBatches, framesSent: stats.framesSent, expectedReady: 'reps × topics per fan-out run, cumulative' },
    ...(pubErrors > 0 ? { error: `${pubErrors} sends failed: ${firstError}` } : {}),
  };
}
