/**
 * `mailbox ready --wait` and `mailbox drain`, driven as child processes: ready against a ready
 * server, a port nobody listens on and a server that is not ready; drain against a real
 * `mailbox serve` process (it exits 0, as on SIGTERM) and refused without a token for every tenant.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { mailbox } from './helpers.ts';
import { freePort, spawnServe } from '../integration/helpers/process.ts';
import { startTestServer } from '../integration/helpers/server.ts';

describe('mailbox ready --wait', () => {
  it('exits 0 at once against a ready server', { timeout: 60_000 }, async () => {
    const t = await startTestServer();
    try {
      const started = performance.now();
      const r = await mailbox(['ready', '--wait', '30s', '--admin', t.server.adminUrl]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${t.server.adminUrl}/readyz: ready\n`);
      assert.ok(performance.now() - started < 25_000, 'did not wait out --wait');
    } finally {
      await t.stop();
    }
  });

  it('exits 1 naming the URL and the cause when nobody listens on the port', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const r = await mailbox(['ready', '--wait', '1s', '--admin', `http://127.0.0.1:${port}`]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `mailbox ready: cannot reach http://127.0.0.1:${port}: connection refused\n`);
  });

  it('exits 1 with the readiness state and reasons when the server stays not ready', { timeout: 60_000 }, async () => {
    const server: Server = createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ state: 'degraded', ready: false, reasons: ['storage: full'] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const r = await mailbox(['ready', '--wait', '600ms', '--admin', url]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `mailbox ready: ${url}/readyz: not ready after 600ms: degraded (storage: full)\n`);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('--wait must be a duration (usage error, exit 2)', async () => {
    for (const wait of ['30', 'soon', '-1s', '1.5s']) {
      const r = await mailbox(['ready', `--wait=${wait}`, '--admin', 'http://127.0.0.1:1']);
      assert.equal(r.code, 2, `${wait}: ${r.stderr}`);
      assert.match(r.stderr, /^mailbox ready: --wait must be a duration/);
    }
  });
});

describe('mailbox drain', () => {
  it('makes a running `mailbox serve` drain and exit 0; refused without a token for every tenant', { timeout: 90_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mailbox-drain-'));
    const dataDir = join(dir, 'data');
    const [wsPort, adminPort] = [await freePort(), await freePort()];
    const admin = `http://127.0.0.1:${adminPort}`;
    const proc = spawnServe(['--config', 'mailbox.config.ts'], { MAILBOX_LISTEN: `127.0.0.1:${wsPort}`, METRICS_ADDR: `127.0.0.1:${adminPort}`, MAILBOX_DATA_DIR: dataDir });
    const why = (): string => `\n--- stdout ---\n${proc.stdout().slice(-3000)}\n--- stderr ---\n${proc.stderr().slice(-3000)}`;
    try {
      const up = await mailbox(['ready', '--wait', '60s', '--admin', admin]);
      assert.equal(up.code, 0, `${up.stderr}${why()}`);

      // No token at all (an empty data dir has no admin.token): 401, and the server goes on.
      const none = await mailbox(['drain', '--admin', admin, '--data-dir', join(dir, 'empty')]);
      assert.equal(none.code, 1);
      assert.match(none.stderr, new RegExp(`^mailbox drain: ${admin}/admin/drain: HTTP 401: E_CAP_AUTH`));
      // An admin token for the default tenant only: a drain acts for every tenant, so 403.
      const minted = await mailbox(['token', 'mint', '--data-dir', dataDir]);
      assert.equal(minted.code, 0, minted.stderr);
      const oneTenant = await mailbox(['drain', '--admin', admin, '--token', minted.stdout.trim()]);
      assert.equal(oneTenant.code, 1);
      assert.match(oneTenant.stderr, /HTTP 403: E_CAP_SCOPE: .*acts across tenants/);
      assert.equal((await mailbox(['ready', '--admin', admin])).code, 0, 'still ready after the refusals');

      // The first-start admin token (every tenant), found in <dataDir>/admin.token.
      const r = await mailbox(['drain', '--admin', admin, '--data-dir', dataDir]);
      assert.equal(r.code, 0, `${r.stderr}${why()}`);
      assert.equal(r.stdout, `${admin}: draining (the server exits once its leases settle)\n`);
      assert.equal(await proc.exited, 0, why());
      const events = proc.logs().map((l) => l.event);
      assert.ok(events.includes('drain_requested'), why());
      assert.ok(events.indexOf('drain_started') > events.indexOf('drain_requested'), why());
      assert.deepEqual(proc.logs().filter((l) => l.event === 'exit').map((l) => l.code), [0]);
    } finally {
      proc.child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});
