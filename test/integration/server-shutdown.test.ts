import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ANY_TENANT } from '../../src/auth/index.ts';
import { MailboxClient } from '../../src/client/index.ts';
import { freePort, spawnServe } from './helpers/process.ts';
import { eventually, startTestServer } from './helpers/server.ts';

/** An open `mailbox tail`: GET /debug/events, its lines as they arrive, and whether the response ended. */
function openTail(adminUrl: string): Promise<{ lines: string[]; ended: () => boolean; res: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    get(`${adminUrl}/debug/events`, (res) => {
      const lines: string[] = [];
      let buf = '';
      let ended = false;
      res.setEncoding('utf8');
      res.on('data', (s: string) => {
        buf += s;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          lines.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
      res.on('end', () => (ended = true));
      res.on('error', () => {});
      resolve({ lines, ended: () => ended, res });
    }).on('error', reject);
  });
}

test(
  'drain with a connected tail and a subscriber holding leases ends the tail with StreamClosed draining, resolves within drainTimeoutMs, and loses no message',
  { timeout: 60_000 },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mbx-drain-'));
    const dataDir = join(dir, 'data');
    const drainTimeoutMs = 500;
    const config = { amnesia: false, profile: 'macronode' as const, dataDir, durability: 'relaxed' as const, drainTimeoutMs };
    try {
      const t = await startTestServer({ config });
      const topic = 'drain:held';
      const producer = await t.client({ clientName: 'producer' });
      await producer.sendBatch([1, 2, 3, 4, 5].map((i) => ({ topic, idemKey: `h${i}`, payload: `job ${i}` })));
      const consumer = await t.client({ clientName: 'holder', token: t.token([{ kind: 'tenant', tenant: ANY_TENANT }]) });
      let received = 0;
      consumer.subscribe({ topic, visibilityMs: 600_000, prefetch: 5 }, () => {
        received++;
        return new Promise<void>(() => {}); // holds its lease, never acks
      });
      await eventually('the subscriber to hold leases', async () => (await t.depths()).leased > 0);
      const tail = await openTail(t.server.adminUrl);
      await eventually('the tail to get its first line', () => tail.lines.length > 0);

      const started = performance.now();
      let drainedAt: number | undefined;
      const drained = t.server.drain().then(() => (drainedAt = performance.now()));
      // /healthz keeps answering while the drain waits for the held leases.
      const health = await fetch(`${t.server.adminUrl}/healthz`);
      assert.equal(health.status, 200);
      assert.equal(drainedAt, undefined, '/healthz answered before the drain finished');

      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        drained,
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('drain() did not resolve within 20 s')), 20_000))),
      ]).finally(() => clearTimeout(timer));
      const tookMs = drainedAt! - started;
      // drainTimeoutMs bounds the wait for leases; the rest of the shutdown is a small margin (generous here under load).
      assert.ok(tookMs >= drainTimeoutMs - 50, `the drain waited for the leases (${tookMs} ms)`);
      assert.ok(tookMs < drainTimeoutMs + 8_000, `the drain is bounded (${tookMs} ms)`);

      await eventually('the tail stream to end', () => tail.ended(), 10_000);
      const last = JSON.parse(tail.lines.at(-1)!) as { at: string; type: string; reason: string };
      assert.equal(last.type, 'StreamClosed');
      assert.equal(last.reason, 'draining');
      assert.ok(!Number.isNaN(Date.parse(last.at)));
      assert.ok(received > 0);
      await t.stop().catch(() => {});

      // The held leases were not lost: after a restart on the same data dir every message is ready again.
      const again = await startTestServer({ config: { ...config, drainTimeoutMs: 10_000 } });
      try {
        const depths = await again.depths();
        assert.equal(depths.ready, 5, JSON.stringify(depths));
        const c = await again.client();
        const got = await c.recv({ topic, maxMessages: 10, waitMs: 2_000 });
        assert.deepEqual(got.map((d) => Buffer.from(d.payload).toString()).sort(), [1, 2, 3, 4, 5].map((i) => `job ${i}`));
      } finally {
        await again.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);

test(
  '`mailbox serve` on SIGTERM with a connected tail and a subscriber holding leases exits 0 within drainTimeoutMs and a margin, and the tail is told it is draining',
  { timeout: 60_000 },
  async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'mbx-drain-proc-'));
    const [wsPort, adminPort] = [await freePort(), await freePort()];
    const drainTimeoutMs = 500;
    const proc = spawnServe([], {
      MAILBOX_LISTEN: `127.0.0.1:${wsPort}`,
      METRICS_ADDR: `127.0.0.1:${adminPort}`,
      MAILBOX_DATA_DIR: dataDir,
      MAILBOX_DRAIN_TIMEOUT_MS: String(drainTimeoutMs),
    });
    const why = (): string => `\n--- stdout ---\n${proc.stdout().slice(-3000)}\n--- stderr ---\n${proc.stderr().slice(-3000)}`;
    let exitCode: number | string | undefined;
    void proc.exited.then((c) => (exitCode = c));
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    let client: MailboxClient | undefined;
    try {
      await eventually(`the server to be ready${why()}`, async () => {
        assert.equal(exitCode, undefined, `the server exited early with ${exitCode}${why()}`);
        return (await fetch(`${adminUrl}/readyz`).then((r) => r.status, () => 0)) === 200;
      }, 40_000, 100);
      const token = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
      client = await MailboxClient.connect(`ws://127.0.0.1:${wsPort}`, { token, reconnect: false });
      const topic = 'drain:proc';
      await client.sendBatch([1, 2, 3].map((i) => ({ topic, idemKey: `p${i}`, payload: `p${i}` })));
      let held = 0;
      client.subscribe({ topic, visibilityMs: 600_000, prefetch: 3 }, () => {
        held++;
        return new Promise<void>(() => {});
      });
      await eventually('the subscriber to hold a lease', () => held > 0);
      const tail = await openTail(adminUrl);
      await eventually('the tail to get its first line', () => tail.lines.length > 0);

      proc.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        proc.exited,
        new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still running'), drainTimeoutMs + 15_000))),
      ]).finally(() => clearTimeout(timer));
      assert.equal(code, 0, `exit code after SIGTERM${why()}`);
      await eventually('the tail stream to end', () => tail.ended(), 10_000);
      assert.deepEqual(
        (({ type, reason }) => ({ type, reason }))(JSON.parse(tail.lines.at(-1)!) as { type: string; reason: string }),
        { type: 'StreamClosed', reason: 'draining' },
      );
      const events = proc.logs().map((l) => l.event);
      assert.ok(events.indexOf('drain_timeout') > events.indexOf('drain_started'), `the drain gave up on the held leases${why()}`);
    } finally {
      await client?.close().catch(() => {});
      if (exitCode === undefined) {
        proc.child.kill('SIGKILL');
        await proc.exited;
      }
      await rm(dataDir, { recursive: true, force: true });
    }
  },
);
