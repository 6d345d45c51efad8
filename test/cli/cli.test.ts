import { strict as assert } from 'node:assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateKey, KeyRing, mint, verify } from '../../src/auth/index.ts';
import { resolveConfig } from '../../src/config/resolve.ts';
import { startServer, type RunningServer } from '../../src/transport/server.ts';
import { mailbox } from './helpers.ts';

describe('mailbox CLI', () => {
  it('--help prints the usage and exits 0', async () => {
    const r = await mailbox(['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^usage: mailbox <command>/);
    for (const cmd of ['serve', 'tree', 'tail', 'dlq', 'token', 'backup', 'restore', 'chaos']) assert.match(r.stdout, new RegExp(`\\n  ${cmd} `));
  });

  it('an unknown command exits 2 and names the command', async () => {
    const r = await mailbox(['frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command "frobnicate"/);
  });

  it('token mint reads <dataDir>/keys.json, and token inspect shows the caveats it was minted with', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mailbox-cli-'));
    try {
      const secret = generateKey();
      await writeFile(join(dir, 'keys.json'), JSON.stringify({ activeKid: 'k7', keys: { k7: secret } }), { mode: 0o600 });
      const env = { MAILBOX_DATA_DIR: dir };
      const minted = await mailbox(['token', 'mint', '--op', 'send,recv', '--topic', 'user:42:*', '--ttl', '1h'], env);
      assert.equal(minted.code, 0, minted.stderr);
      const token = minted.stdout.trim();
      assert.match(token, /^mbx1\./);
      // The token verifies against the key in keys.json.
      assert.doesNotThrow(() => verify(new KeyRing('k7', secret), token, Date.now()));

      const inspected = await mailbox(['token', 'inspect', token], env);
      assert.equal(inspected.code, 0, inspected.stderr);
      const info = JSON.parse(inspected.stdout) as { kid: string; caveats: Array<{ kind: string; ops?: string[]; pattern?: string; at?: number }> };
      assert.equal(info.kid, 'k7');
      // By kind: mint may add caveats of its own (the tenant a token binds).
      const byKind = (kind: string) => info.caveats.find((c) => c.kind === kind);
      assert.deepEqual(byKind('op'), { kind: 'op', ops: ['send', 'recv'] });
      assert.deepEqual(byKind('topic'), { kind: 'topic', pattern: 'user:42:*' });
      assert.ok(Math.abs(byKind('expiry')!.at! - (Date.now() + 3_600_000)) < 60_000);
      assert.ok(!inspected.stdout.includes(secret), 'inspect never prints the key');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('token mint without a key fails with E_CONFIG and exits 1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mailbox-cli-'));
    try {
      const r = await mailbox(['token', 'mint'], { MAILBOX_DATA_DIR: dir });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /E_CONFIG: no signing key/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('against a running server', () => {
    let server: RunningServer;
    let adminToken: string;

    before(async () => {
      const secret = generateKey();
      server = await startServer({
        config: resolveConfig({
          amnesia: true, logLevel: 'silent', shards: 2, listen: '127.0.0.1:0', metricsAddr: '127.0.0.1:0',
          auth: { keys: { k1: secret }, activeKid: 'k1' },
          queue: { maxAttempts: 1 },
        }),
      });
      adminToken = mint(new KeyRing('k1', secret));
      // One dead letter to list: a single allowed attempt, NACKed.
      const mb = server.mailbox;
      await mb.send({ topic: 'cli:poison', idemKey: 'p1', payload: new TextEncoder().encode('bad') });
      const [d] = await mb.recv({ topic: 'cli:poison', maxMessages: 1, waitMs: 5_000 });
      assert.ok(d);
      await mb.nack(d.msgId, d.leaseId, { reason: 'cannot parse' });
    });

    after(() => server.close());

    it('tree prints the supervisor state dump of the server', async () => {
      const r = await mailbox(['tree', '--admin', server.adminUrl]);
      assert.equal(r.code, 0, r.stderr);
      for (const name of ['root', 'store', 'bus', 'readiness', 'shards', 'shard-0', 'shard-1', 'dlq', 'sessions', 'ingress', 'admin']) {
        assert.match(r.stdout, new RegExp(`^\\s*${name}\\s+\\[`, 'm'), name);
      }
      const json = await mailbox(['tree', '--admin', server.adminUrl, '--json']);
      const dump = JSON.parse(json.stdout) as { path: string; children: Array<{ path: string }> };
      assert.equal(dump.path, '/root');
      assert.deepEqual(dump.children.map((c) => c.path), ['store', 'bus', 'readiness', 'shards', 'dlq', 'sessions', 'ingress', 'admin'].map((id) => `/root/${id}`));
    });

    it('dlq list prints one row per dead letter with its reason and last attempt, or JSON with --json', async () => {
      const r = await mailbox(['dlq', 'list', '--url', server.url, '--token', adminToken]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.match(lines[0]!, /^msgId\s+topic\s+reason\s+attempts\s+deadAt\s+last attempt$/);
      assert.equal(lines.length, 2);
      assert.match(lines[1]!, /^[0-9A-Z]{26}\s+cli:poison\s+nacked\s+1\s+\S+Z\s+nacked: cannot parse$/);

      const j = await mailbox(['dlq', 'list', '--json', '--topic', 'cli:poison', '--url', server.url, '--token', adminToken]);
      assert.equal(j.code, 0, j.stderr);
      const entries = JSON.parse(j.stdout) as Array<{ topic: string; reason: string; payloadBase64?: string }>;
      assert.equal(entries.length, 1);
      assert.equal(entries[0]!.reason, 'nacked');
      assert.equal(Buffer.from(entries[0]!.payloadBase64!, 'base64').toString(), 'bad');
    });

    it('dlq list --history prints every attempt under its entry, with the session that held its lease', async () => {
      const r = await mailbox(['dlq', 'list', '--history', '--url', server.url, '--token', adminToken]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.length, 3);
      assert.match(lines[2]!, /^  #1  nacked  \S+Z  session s-[0-9a-f]{12}  reason "cannot parse"$/);
      const j = await mailbox(['dlq', 'list', '--json', '--url', server.url, '--token', adminToken]);
      const [entry] = JSON.parse(j.stdout) as Array<{ history: Array<{ attempt: number; outcome: string; session?: string }> }>;
      assert.equal(entry!.history.length, 1);
      assert.match(entry!.history[0]!.session ?? '', /^s-[0-9a-f]{12}$/);
      const wrong = await mailbox(['dlq', 'purge', '--history', '--url', server.url, '--token', adminToken]);
      assert.equal(wrong.code, 2, 'usage error: --history is for dlq list only');
    });

    it('dlq refuses a token without the admin op', async () => {
      const ring = server.ring;
      const sendOnly = mint(ring, { caveats: [{ kind: 'op', ops: ['send'] }] });
      const r = await mailbox(['dlq', 'list', '--url', server.url, '--token', sendOnly]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /E_CAP_SCOPE/);
    });

    it('dlq reprocess moves dead letters back to ready, and purge deletes them', async () => {
      const re = await mailbox(['dlq', 'reprocess', '--topic', 'cli:poison', '--url', server.url, '--token', adminToken]);
      assert.equal(re.code, 0, re.stderr);
      assert.equal(re.stdout.trim(), 'reprocessed 1');
      const [d] = await server.mailbox.recv({ topic: 'cli:poison', maxMessages: 1, waitMs: 5_000 });
      assert.equal(d?.attempt, 1);
      await server.mailbox.nack(d!.msgId, d!.leaseId);
      const purge = await mailbox(['dlq', 'purge', '--url', server.url, '--token', adminToken]);
      assert.equal(purge.stdout.trim(), 'purged 1');
      const empty = await mailbox(['dlq', 'list', '--json', '--url', server.url, '--token', adminToken]);
      assert.deepEqual(JSON.parse(empty.stdout), []);
    });
  });
});
