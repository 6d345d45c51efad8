/**
 * A consumer as its own process, for the crash-storm drill: SDK client, SUBSCRIBE to the given
 * topics, ACK every delivery, and report to the parent over IPC. Before it ACKs a batch it waits
 * until the parent's pipe holds the batch's msgIds ("tried"), so a SIGKILL can never hide an ACK
 * the server applied: the parent knows every message this process may have consumed.
 *
 * `node --import tsx chaos/consumer-process.ts <ws-url> <topic,topic,…> <prefetch> <visibilityMs>`
 * IPC to the parent: {t:'ready'}, {t:'tried', d:[[msgId, leaseId, attempt]…]}, {t:'acked', d:[…]}.
 */
import { MailboxClient, type ClientDelivery } from '../src/client/index.ts';
import { clientOptions } from './remote.ts';

export type Report = [msgId: string, leaseId: string, attempt: number];
export type ConsumerMessage = { t: 'ready' } | { t: 'tried' | 'acked'; d: Report[] };

const send = (m: ConsumerMessage): Promise<void> =>
  new Promise((resolve, reject) => process.send!(m, undefined, undefined, (err) => (err ? reject(err) : resolve())));

async function main(): Promise<void> {
  const [url, topicList, prefetch, visibilityMs, workMs] = process.argv.slice(2);
  // A consumer does work per message: it holds leases while it works, so a SIGKILL leaves some open.
  const work = Number(workMs ?? 0);
  if (!url || !topicList || !process.send) throw new Error('usage: consumer-process.ts <ws-url> <topics> <prefetch> <visibilityMs> [workMs] (with an IPC channel)');
  const client = await MailboxClient.connect(url, clientOptions());

  // Deliveries that arrive together are reported as one "tried" message, then ACKed.
  let batch: ClientDelivery[] = [];
  let written: Promise<void> | undefined;
  const tried = (d: ClientDelivery): Promise<void> => {
    batch.push(d);
    written ??= new Promise<void>((r) => setImmediate(r)).then(() => {
      const mine = batch;
      batch = [];
      written = undefined;
      return send({ t: 'tried', d: mine.map((x) => [x.msgId, x.leaseId, x.attempt]) });
    });
    return written;
  };
  let acked: Report[] = [];
  const flushAcked = setInterval(() => {
    if (acked.length === 0) return;
    const mine = acked;
    acked = [];
    void send({ t: 'acked', d: mine });
  }, 20);
  flushAcked.unref();

  const onDelivery = async (d: ClientDelivery): Promise<void> => {
    await tried(d);
    if (work > 0) await new Promise((resolve) => setTimeout(resolve, work));
    try {
      await d.ack();
      acked.push([d.msgId, d.leaseId, d.attempt]);
    } catch {
      // The lease went with the socket or was fenced: the message comes again, to someone.
    }
  };
  for (const topic of topicList.split(',')) {
    client.subscribe({ topic, prefetch: Number(prefetch ?? 32), visibilityMs: Number(visibilityMs ?? 2_000), concurrency: 64 }, onDelivery);
  }
  await send({ t: 'ready' });
  // Runs until the parent kills it (SIGKILL) or disconnects (then a clean exit).
  process.on('disconnect', () => {
    void client.close().finally(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
