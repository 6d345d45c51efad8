/**
 * RabbitMQ (the machine's broker on 127.0.0.1:5672, guest/guest), as bench-rabbitmq.mjs:
 * a durable queue per run (classic, or `x-queue-type: quorum`), persistent messages through
 * a ConfirmChannel with a window of unconfirmed publishes (socket back-pressure honoured),
 * basic.consume with prefetch 1000 and one manual ack per message; the end barrier is a
 * checkQueue RPC on the consumer channel. Confirms come after fsync for both queue types.
 */
import amqp from 'amqplib';
import { sleep } from '../lib.ts';
import { pidListening, runPeerLoad, uniqueName, type PeerGroup, type PeerSession } from './common.ts';

const URL = 'amqp://guest:guest@127.0.0.1:5672';
const PREFETCH = 1000;

interface RabbitEnv {
  serverPid: number | undefined;
  version: string;
}

type QueueType = 'classic' | 'quorum';

async function session(workload: string, qtype: QueueType, env: RabbitEnv): Promise<PeerSession> {
  const queue = uniqueName(`bench.${workload}.${qtype}`);
  const pconn = await amqp.connect(URL);
  const cconn = await amqp.connect(URL);
  const pch = await pconn.createConfirmChannel();
  await pch.assertQueue(queue, { durable: true, arguments: qtype === 'quorum' ? { 'x-queue-type': 'quorum' } : {} });
  const cch = await cconn.createChannel();
  await cch.prefetch(PREFETCH);
  let consumerTag: string | undefined;
  let writable: Promise<void> | undefined;
  let drainWaits = 0;
  const info: Record<string, unknown> = { server: env.version, prefetch: PREFETCH };
  return {
    info,
    publish: (_seq, payload) => new Promise<void>((resolve, reject) => {
      const ok = pch.publish('', queue, payload, { persistent: true }, (err: unknown) => (err ? reject(new Error('publish nacked')) : resolve()));
      if (!ok) {
        drainWaits++;
        info.drainWaits = drainWaits;
        writable = new Promise<void>((r) => pch.once('drain', () => {
          writable = undefined;
          r();
        }));
      }
    }),
    writable: () => writable,
    consume: async (record) => {
      ({ consumerTag } = await cch.consume(queue, (msg) => {
        if (!msg) return;
        record(msg.content);
        cch.ack(msg);
      }, { noAck: false }));
    },
    barrier: async () => {
      await cch.checkQueue(queue);
    },
    verify: async () => {
      if (consumerTag) await cch.cancel(consumerTag);
      await sleep(200);
      await cch.close(); // anything still unacked would now be requeued
      const after = await pch.checkQueue(queue);
      return { messagesLeft: after.messageCount };
    },
    close: async () => {
      await pch.deleteQueue(queue).catch(() => {});
      await pconn.close().catch(() => {});
      await cconn.close().catch(() => {});
    },
  };
}

export function rabbitGroup(types: QueueType[]): PeerGroup<RabbitEnv> {
  return {
    name: `rabbitmq (machine broker :5672: ${types.join(', ')})`,
    setup: async () => {
      const c = await amqp.connect(URL);
      const props = (c as unknown as { connection: { serverProperties?: { version?: unknown } } }).connection.serverProperties;
      const version = String(props?.version ?? '?');
      await c.close();
      return { serverPid: pidListening(5672), version };
    },
    teardown: async () => {},
    variants: types.map((qtype) => ({
      system: 'rabbitmq',
      variant: qtype,
      run: async (env, workload, run, opts, progress) =>
        runPeerLoad({ system: 'rabbitmq', variant: qtype, serverPid: env.serverPid }, await session(workload, qtype, env), workload, run, opts, progress),
    })),
  };
}
