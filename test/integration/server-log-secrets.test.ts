/**
 * No token or key bytes in any log line: a real `mailbox serve` at LOG_LEVEL=trace goes
 * through what handles tokens and keys (first start, SDK traffic, a forged and a revoked
 * token, a key rotation, a policy reload), and everything it wrote is scanned for the admin
 * token, a minted token, their signatures and every signing secret (base64 and hex).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { KeyRing, mint } from '../../src/auth/index.ts';
import { MailboxClient } from '../../src/client/index.ts';
import { mailbox, startServerProcess, type ServerProcess } from '../cli/helpers.ts';

let server: ServerProcess | undefined;
const dirs: string[] = [];
after(async () => {
  server?.kill();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

it('a server at LOG_LEVEL=trace writes no token or key bytes while it mints, verifies, refuses, revokes and rotates', async () => {
  const data = await mkdtemp(join(tmpdir(), 'mailbox-secrets-'));
  dirs.push(data);
  const policy = join(data, 'policy.json');
  await writeFile(policy, JSON.stringify({ defaults: { sendPerSecond: 1000 } }), { mode: 0o600 });
  server = await startServerProcess(process.execPath, ['bin/mailbox.mjs', 'serve', '--data-dir', data], { LOG_LEVEL: 'trace', MAILBOX_POLICY_FILE: policy });
  const keysFile = (): Promise<{ activeKid: string; keys: Record<string, string> }> => readFile(join(data, 'keys.json'), 'utf8').then((t) => JSON.parse(t) as never);
  const first = await keysFile();
  const ring = new KeyRing(first.activeKid, first.keys[first.activeKid]!);
  const adminToken = (await readFile(join(data, 'admin.token'), 'utf8')).trim();
  const token = mint(ring, { caveats: [{ kind: 'op', ops: ['send', 'recv', 'ack'] }] });
  const env = { MAILBOX_DATA_DIR: data };

  const client = await MailboxClient.connect(server.url, { token, reconnect: false });
  await client.send({ topic: 'sec', idemKey: 'a', payload: 'x' });
  const [d] = await client.recv({ topic: 'sec', maxMessages: 1 });
  await client.ack(d!.msgId, d!.leaseId);
  await client.close();
  // A forged token (last signature byte changed) and a garbage one are refused and logged as refusals.
  const forged = `${token.slice(0, -2)}${token.endsWith('A') ? 'B' : 'A'}${token.slice(-1)}`;
  await MailboxClient.connect(server.url, { token: forged, reconnect: false }).then((c) => c.send({ topic: 'sec', idemKey: 'f', payload: 'x' })).catch(() => {});
  await MailboxClient.connect(server.url, { token: 'mbx1.not-a-token', reconnect: false }).catch(() => {});
  assert.equal((await mailbox(['token', 'revoke', token, '--admin', server.adminUrl], env)).code, 0);
  assert.equal((await mailbox(['keys', 'rotate', '--grace', '1h', '--admin', server.adminUrl], env)).code, 0);
  assert.equal((await mailbox(['policy', 'reload', '--admin', server.adminUrl], env)).code, 0);
  await new Promise((r) => setTimeout(r, 200));

  const out = server.output();
  const lines = out.split('\n').filter((l) => l.startsWith('{'));
  console.log(`# scanned ${lines.length} log lines (${out.length} bytes)`);
  assert.ok(lines.some((l) => l.includes('"event":"policy_reloaded"')) && lines.some((l) => /revok/.test(l)), 'the server logged what it did');
  const secrets = Object.values((await keysFile()).keys);
  const needles = new Map<string, string>([
    ['admin token', adminToken], ['minted token', token], ['forged token', forged],
    ['admin token signature', adminToken.slice(-30)], ['minted token signature', token.slice(-30)],
  ]);
  for (const [i, secret] of secrets.entries()) {
    needles.set(`secret ${i} (base64)`, secret);
    needles.set(`secret ${i} (hex)`, Buffer.from(secret, 'base64').toString('hex'));
  }
  for (const [what, needle] of needles) assert.ok(!out.includes(needle), `the server's output contains the ${what}`);
});
