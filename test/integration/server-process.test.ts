import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MailboxClient } from '../../src/client/index.ts';
import { DEFAULT_CONFIG } from '../../src/config/config.ts';
import { freePort, spawnServe } from './helpers/process.ts';

/** The readme's command (`npm start`), with the environment overrides a deployment would use. */
test(
  '`mailbox serve --config mailbox.config.ts` starts on LevelDB, logs ready=1, writes a 0600 admin token, serves the SDK, and on SIGTERM drains and exits 0',
  { timeout: 45_000 },
  async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'mailbox-serve-'));
    const [wsPort, adminPort] = [await freePort(), await freePort()];
    const proc = spawnServe(['--config', 'mailbox.config.ts'], {
      MAILBOX_LISTEN: `127.0.0.1:${wsPort}`,
      METRICS_ADDR: `127.0.0.1:${adminPort}`,
      MAILBOX_DATA_DIR: dataDir,
    });
    const why = (): string => `\n--- stdout ---\n${proc.stdout().slice(-4000)}\n--- stderr ---\n${proc.stderr().slice(-4000)}`;
    let exitCode: number | string | undefined;
    void proc.exited.then((c) => (exitCode = c));
    try {
      // Ready: GET /readyz answers 200 (the process may take a while to compile and open LevelDB).
      const deadline = Date.now() + 30_000;
      for (;;) {
        assert.equal(exitCode, undefined, `the server exited early with ${exitCode}${why()}`);
        const status = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.status, () => 0);
        if (status === 200) break;
        assert.ok(Date.now() < deadline, `GET /readyz never answered 200 (last ${status})${why()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(proc.stdout().includes('ready=1'), `the log says ready=1${why()}`);
      const logs = proc.logs();
      const loaded = logs.find((l) => l.event === 'config_loaded');
      assert.equal(loaded?.profile, 'macronode', 'the default LevelDB profile');
      assert.equal(loaded?.amnesia, false);
      assert.equal(loaded?.dataDir, dataDir);

      // The admin token: written on first start, owner read/write only, and it works.
      const tokenFile = join(dataDir, 'admin.token');
      assert.equal((await stat(tokenFile)).mode & 0o777, 0o600, 'admin.token is mode 0600');
      const token = (await readFile(tokenFile, 'utf8')).trim();
      assert.ok(!proc.stdout().includes(token), 'the token itself is never logged');

      const client = await MailboxClient.connect(`ws://127.0.0.1:${wsPort}`, { token, reconnect: false });
      const { msgId } = await client.send({ topic: 'process:hello', idemKey: 'first', payload: 'over a real process' });
      const [d] = await client.recv({ topic: 'process:hello', maxMessages: 1, waitMs: 10_000 });
      assert.equal(d?.msgId, msgId);
      assert.equal(Buffer.from(d!.payload).toString(), 'over a real process');
      await d!.ack();
      await client.close();

      // SIGTERM: drain, then exit 0 within the drain timeout.
      proc.child.kill('SIGTERM');
      const drainTimeoutMs = DEFAULT_CONFIG.drainTimeoutMs;
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        proc.exited,
        new Promise<string>((resolve) => {
          timer = setTimeout(() => resolve('still running'), drainTimeoutMs + 10_000);
        }),
      ]).finally(() => clearTimeout(timer));
      assert.equal(code, 0, `exit code after SIGTERM${why()}`);
      // Ordered by each line's own timestamp: at exit pino's async stdout writer may put a line
      // that was still in flight after the lines flushed synchronously (see the report on serve.ts).
      const at = (event: string): number => {
        const line = proc.logs().find((l) => l.event === event);
        assert.ok(line, `the log has a ${event} line${why()}`);
        return Date.parse(String(line.time));
      };
      assert.ok(at('signal') <= at('drain_started'), `draining follows the signal${why()}`);
      assert.ok(at('drain_started') <= at('stopped'), `the log shows draining, then stopped${why()}`);
    } finally {
      if (exitCode === undefined) {
        proc.child.kill('SIGKILL');
        await proc.exited;
      }
      await rm(dataDir, { recursive: true, force: true });
    }
  },
);
