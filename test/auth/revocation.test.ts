/**
 * Revocation by token id: the deny list bites on a cached token inside the cache's ttl (on the
 * next request, and for every token attenuated from it), survives a reload from
 * `revoked.json` (0600, written atomically), and drops entries once they cannot matter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailboxError } from '../../src/errors.ts';
import { attenuate, DenyList, generateKey, inspect, KeyRing, mint, parseTokenRef, verify, VerificationCache, type Capability } from '../../src/auth/index.ts';
import { Revocations } from '../../src/transport/revocations.ts';

const NOW = 1_700_000_000_000;
const HOUR = 3_600_000;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof MailboxError ? `${err.code}: ${err.message}` : String(err);
  }
  return undefined;
}

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mailbox-revoke-'));
  try {
    await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a cached token is refused on its next use once its id is revoked, inside the ttl, and so is every token attenuated from it', () => {
  const ring = new KeyRing('k1', generateKey());
  const denyList = new DenyList();
  let now = NOW;
  let verifications = 0;
  const cache = new VerificationCache(ring, {
    ttlMs: 30_000,
    clock: () => now,
    denyList,
    verify: (r: KeyRing, t: string, at: number): Capability => {
      verifications++;
      return verify(r, t, at);
    },
  });
  const token = mint(ring, { caveats: [{ kind: 'op', ops: ['send'] }] });
  const narrower = attenuate(token, { kind: 'topic', pattern: 'jobs' });
  const cap = cache.verify(token);
  cache.verify(narrower);
  assert.equal(cache.verify(token), cap, 'a hit');
  assert.equal(verifications, 2);

  now += 1_000; // well inside the 30 s ttl: the entry is still cached
  denyList.revoke({ id: cap.tokenId, revokedAt: now });
  assert.match(codeOf(() => cache.verify(token))!, new RegExp(`^E_CAP_AUTH: capability token ${cap.tokenId}@k1 was revoked$`));
  assert.equal(verifications, 2, 'refused from the cache entry, not by verifying again');
  assert.match(codeOf(() => cache.verify(narrower))!, /^E_CAP_AUTH: .* was revoked$/);
  // Not cached as good afterwards: every later use is refused too.
  assert.match(codeOf(() => cache.verify(token))!, /was revoked/);
  const other = mint(ring);
  assert.equal(codeOf(() => cache.verify(other)), undefined, 'other tokens are untouched');
});

test('a revocation with an expiry lapses at it; one naming a KID lapses when the key leaves the ring', () => {
  const list = new DenyList();
  list.revoke({ id: 'a'.repeat(32), expiresAt: NOW + HOUR, revokedAt: NOW });
  list.revoke({ id: 'b'.repeat(32), kid: 'k1', revokedAt: NOW });
  list.revoke({ id: 'c'.repeat(32), revokedAt: NOW });
  assert.ok(list.isRevoked('a'.repeat(32), NOW + HOUR - 1));
  assert.ok(!list.isRevoked('a'.repeat(32), NOW + HOUR));
  assert.equal(list.prune(NOW + HOUR, (kid) => kid !== 'k1'), 2);
  assert.deepEqual(list.list().map((e) => e.id), ['c'.repeat(32)], 'an entry with neither expiry nor KID stays');
  // Revoking again never shortens: no expiry beats one.
  list.revoke({ id: 'c'.repeat(32), expiresAt: NOW, revokedAt: NOW + 5 });
  assert.deepEqual(list.list(), [{ id: 'c'.repeat(32), revokedAt: NOW }]);
});

test('token ids are 32 hex digits, optionally @KID; anything else is refused without being repeated', () => {
  assert.deepEqual(parseTokenRef('AB'.repeat(16)), { id: 'ab'.repeat(16) });
  assert.deepEqual(parseTokenRef(`${'ab'.repeat(16)}@k2`), { id: 'ab'.repeat(16), kid: 'k2' });
  const token = mint(new KeyRing('k1', generateKey()));
  for (const bad of ['', 'ab', `${'ab'.repeat(16)}@`, `${'ab'.repeat(16)}@bad kid`, token]) {
    const message = codeOf(() => parseTokenRef(bad))!;
    assert.match(message, /^E_SCHEMA: a token id is 32 hex digits/);
    if (bad.length > 0) assert.ok(!message.includes(bad), 'the input is not echoed');
  }
});

test('the deny list survives a reload from revoked.json (0600, atomic) and drops entries that expired or whose key is gone', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'revoked.json');
    const ring = new KeyRing('k1', generateKey());
    ring.add('k0', generateKey());
    let now = NOW;
    const clock = (): number => now;
    const first = await Revocations.open({ ring, path, clock });
    const token = mint(ring, { caveats: [{ kind: 'expiry', at: NOW + 2 * HOUR }] });
    const info = inspect(token);
    await first.revoke({ id: info.tokenId, kid: 'k1', expiresAt: NOW + 2 * HOUR });
    await first.revoke({ id: 'a'.repeat(32), expiresAt: NOW + HOUR });
    await first.revoke({ id: 'b'.repeat(32), kid: 'k0' });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir), ['revoked.json'], 'no temp file left behind');
    const saved = JSON.parse(await readFile(path, 'utf8')) as { version: number; revoked: Array<{ id: string }> };
    assert.equal(saved.version, 1);
    assert.equal(saved.revoked.length, 3);
    assert.ok(!(await readFile(path, 'utf8')).includes(token.slice(5, 30)), 'the file holds ids, never tokens');

    // A restart an hour and a half later, after k0 was dropped from the ring.
    now = NOW + 1.5 * HOUR;
    const ring2 = new KeyRing('k1', generateKey());
    const second = await Revocations.open({ ring: ring2, path, clock });
    assert.deepEqual(second.list.list().map((e) => e.id), [info.tokenId], 'the expired entry and the one of the dropped key are gone');
    assert.ok(second.list.isRevoked(info.tokenId, now));

    // Through a cache on the reloaded list, the token is still refused.
    const cache = new VerificationCache(ring, { clock, denyList: second.list });
    assert.match(codeOf(() => cache.verify(token))!, /was revoked/);
  });
});

test('a revoked.json that cannot be read stops the start (E_CONFIG naming the file, never quoting it)', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'revoked.json');
    const ring = new KeyRing('k1', generateKey());
    for (const text of ['{"version":1,"revoked":[{"id":"SECRETISH', '{"version":2,"revoked":[]}', '{"version":1,"revoked":[{"id":"zz"}]}']) {
      await writeFile(path, text, { mode: 0o600 });
      await assert.rejects(Revocations.open({ ring, path }), (err: unknown) => {
        assert.ok(err instanceof MailboxError && err.code === 'E_CONFIG', String(err));
        assert.ok(err.message.includes(path), err.message);
        assert.ok(!err.message.includes('SECRETISH'), err.message);
        return true;
      });
    }
  });
});

test('a KID the ring does not hold is refused (a typo would make the entry lapse at once)', async () => {
  const ring = new KeyRing('k1', generateKey());
  const revocations = await Revocations.open({ ring });
  await assert.rejects(revocations.revoke({ id: 'e'.repeat(32), kid: 'k9' }), (err: unknown) => err instanceof MailboxError && err.code === 'E_NOT_FOUND' && /KID k9 is not in the key ring/.test(err.message));
  assert.equal(revocations.list.size, 0);
  await revocations.revoke({ id: 'e'.repeat(32), kid: 'k1' });
  assert.ok(revocations.list.isRevoked('e'.repeat(32), Date.now()));
});

test('in amnesia mode (no path) revocations hold in memory and nothing is written', async () => {
  await withDir(async (dir) => {
    const ring = new KeyRing('k1', generateKey());
    const revocations = await Revocations.open({ ring });
    await revocations.revoke({ id: 'd'.repeat(32) });
    assert.equal(revocations.where, 'memory');
    assert.ok(revocations.list.isRevoked('d'.repeat(32), Date.now()));
    assert.deepEqual(await readdir(dir), []);
  });
});
