import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MailboxClient } from '../../src/client/index.ts';
import { signalCounter } from '../../src/cli/serve.ts';
import { startServerProcess, type ServerProcess } from './helpers.ts';

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** Waits until the log has a line for which `match` holds. */
async function logged(server: ServerProcess, what: string, match: (l: Record<string, unknown>) => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!server.logs().some(match)) {
    if (Date.now() > deadline) throw new Error(`no ${what} line within ${timeoutMs} ms:\n${server.output()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('stopping the server from a terminal', () => {
  let dir: string;
  const started: ServerProcess[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mailbox-signals-'));
  });
  after(async () => {
    for (const s of started) s.kill();
    await rm(dir, { recursive: true, force: true });
  });

  async function start(command: string, args: readonly string[], name: string, env: Record<string, string> = {}): Promise<ServerProcess> {
    // Ports 0 and a data dir of its own: the test can run beside anything else.
    const server = await startServerProcess(command, args, { MAILBOX_DATA_DIR: join(dir, name), ...env });
    started.push(server);
    return server;
  }

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`one ${signal === 'SIGINT' ? 'Ctrl-C (SIGINT)' : 'SIGTERM'} to the process group of npm start drains once and exits 0`, async () => {
      const server = await start(NPM, ['start'], `npm-${signal}`);
      // What a terminal does: the signal goes to every process of the foreground group,
      // npm and node alike, and npm forwards its copy to node as well.
      server.signalGroup(signal);
      const code = await server.exited;
      const logs = server.logs();
      assert.equal(code, 0, server.output());
      assert.ok(logs.some((l) => l.msg === 'drained, exiting'), server.output());
      assert.equal(logs.filter((l) => l.event === 'drain_started').length, 1, 'one drain');
      assert.ok(!logs.some((l) => l.event === 'forced_exit'), 'the forwarded copy did not force an exit');
    });
  }

  it('a signal more than the grace after the first exits at once with code 1 (forced_exit)', async () => {
    const name = 'forced';
    // A consumer holding a lease keeps the drain waiting (up to drainTimeoutMs).
    const server = await start(process.execPath, ['bin/mailbox.mjs', 'serve'], name, { MAILBOX_DRAIN_TIMEOUT_MS: '60000' });
    const token = (await readFile(join(dir, name, 'admin.token'), 'utf8')).trim();
    const client = await MailboxClient.connect(server.url, { token, reconnect: false });
    try {
      await client.send({ topic: 'signals', idemKey: 'k1', payload: 'held' });
      const [d] = await client.recv({ topic: 'signals', visibilityMs: 60_000, maxMessages: 1, waitMs: 5_000 });
      assert.ok(d);
      server.signalGroup('SIGINT');
      await logged(server, 'drain_started', (l) => l.event === 'drain_started');
      // The grace is a time window by design: a copy inside it is the same request.
      await new Promise((r) => setTimeout(r, 1_500));
      server.signalGroup('SIGINT');
      assert.equal(await server.exited, 1, server.output());
      assert.ok(server.logs().some((l) => l.event === 'forced_exit'), server.output());
    } finally {
      await client.close().catch(() => {});
    }
  });
});

describe('signalCounter', () => {
  it('the first signal drains, copies within the grace repeat it, a later one forces', () => {
    const next = signalCounter(1_000);
    assert.equal(next(5_000), 'drain');
    assert.equal(next(5_003), 'repeat');
    assert.equal(next(6_000), 'repeat');
    assert.equal(next(6_001), 'force');
  });
});
