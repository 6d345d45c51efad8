/**
 * `mailbox keys rotate|list` and `mailbox token revoke` as a user runs them (child processes):
 * --help prints and exits 0 without doing anything, every wrong input exits 2 with the usage,
 * an unreachable server is named with the cause, and against the governance routes the
 * commands revoke, rotate and list without printing a token or a secret.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect, mint } from '../../src/auth/index.ts';
import { freePort } from '../integration/helpers/process.ts';
import { startGovernanceServer, type GovernanceServer } from '../transport/governance-server.ts';
import { mailbox } from './helpers.ts';

const ID = '0123456789abcdef'.repeat(2);

describe('mailbox keys and token revoke', () => {
  let t: GovernanceServer;
  before(async () => {
    t = await startGovernanceServer();
  });
  after(() => t.close());

  it('--help prints the usage and exits 0, contacting nothing', async () => {
    const port = await freePort();
    const runs = await Promise.all([
      ['keys', 'rotate', '--help'],
      ['keys', 'rotate', '--grace', '14d', '-h', '--admin', `http://127.0.0.1:${port}`],
      ['keys', 'list', '--help'],
      ['token', 'revoke', '--help'],
      ['keys', '--help'],
    ].map((args) => mailbox(args).then((r) => ({ args, r }))));
    for (const { args, r } of runs) {
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /^usage: mailbox (keys|token revoke)/, args.join(' '));
      assert.equal(r.stderr, '', args.join(' '));
    }
  });

  it('unknown flags, missing or empty values and bad durations or ids exit 2 with the usage, never echoing a token', async () => {
    const token = mint(t.keys.ring);
    const cases: ReadonlyArray<readonly [readonly string[], RegExp]> = [
      [['keys', 'rotate'], /--grace is required/],
      [['keys', 'rotate', '--grace', ''], /--grace needs a value/],
      [['keys', 'rotate', '--grace='], /--grace needs a value/],
      [['keys', 'rotate', '--grace'], /--grace/],
      [['keys', 'rotate', '--grace', '14'], /--grace must be a duration/],
      [['keys', 'rotate', '--grace', 'soon'], /--grace must be a duration/],
      [['keys', 'rotate', '--grace', '400d'], /at most 365d/],
      [['keys', 'rotate', '--grce', '1d'], /Unknown option '--grce'/],
      [['keys', 'rotate', '--grace', '1d', 'stray'], /[Uu]nexpected argument/],
      [['keys', 'list', '--jsn'], /Unknown option '--jsn'/],
      [['keys', 'list', '--admin', ''], /--admin needs a value/],
      [['keys', 'list', '--admin', 'ftp://x'], /--admin must be a http or https URL/],
      [['keys', 'rotaet'], /unknown subcommand "rotaet"/],
      [['keys'], /missing subcommand/],
      [['token', 'revoke'], /missing argument/],
      [['token', 'revoke', 'xyz'], /a token id is 32 hex digits/],
      [['token', 'revoke', ID, '--expires-at', 'never'], /--expires-at must be/],
      [['token', 'revoke', ID, '--expires-at', ''], /--expires-at needs a value/],
      [['token', 'revoke', ID, '--expire', '1'], /Unknown option '--expire'/],
      [['token', 'revoke', `${token.slice(0, -3)}!!!`], /not a token id|not a well-formed/],
    ];
    const runs = await Promise.all(cases.map(([args, pattern]) => mailbox(args).then((r) => ({ args, pattern, r }))));
    for (const { args, pattern, r } of runs) {
      const what = args.join(' ');
      assert.equal(r.code, 2, `${what}: ${r.stderr}`);
      assert.match(r.stderr, pattern, what);
      assert.match(r.stderr, /\nusage: mailbox (keys|token)/, what);
      assert.equal(r.stdout, '', what);
      assert.ok(!r.stderr.includes(token.slice(5, 40)), `${what}: the token is echoed`);
    }
  });

  it('an unreachable admin port is named with the cause (exit 1)', async () => {
    const port = await freePort();
    for (const args of [['keys', 'list'], ['keys', 'rotate', '--grace', '1d'], ['token', 'revoke', ID]]) {
      const r = await mailbox([...args, '--admin', `http://127.0.0.1:${port}`, '--token', t.adminToken]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, `mailbox ${args[0]}: cannot reach http://127.0.0.1:${port}: connection refused\n`);
    }
  });

  it('revokes by token (only its id goes), rotates with a grace and lists keys without a secret', async () => {
    const admin = ['--admin', t.url, '--token', t.adminToken];
    const expiry = Date.now() + 3_600_000;
    const victim = mint(t.keys.ring, { caveats: [{ kind: 'expiry', at: expiry }] });
    t.authorizer.verify(victim);
    const revoked = await mailbox(['token', 'revoke', victim, ...admin]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const id = inspect(victim).tokenId;
    assert.equal(revoked.stdout, `revoked ${id}@k1 until ${new Date(expiry).toISOString()} (kept in ${join(t.dataDir, 'revoked.json')})\n`);
    assert.throws(() => t.authorizer.verify(victim), /was revoked/);

    const byId = await mailbox(['token', 'revoke', ID, '--expires-at', '2030-01-01T00:00:00Z', ...admin]);
    assert.equal(byId.code, 0, byId.stderr);
    assert.equal(byId.stdout, `revoked ${ID}@? until 2030-01-01T00:00:00.000Z (kept in ${join(t.dataDir, 'revoked.json')})\n`);

    const rotated = await mailbox(['keys', 'rotate', '--grace', '14d', ...admin]);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, /^k2 is the active signing key; tokens of k1 \(and older keys\) verify until \d{4}-\d\d-\d\dT/);

    const listed = await mailbox(['keys', 'list', ...admin]);
    assert.equal(listed.code, 0, listed.stderr);
    const lines = listed.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^KID\s+ACTIVE\s+CREATED\s+AGE\s+GRACE ENDS$/);
    assert.match(lines.find((l) => l.startsWith('k2'))!, /^k2\s+yes\s+\d{4}-/);
    assert.match(lines.find((l) => l.startsWith('k1'))!, /^k1\s+no\s+.*\(in 13d 23h\)$|^k1\s+no\s+.*\(in 14d 0h\)$/);
    const json = await mailbox(['keys', 'list', '--json', ...admin]);
    assert.equal(JSON.parse(json.stdout).active, 'k2');
    const secrets = Object.values((JSON.parse(await readFile(join(t.dataDir, 'keys.json'), 'utf8')) as { keys: Record<string, string> }).keys);
    for (const out of [revoked, byId, rotated, listed, json]) {
      for (const s of secrets) assert.ok(!out.stdout.includes(s) && !out.stderr.includes(s), 'a secret was printed');
      assert.ok(!out.stdout.includes(t.adminToken.slice(5, 40)), 'the admin token was printed');
    }
  });

  it('a refusal by the server names the URL and the wire code, and no token', async () => {
    const revoked = mint(t.keys.ring, { caveats: [{ kind: 'tenant', tenant: '*' }] });
    t.keys.revocations.list.revoke({ id: inspect(revoked).tokenId, revokedAt: Date.now() });
    for (const token of ['mbx1.garbage', revoked]) {
      const r = await mailbox(['keys', 'list', '--admin', t.url, '--token', token]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^mailbox keys: ${t.url}/admin/keys: HTTP 401 E_CAP_AUTH `));
      assert.ok(!r.stderr.includes(token.slice(5)), 'the token is echoed');
    }
  });
});

describe('fail closed: mailbox serve with a key ring it cannot read', () => {
  it('exits 1 naming keys.json, quoting none of it, and serves nothing', { timeout: 60_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mailbox-badkeys-'));
    try {
      // Not JSON from the first byte: JSON.parse's own message would quote the start of the file.
      const secretish = 'c2VjcmV0IGtleSBieXRlcyBub3QgdG8gYmUgcHJpbnRlZA';
      await writeFile(join(dir, 'keys.json'), `${secretish}\n`, { mode: 0o600 });
      const r = await mailbox(['serve', '--data-dir', dir], { MAILBOX_LISTEN: '127.0.0.1:0', MAILBOX_METRICS_ADDR: '127.0.0.1:0' });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`E_CONFIG: signing key file ${join(dir, 'keys.json')} is not valid JSON`));
      assert.ok(!`${r.stdout}${r.stderr}`.includes(secretish.slice(0, 8)), 'the key file was quoted');
      assert.ok(!(await readdir(dir)).includes('admin.token'), 'no token was minted');
      assert.doesNotMatch(r.stdout, /"event":"listening"/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
