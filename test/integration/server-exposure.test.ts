import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { OPS, PROTOCOL_VERSION } from '../../src/protocol/index.ts';
import { HELLO_TIMEOUT_CLOSE } from '../../src/transport/connection.ts';
import { RawClient } from './helpers/raw-client.ts';
import { eventually, seriesValue, startTestServer } from './helpers/server.ts';

type Outcome = { open: WebSocket } | { refused: number };

/** Opens a socket and says nothing: resolves once it is open, or with the HTTP status the upgrade got. */
function idleSocket(url: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve({ open: ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ refused: res.statusCode ?? 0 });
      res.resume();
      ws.terminate();
    });
    ws.once('error', () => resolve({ refused: 0 }));
  });
}

test('1,000 idle sockets are not all kept: past maxConnections the upgrade is refused with 503 and counted, and a freed slot is taken again', { timeout: 90_000 }, async () => {
  const t = await startTestServer({ config: { maxConnections: 20, helloTimeoutMs: 600_000 } });
  const open: WebSocket[] = [];
  try {
    const refused: number[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const outcomes = await Promise.all(Array.from({ length: 100 }, () => idleSocket(t.server.url)));
      for (const o of outcomes) 'open' in o ? open.push(o.open) : refused.push(o.refused);
    }
    assert.equal(open.length, 20, 'exactly maxConnections sockets were accepted');
    assert.equal(refused.length, 980);
    assert.deepEqual([...new Set(refused)], [503], 'every other upgrade got HTTP 503');
    assert.equal(seriesValue(await t.metrics(), 'rejected_total{reason="connections"}'), 980);

    // A closed socket frees its slot.
    const first = open.shift()!;
    const closed = new Promise((r) => first.once('close', r));
    first.close();
    await closed;
    let again: Outcome | undefined;
    await eventually('a slot freed', async () => {
      again = await idleSocket(t.server.url);
      return 'open' in again;
    });
    open.push((again as { open: WebSocket }).open);
  } finally {
    for (const ws of open) ws.terminate();
    await t.stop();
  }
});

test('a socket that has not said HELLO within helloTimeoutMs is closed with 4008; one that said HELLO stays open', { timeout: 60_000 }, async () => {
  const t = await startTestServer({ config: { helloTimeoutMs: 1_000 } });
  try {
    const greeted = await RawClient.connect(t.server.url);
    assert.equal((await greeted.request(OPS.HELLO, { versions: [PROTOCOL_VERSION] })).header.code, 200);
    const idle = await RawClient.connect(t.server.url);
    const started = Date.now();
    const closed = await idle.closed;
    assert.equal(closed.code, HELLO_TIMEOUT_CLOSE);
    assert.match(closed.reason, /HELLO not completed within 1000 ms/);
    assert.ok(Date.now() - started >= 900, 'not closed before its deadline');
    // The greeted socket opened earlier, so its deadline has passed too: it still answers.
    assert.ok(greeted.isOpen, 'the socket that said HELLO is kept');
    await greeted.ping();
    assert.equal(seriesValue(await t.metrics(), 'rejected_total{reason="hello_timeout"}'), 1);
    await greeted.close();
  } finally {
    await t.stop();
  }
});

test('binding listen and metricsAddr off loopback logs what is exposed; /debug/tree and /debug/events then need the admin token, probes stay open', { timeout: 30_000 }, async () => {
  // 0.0.0.0 with port 0: still only this machine in the test, but not loopback to the server.
  const t = await startTestServer({ captureLogs: true, config: { listen: '0.0.0.0:0', metricsAddr: '0.0.0.0:0' } });
  try {
    const warns = t.logs.filter((l) => l.level === 'warn');
    const listener = warns.find((l) => l.event === 'listener_exposed');
    const admin = warns.find((l) => l.event === 'admin_exposed');
    assert.ok(listener && /not on loopback/.test(String(listener.msg)) && /without a token/.test(String(listener.msg)), JSON.stringify(listener));
    assert.ok(admin && /\/metrics answer anyone/.test(String(admin.msg)) && /\/debug\/tree, \/debug\/events .* need an admin token/.test(String(admin.msg)), JSON.stringify(admin));

    const base = t.server.adminUrl.replace('0.0.0.0', '127.0.0.1');
    for (const path of ['/debug/tree', '/debug/events']) {
      const anon = await fetch(`${base}${path}`);
      assert.equal(anon.status, 401, `${path} without a token`);
      assert.equal(((await anon.json()) as { code: string }).code, 'E_CAP_AUTH');
      const narrow = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${t.token([{ kind: 'op', ops: ['send'] }])}` } });
      assert.equal(narrow.status, 403, `${path} with a non-admin token`);
      await narrow.body?.cancel();
    }
    const tree = await fetch(`${base}/debug/tree`, { headers: { authorization: `Bearer ${t.adminToken}` } });
    assert.equal(tree.status, 200);
    assert.equal(((await tree.json()) as { path: string }).path, '/root', 'the state dump');
    const events = await fetch(`${base}/debug/events`, { headers: { authorization: `Bearer ${t.adminToken}` } });
    assert.equal(events.status, 200);
    await events.body?.cancel();
    for (const probe of ['/healthz', '/readyz', '/metrics']) assert.equal((await fetch(`${base}${probe}`)).status, 200, `${probe} stays open`);
  } finally {
    await t.stop();
  }
});

test('on loopback nothing is reported exposed and /debug/tree answers without a token', { timeout: 30_000 }, async () => {
  const t = await startTestServer({ captureLogs: true });
  try {
    assert.deepEqual(t.logs.filter((l) => l.event === 'listener_exposed' || l.event === 'admin_exposed'), []);
    assert.equal((await t.get('/debug/tree')).status, 200);
  } finally {
    await t.stop();
  }
});
