/**
 * The hot tenant of workload fair, as a child process of the bench (bench/fair.ts starts it
 * over IPC): its client CPU then runs on its own event loop, not inside the calm tenant's
 * client, whose latencies are what is measured.
 *
 * One producer tries `rate` SENDs/s (paced by the 1 ms timer, as workload B) and ignores the
 * refusals (E_SATURATED from its quota: the point of it); it does not back off by
 * retryAfterMs, but never has more than `maxInflight` SENDs unanswered (a send due while the
 * cap is full is skipped and counted). One consumer, subscribed with a wide prefetch, acks
 * everything it gets. On 'stop' it stops sending, waits for every admitted message to arrive
 * and be acked, and answers with its counts.
 *
 * Messages: parent → child `{ type: 'start', … }` then `{ type: 'stop' }`;
 * child → parent `{ type: 'running' }` then `{ type: 'done', stats }` (or `{ type: 'failed', error }`).
 */
import { MailboxClient, MailboxError } from '../src/client/index.ts';
import { deadline, makePayload, now, paced, sleep } from './lib.ts';

export interface HotStart {
  type: 'start';
  url: string;
  token: string;
  tenant: string;
  topic: string;
  rate: number;
  payload: number;
  maxInflight: number;
  prefetch: number;
  drainTimeoutMs: number;
}

export interface HotStats {
  offered: number;
  admitted: number;
  refused: number;
  skipped: number;
  otherErrors: number;
  firstError?: string;
  received: number;
  producingSeconds: number;
  /** From the first send to the last answer: the quota may admit SENDs a held-off connection sent earlier until then. */
  answeredSeconds: number;
}

export type HotMessage = { type: 'running' } | { type: 'done'; stats: HotStats } | { type: 'failed'; error: string };

function post(m: HotMessage): Promise<void> {
  return new Promise((resolve) => process.send!(m, undefined, {}, () => resolve()));
}

async function run(cfg: HotStart, stopped: Promise<void>): Promise<HotStats> {
  const opts = { token: cfg.token, tenant: cfg.tenant, reconnect: false, maxInflight: 100_000 } as const;
  const producer = await MailboxClient.connect(cfg.url, { ...opts, clientName: 'bench-hot-producer' });
  const consumer = await MailboxClient.connect(cfg.url, { ...opts, clientName: 'bench-hot-consumer' });
  let received = 0;
  let acksIssued = 0;
  let acksSettled = 0;
  const settled = (): void => void acksSettled++;
  const sub = consumer.subscribe({ topic: cfg.topic, prefetch: cfg.prefetch, visibilityMs: 60_000 }, (d) => {
    received++;
    acksIssued++;
    d.ack().then(settled, settled);
  });
  await sub.ready;

  const s: HotStats = { offered: 0, admitted: 0, refused: 0, skipped: 0, otherErrors: 0, received: 0, producingSeconds: 0, answeredSeconds: 0 };
  let inflight = 0;
  let stopping = false;
  void stopped.then(() => (stopping = true));
  const tag = `hot${process.pid.toString(36)}${Date.now().toString(36)}`;
  const admitted = (): void => {
    inflight--;
    s.admitted++;
  };
  const refused = (err: unknown): void => {
    inflight--;
    if (err instanceof MailboxError && err.code === 'E_SATURATED') s.refused++;
    else {
      s.otherErrors++;
      s.firstError ??= err instanceof Error ? err.message : String(err);
    }
  };
  await post({ type: 'running' });
  const t0 = now();
  // An hour at most: the parent says stop long before.
  await paced(cfg.rate, 3600, (seq) => {
    if (inflight >= cfg.maxInflight) {
      s.skipped++;
      return;
    }
    inflight++;
    s.offered++;
    producer.send({ topic: cfg.topic, idemKey: `${tag}-${seq}`, payload: makePayload(seq, cfg.payload) }).then(admitted, refused);
  }, () => stopping);
  s.producingSeconds = (now() - t0) / 1000;

  // Drain: every answer back, every admitted message received and acked, then the sockets closed.
  const drained = async (): Promise<void> => {
    while (inflight > 0) await sleep(10);
    s.answeredSeconds = (now() - t0) / 1000;
    while (received < s.admitted || acksSettled < acksIssued) await sleep(10);
  };
  await deadline(drained(), cfg.drainTimeoutMs, `hot tenant draining (${received}/${s.admitted} received)`).catch((err: Error) => {
    s.firstError ??= err.message;
  });
  await consumer.ping();
  s.received = received;
  await sub.close();
  await Promise.all([producer.close(), consumer.close()]);
  return s;
}

// The bench went away (killed, Ctrl-C): so does its hot tenant.
process.once('disconnect', () => process.exit(1));
process.once('message', (m: HotStart) => {
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  process.on('message', (x: { type?: string }) => x.type === 'stop' && stop());
  run(m, stopped).then(
    async (stats) => {
      await post({ type: 'done', stats });
      process.exit(0);
    },
    async (err: unknown) => {
      await post({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
      process.exit(1);
    },
  );
});
