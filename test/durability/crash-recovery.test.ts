/**
 * kill -9 over real processes: the server runs as a child on a LevelDB data directory
 * (durability sync); SDK producers and consumers talk to it over real sockets, and the test
 * SIGKILLs it at random moments and starts it again on the same directory and ports.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MailboxClient, MailboxError, type ClientDelivery, type SendInput } from '../../src/client/index.ts';
import { ChildServer, sleep, testToken } from './child.ts';

const dirs: string[] = [];
const servers: ChildServer[] = [];
after(async () => {
  for (const s of servers) await s.dispose();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

async function startLevelServer(dataDir: string, extraArgs: string[] = [], env: Record<string, string> = {}): Promise<ChildServer> {
  const server = await ChildServer.start({ args: ['--data-dir', dataDir, '--durability', 'sync', ...extraArgs], env });
  servers.push(server);
  return server;
}

/** The first payload-integrity refusals the SDK reported: a delivery whose stored payload is gone shows here. */
const integrityErrors: string[] = [];
const connectOpts = {
  token: testToken(), maxReconnectDelayMs: 300, connectTimeoutMs: 5_000,
  onError: (e: Error) => {
    if (e instanceof MailboxError && e.code === 'E_INTEGRITY' && integrityErrors.length < 3) integrityErrors.push(e.message);
  },
};

/** Retries a call while the server is down or restarting (E_UNAVAILABLE / connection loss), with the same inputs. */
async function retrying<T>(fn: () => Promise<T>, deadline: number): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      const retryable = err instanceof MailboxError && (err.code === 'E_UNAVAILABLE' || err.code === 'E_SATURATED');
      if (!retryable || Date.now() > deadline) throw err;
      await sleep(Math.min(err.retryAfterMs ?? 50, 200));
    }
  }
}

/**
 * 50,000 messages and 10 kills, as the issue asks. The budget is on progress, not on the
 * clock: the run fails when nothing moves (no SEND acknowledged, no delivery, no restart
 * done) for STALL_MS, since the time it takes is mostly the ten restarts (tsx compiling the
 * sources at each start), which stretch with the machine's load: 46.7 s at load average 3.5
 * on the 2-CPU build machine, 152 s with two suites and other work beside it (restarts
 * 2-18 s each). The test timeout only guards against a hang. CRASH_TOTAL / CRASH_KILLS /
 * CRASH_STALL_MS override.
 */
const TOTAL = Number(process.env.CRASH_TOTAL ?? 50_000);
const KILLS = Number(process.env.CRASH_KILLS ?? 10);
const STALL_MS = Number(process.env.CRASH_STALL_MS ?? 60_000);
const HANG_GUARD_MS = 600_000;
const TOPICS = Array.from({ length: 8 }, (_, i) => `crash:${i}`);
const PRODUCERS = 4;
const BATCH = 250;

test(
  `${TOTAL.toLocaleString('en')} messages${TOTAL < 50_000 ? ' (REDUCED from the issue\'s 50,000)' : ''} through ${KILLS} kill -9 restarts: every acknowledged SEND is delivered, no message comes back after a successful ACK`,
  {
    timeout: HANG_GUARD_MS,
  },
  async (t) => {
    const t0 = Date.now();
    // A message leased when the server dies counts a server_restart attempt. With the default 5
    // attempts, ten kills can dead-letter the FIFO heads a slow consumer (a loaded machine) had
    // leased but not yet acknowledged at five of them: that keeps the product's promise
    // (delivered or dead-lettered with its reason) but not this test's, which is about losing
    // nothing. So attempts are not what this run spends: more than the kills can use up.
    // For the same reason the backoff stays short: after a few such attempts the full-jitter
    // backoff (60 s cap) would hold those heads delayed past the stall bound.
    const server = await startLevelServer(tempDir('mailbox-crash-'), [], {
      MAILBOX_QUEUE__MAX_ATTEMPTS: String(10 * KILLS + 10),
      MAILBOX_QUEUE__BACKOFF_MAX_MS: '1000',
    });
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
  },
);

test(
  'after kill -9, ready, delayed and DLQ messages come back as they were, open leases count as expired (server_restart), and the idempotency window survives',
  { timeout: 60_000 },
  async () => {
    const server = await startLevelServer(tempDir('mailbox-crash-state-'), ['--shards', '2']);
    const deadline = Date.now() + 50_000;
    let client = await MailboxClient.connect(server.url, connectOpts);

    const ready = await client.send({ topic: 'state:ready', idemKey: 'r1', payload: 'ready one' });
    const delayed = await client.send({ topic: 'state:delayed', idemKey: 'd1', payload: 'delayed one', delayMs: 3_000 });
    const leasedSend = await client.send({ topic: 'state:leased', idemKey: 'l1', payload: 'leased one' });
    const [lease] = await client.recv({ topic: 'state:leased', maxMessages: 1, visibilityMs: 600_000 });
    assert.equal(lease?.msgId, leasedSend.msgId);
    assert.equal(lease.attempt, 1);
    // One dead letter: maxAttempts is 5 by default; NACK it to death.
    const doomed = await client.send({ topic: 'state:dead', idemKey: 'x1', payload: 'doomed' });
    for (let attempt = 1; attempt <= 5; attempt++) {
      const [d] = await client.recv({ topic: 'state:dead', maxMessages: 1, waitMs: 5_000 });
      assert.equal(d?.msgId, doomed.msgId);
      await client.nack(d.msgId, d.leaseId, { delayMs: 0, reason: `try ${attempt}` });
    }
    const dlqBefore = await client.dlq.list({});
    assert.deepEqual(dlqBefore.map((e) => e.msgId), [doomed.msgId]);

    await client.close();
    await server.kill9();
    await server.launch();
    client = await MailboxClient.connect(server.url, connectOpts);

    // The idempotency window survived: same key, same msgId, duplicate.
    const again = await retrying(() => client.send({ topic: 'state:ready', idemKey: 'r1', payload: 'ready one' }), deadline);
    assert.deepEqual(again, { msgId: ready.msgId, duplicate: true });

    const [r] = await client.recv({ topic: 'state:ready', maxMessages: 10 });
    assert.equal(r?.msgId, ready.msgId);
    assert.equal(r.attempt, 1);
    assert.equal(Buffer.from(r.payload).toString(), 'ready one');

    // The open lease counts as a failed attempt: delivered again as attempt 2.
    const [l] = await client.recv({ topic: 'state:leased', maxMessages: 10 });
    assert.equal(l?.msgId, leasedSend.msgId);
    assert.equal(l.attempt, 2, 'the lease open at the crash counted as an attempt');
    assert.equal(Buffer.from(l.payload).toString(), 'leased one');
    await assert.rejects(client.ack(lease.msgId, lease.leaseId), (err: unknown) => err instanceof MailboxError && err.code === 'E_STALE_LEASE');
    // Its history says why: NACK it to the end and read the DLQ entry.
    await client.nack(l.msgId, l.leaseId, { delayMs: 0 });

    // The delayed message stays delayed until its time, then comes with its payload.
    const early = await client.recv({ topic: 'state:delayed', maxMessages: 10 });
    const [dl] = early.length > 0 ? early : await client.recv({ topic: 'state:delayed', maxMessages: 10, waitMs: 10_000 });
    assert.equal(dl?.msgId, delayed.msgId);
    assert.equal(dl.attempt, 1);
    assert.ok(dl.enqueuedAt + 3_000 <= Date.now() + 50, 'not delivered before its delay ended');

    const dlqAfter = await client.dlq.list({});
    assert.equal(dlqAfter.length, 1);
    assert.equal(dlqAfter[0]!.msgId, doomed.msgId);
    assert.deepEqual(dlqAfter[0], dlqBefore[0], 'the DLQ entry is unchanged');

    // The lease's history records the restart.
    for (let attempt = 3; attempt <= 5; attempt++) {
      const [d] = await client.recv({ topic: 'state:leased', maxMessages: 1, waitMs: 10_000 });
      assert.equal(d?.msgId, leasedSend.msgId);
      await client.nack(d.msgId, d.leaseId, { delayMs: 0 });
    }
    const dead = (await client.dlq.list({ topic: 'state:leased' }))[0];
    assert.ok(dead, 'the leased message reached the DLQ after its attempts');
    assert.equal(dead.history[0]?.outcome, 'server_restart');
    assert.equal(dead.history[0]?.attempt, 1);

    await client.close();
    await server.stop();
  },
);
