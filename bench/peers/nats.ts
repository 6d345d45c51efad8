/**
 * NATS JetStream (the machine's nats-server on 127.0.0.1:4222, file store): a WorkQueue
 * stream with R1 per run, `js.publish()` with a window of unconfirmed PubAcks, a durable pull
 * consumer with explicit ack read by `consume({max_messages: 1000})`, one `ack()` per
 * message, `flush()` on the consumer connection as the end barrier (bench-nats.mjs).
 * Note: a PubAck on this server comes before fsync (see RESULTS.md).
 */
import { AckPolicy, RetentionPolicy, StorageType, connect, type NatsConnection } from 'nats';
import { sleep } from '../lib.ts';
import { pidListening, runPeerLoad, uniqueName, type PeerGroup, type PeerSession } from './common.ts';

const HOST = '127.0.0.1';
const PORT = 4222;
const BATCH = 1000;
const MAX_ACK_PENDING = 1000;

interface NatsEnv {
  serverPid: number | undefined;
  version: string;
}

async function session(workload: string, env: NatsEnv): Promise<PeerSession> {
  const stream = uniqueName(`BENCH_${workload}`);
  const subject = `bench.${stream.toLowerCase()}`;
  const pub: NatsConnection = await connect({ servers: `${HOST}:${PORT}`, name: 'bench-producer' });
  const sub: NatsConnection = await connect({ servers: `${HOST}:${PORT}`, name: 'bench-consumer' });
  const jsm = await pub.jetstreamManager();
  await jsm.streams.add({ name: stream, subjects: [subject], retention: RetentionPolicy.Workqueue, storage: StorageType.File, num_replicas: 1 });
  await jsm.consumers.add(stream, { durable_name: 'worker', ack_policy: AckPolicy.Explicit, max_ack_pending: MAX_ACK_PENDING, ack_wait: 30_000_000_000 });
  const js = pub.jetstream();
  const consumer = await sub.jetstream().consumers.get(stream, 'worker');
  let stop: (() => void) | undefined;
  return {
    info: { server: env.version, batch: BATCH, maxAckPending: MAX_ACK_PENDING },
    publish: (_seq, payload) => js.publish(subject, payload),
    consume: async (record) => {
      const msgs = await consumer.consume({ max_messages: BATCH });
      stop = () => void msgs.stop();
      void (async () => {
        for await (const m of msgs) {
          record(m.data);
          m.ack();
        }
      })();
    },
    barrier: async () => {
      stop?.();
      await sub.flush();
    },
    verify: async () => {
      await sleep(200);
      const ci = await jsm.consumers.info(stream, 'worker');
      const si = await jsm.streams.info(stream);
      return { streamMsgs: si.state.messages, ackPending: ci.num_ack_pending, pending: ci.num_pending };
    },
    close: async () => {
      stop?.();
      await jsm.streams.delete(stream).catch(() => false);
      await pub.close();
      await sub.close().catch(() => {});
    },
  };
}

export function natsGroup(): PeerGroup<NatsEnv> {
  return {
    name: 'nats (machine nats-server :4222, JetStream file store)',
    setup: async () => {
      const nc = await connect({ servers: `${HOST}:${PORT}`, timeout: 3_000 });
      const version = nc.info?.version ?? '?';
      const jsm = await nc.jetstreamManager(); // throws when JetStream is off
      await jsm.getAccountInfo();
      await nc.close();
      return { serverPid: pidListening(PORT), version };
    },
    teardown: async () => {},
    variants: [{
      system: 'nats-jetstream',
      variant: 'file-workqueue',
      run: async (env, workload, run, opts, progress) =>
        runPeerLoad({ system: 'nats-jetstream', variant: 'file-workqueue', serverPid: env.serverPid }, await session(workload, env), workload, run, opts, progress),
    }],
  };
}
