/**
 * The kill -9 load drill the durability tests run against a server child: SDK producers and
 * consumers over real sockets, the server SIGKILLed at random moments and started again on
 * the same store, then checked: every acknowledged SEND delivered, one msgId per idempotency
 * key, nothing delivered after its ACK succeeded, nothing left on the server. Which store the
 * child runs on is the caller's (LevelDB in crash-recovery.test.ts, Redis in
 * redis-crash.test.ts).
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { MailboxClient, MailboxError, type ClientDelivery, type SendInput } from '../../src/client/index.ts';
import { sleep, testToken, type ChildServer } from './child.ts';

export interface Kill9LoadOptions {
  total: number;
  kills: number;
  /** The run fails when nothing moves (no SEND acknowledged, no delivery, no restart done) this long. */
  stallMs: number;
  topics?: readonly string[];
  producers?: number;
  batch?: number;
}

/**
 * Runs the drill on `server` (already started with attempts and backoff the kills cannot use
 * up: see crash-recovery.test.ts) and asserts its promises; stops the server at the end.
 */
export async function kill9UnderLoad(t: TestContext, server: ChildServer, options: Kill9LoadOptions): Promise<void> {
  const { total: TOTAL, kills: KILLS, stallMs: STALL_MS } = options;
  const TOPICS = options.topics ?? Array.from({ length: 8 }, (_, i) => `crash:${i}`);
  const PRODUCERS = options.producers ?? 4;
  const BATCH = options.batch ?? 250;
  const t0 = Date.now();
  /** The first payload-integrity refusals the SDK reported: a delivery whose stored payload is gone shows here. */
  const integrityErrors: string[] = [];
  const connectOpts = {
    token: testToken(), maxReconnectDelayMs: 300, connectTimeoutMs: 5_000,
    onError: (e: Error) => {
      if (e instanceof MailboxError && e.code === 'E_INTEGRITY' && integrityErrors.length < 3) integrityErrors.push(e.message);
    },
  };
  // Anything that moves counts as progress; a stall (or the test's own abort) ends the retries.
  let progressAt = Date.now();
  const progressed = (): void => {
    progressAt = Date.now();
  };
  const stalled = (): boolean => t.signal.aborted || Date.now() - progressAt > STALL_MS;

  const sentAt = new Map<number, string>(); // index → msgId, once a SEND is acknowledged
  const msgIdOwner = new Map<string, number>();
  const deliveries = new Map<string, number>();
  const ackedOk = new Set<string>();
  const violations: string[] = [];
  let sendRefusals = 0;
  const refusalKinds = new Map<string, number>();
  const tally = (err: MailboxError): void => {
    const kind = `${err.code}: ${err.message.replace(/[0-9A-Z]{26}|\d+/g, '#').slice(0, 60)}`;
    refusalKinds.set(kind, (refusalKinds.get(kind) ?? 0) + 1);
  };

  const onDelivery = async (d: ClientDelivery): Promise<void> => {
    if (ackedOk.has(d.msgId)) violations.push(`${d.msgId} delivered (attempt ${d.attempt}) after its ACK succeeded`);
    if (!deliveries.has(d.msgId)) progressed();
    deliveries.set(d.msgId, (deliveries.get(d.msgId) ?? 0) + 1);
    try {
      await d.ack();
      ackedOk.add(d.msgId);
    } catch {
      // Lost with the connection: the lease ends and the message is delivered again.
    }
  };
  const consumers = await Promise.all([0, 1].map(() => MailboxClient.connect(server.url, connectOpts)));
  TOPICS.forEach((topic, i) => consumers[i % 2]!.subscribe({ topic, visibilityMs: 10_000, prefetch: 500, concurrency: 200 }, onDelivery));

  const producers = await Promise.all(Array.from({ length: PRODUCERS }, () => MailboxClient.connect(server.url, connectOpts)));
  const produce = async (p: number): Promise<void> => {
    const client = producers[p]!;
    const mine: number[] = [];
    for (let i = p; i < TOTAL; i += PRODUCERS) mine.push(i);
    for (let at = 0; at < mine.length; ) {
      const pending = mine.slice(at, at + BATCH).filter((i) => !sentAt.has(i));
      if (pending.length === 0) {
        at += BATCH;
        continue;
      }
      const inputs: SendInput[] = pending.map((i) => ({ topic: TOPICS[i % TOPICS.length]!, idemKey: `m-${i}`, payload: `message ${i}` }));
      let results: Array<{ msgId: string; duplicate: boolean } | MailboxError>;
      try {
        results = await client.sendBatch(inputs);
      } catch (err) {
        if (!(err instanceof MailboxError)) throw err;
        if (stalled()) throw new Error(`no progress for ${STALL_MS} ms (${sentAt.size} SENDs acknowledged)`, { cause: err });
        sendRefusals++;
        tally(err);
        await sleep(Math.min(err.retryAfterMs ?? 50, 200));
        continue;
      }
      let refused = 0;
      results.forEach((r, k) => {
        if (r instanceof MailboxError) {
          refused++;
          tally(r);
          if (r.code !== 'E_UNAVAILABLE' && r.code !== 'E_SATURATED') violations.push(`SEND m-${pending[k]} refused with ${r.code}: ${r.message}`);
          return;
        }
        const i = pending[k]!;
        const earlier = sentAt.get(i);
        if (earlier !== undefined && earlier !== r.msgId) violations.push(`m-${i} got two msgIds: ${earlier}, ${r.msgId}`);
        if (earlier === undefined) progressed();
        sentAt.set(i, r.msgId);
        msgIdOwner.set(r.msgId, i);
      });
      if (refused > 0) {
        if (stalled()) throw new Error(`no progress for ${STALL_MS} ms (${sentAt.size} SENDs acknowledged)`);
        sendRefusals += refused;
        await sleep(50);
      }
    }
  };
  const producing = Promise.all(Array.from({ length: PRODUCERS }, (_, p) => produce(p)));
  producing.catch(() => {}); // awaited below, after the kills: a stall must not count as unhandled meanwhile

  // The killer: kill -9 at random moments, restart on the same directory, wait for /readyz.
  const restartMs: number[] = [];
  for (let k = 0; k < KILLS && !stalled(); k++) {
    await sleep(300 + Math.floor(Math.random() * 2_500));
    await server.kill9();
    restartMs.push(await server.launch());
    progressed();
  }
  await producing;
  const producedAt = Date.now();

  // Done when every acknowledged SEND was delivered and the server holds nothing more: an ACK
  // whose reply died with the server may have counted (gone) or not (delivered again).
  const serverEmpty = async (): Promise<boolean> => {
    const live = await server.depths().catch(() => undefined);
    return live !== undefined && live.ready + live.delayed + live.leased === 0;
  };
  while (!stalled() && !([...sentAt.values()].every((id) => deliveries.has(id)) && (await serverEmpty()))) await sleep(100);
  const undelivered = [...sentAt.values()].filter((id) => !deliveries.has(id));
  const left = await server.depths();
  const total = [...deliveries.values()].reduce((a, b) => a + b, 0);
  const duplicates = total - deliveries.size;
  console.log(
    `# ${TOTAL} messages, ${KILLS} kill -9: ${sentAt.size} SENDs acknowledged, ${deliveries.size} delivered (${total} deliveries, ${duplicates} duplicates), ` +
      `${sendRefusals} SEND refusals retried, ${ackedOk.size} ACKs confirmed, restarts to ready ${restartMs.map((m) => Math.round(m)).join('/')} ms, ` +
      `produced in ${((producedAt - t0) / 1000).toFixed(1)} s, done in ${((Date.now() - t0) / 1000).toFixed(1)} s; left on the server ${JSON.stringify(left)}`,
  );
  console.log(`# SEND refusals by kind: ${JSON.stringify([...refusalKinds])}`);
  if (integrityErrors.length > 0) console.log(`# integrity refusals: ${JSON.stringify(integrityErrors)}`);
  if (left.dlq > 0) {
    // What dead-lettered them says which promise broke: print the first entries' histories.
    const dead = await consumers[0]!.dlq.list({ limit: 3 }).catch((e: unknown) => [String(e)]);
    console.log(`# DLQ sample: ${JSON.stringify(dead).slice(0, 3000)}`);
  }
  await Promise.all([...consumers, ...producers].map((c) => c.close()));

  assert.deepEqual(violations.slice(0, 10), []);
  assert.equal(restartMs.length, KILLS, `every kill -9 was made and recovered from (stalled: ${stalled()})`);
  assert.equal(sentAt.size, TOTAL, 'every SEND was eventually acknowledged');
  assert.equal(new Set(sentAt.values()).size, TOTAL, 'one msgId per idempotency key');
  assert.deepEqual(undelivered.slice(0, 10), [], `${undelivered.length} acknowledged SENDs never delivered`);
  assert.deepEqual(left, { ready: 0, delayed: 0, leased: 0, dlq: 0 }, 'every message was consumed: none stuck on the server');
  await server.stop();
}
