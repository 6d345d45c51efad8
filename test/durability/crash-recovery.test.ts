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
import { MailboxClient, MailboxError } from '../../src/client/index.ts';
import { ChildServer, sleep, testToken } from './child.ts';
import { kill9UnderLoad } from './kill9-load.ts';

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

test(
  `${TOTAL.toLocaleString('en')} messages${TOTAL < 50_000 ? ' (REDUCED from the issue\'s 50,000)' : ''} through ${KILLS} kill -9 restarts: every acknowledged SEND is delivered, no message comes back after a successful ACK`,
  {
    timeout: HANG_GUARD_MS,
  },
  async (t) => {
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
    await kill9UnderLoad(t, server, { total: TOTAL, kills: KILLS, stallMs: STALL_MS });
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
