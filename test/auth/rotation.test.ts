/**
 * Key rotation as an operator command: a new KID becomes active (saved to keys.json first,
 * 0600, atomically), the old one verifies until the grace ends and is then refused and
 * dropped; `caps.rotate` empties the verification cache; listings carry no secret; and a key
 * ring that cannot be read stops the start instead of verifying anything (fail closed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailboxError } from '../../src/errors.ts';
import { generateKey, inspect, KeyRing, mint } from '../../src/auth/index.ts';
import { EventBus } from '../../src/bus/bus.ts';
import type { MailboxEvents } from '../../src/bus/events.ts';
import { resolveConfig } from '../../src/config/resolve.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { Authorizer } from '../../src/transport/authorizer.ts';
import { bootstrapKeys } from '../../src/transport/bootstrap-keys.ts';
import { KeyRotation, nextKid } from '../../src/transport/key-rotation.ts';

const DAY = 86_400_000;
const logger = createLogger({ level: 'silent' });

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mailbox-rotate-'));
  try {
    await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function refusal(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof MailboxError ? `${err.code}: ${err.message}` : String(err);
  }
  return undefined;
}

/** Every secret keys.json holds, to look for in what must not contain one. */
async function secretsIn(path: string): Promise<string[]> {
  return Object.values((JSON.parse(await readFile(path, 'utf8')) as { keys: Record<string, string> }).keys);
}

test('with a grace, old and new tokens verify; after it the old one is refused and its key dropped, also after a restart', async () => {
  await withDir(async (dataDir) => {
    let now = 1_764_000_000_000;
    const clock = (): number => now;
    const config = resolveConfig({ dataDir });
    const bus = new EventBus<MailboxEvents>();
    const rotated: Array<MailboxEvents['caps.rotate']> = [];
    bus.subscribe('caps.rotate', (e) => rotated.push(e));
    const boot = await bootstrapKeys(config, logger, { bus, clock });
    const authorizer = new Authorizer(boot.ring, 30_000, { denyList: boot.revocations.list, bus, clock });
    const oldToken = mint(boot.ring, { caveats: [{ kind: 'op', ops: ['send'] }] });
    const oldAdmin = (await readFile(boot.adminTokenFile!, 'utf8')).trim();
    authorizer.verify(oldToken);

    const result = await boot.rotation.rotate(14 * DAY);
    assert.equal(result.active, 'k2');
    assert.equal(result.previous, 'k1');
    assert.equal(result.graceEndsAt, now + 14 * DAY);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(rotated, [{ kid: 'k2', previous: 'k1', graceEndsAt: now + 14 * DAY }]);

    const keysFile = join(dataDir, 'keys.json');
    assert.equal((await stat(keysFile)).mode & 0o777, 0o600);
    assert.ok(!(await readdir(dataDir)).some((n) => n.endsWith('.tmp')), 'no temp file left');
    const stored = JSON.parse(await readFile(keysFile, 'utf8')) as { activeKid: string; keys: Record<string, string>; info: Record<string, { retireAt?: number }> };
    assert.equal(stored.activeKid, 'k2');
    assert.equal(Buffer.from(stored.keys.k2!, 'base64').length, 32, 'a new secret of 32 random bytes');
    assert.equal(stored.info.k1!.retireAt, now + 14 * DAY);

    const newToken = mint(boot.ring);
    assert.equal(inspect(newToken).kid, 'k2');
    const newAdmin = (await readFile(boot.adminTokenFile!, 'utf8')).trim();
    assert.equal(inspect(newAdmin).kid, 'k2', 'the admin token file now holds a token of the new key');
    now += 13 * DAY;
    for (const t of [oldToken, oldAdmin, newToken, newAdmin]) assert.equal(refusal(() => authorizer.verify(t)), undefined);

    // A restart inside the grace keeps both keys.
    const again = await bootstrapKeys(config, logger, { clock });
    assert.deepEqual(again.ring.list().map((k) => [k.kid, k.active]).sort(), [['k1', false], ['k2', true]]);
    assert.equal(again.ring.list().find((k) => k.kid === 'k1')!.retireAt, now + DAY);

    now += DAY; // the grace has ended
    assert.match(refusal(() => authorizer.verify(oldToken))!, /^E_CAP_AUTH: .*unknown or retired key/);
    assert.match(refusal(() => authorizer.verify(oldAdmin))!, /^E_CAP_AUTH/);
    assert.equal(refusal(() => authorizer.verify(newToken)), undefined);
    const listed = await boot.rotation.list();
    assert.deepEqual(listed.keys.map((k) => k.kid), ['k2'], 'the old key is dropped');
    assert.deepEqual(Object.keys((JSON.parse(await readFile(keysFile, 'utf8')) as { keys: object }).keys), ['k2'], 'and gone from keys.json');
    const restarted = await bootstrapKeys(config, logger, { clock });
    assert.deepEqual(restarted.ring.list().map((k) => k.kid), ['k2']);
    assert.match(refusal(() => new Authorizer(restarted.ring, 30_000, { clock }).verify(oldToken))!, /^E_CAP_AUTH/);
  });
});

test('the caps.rotate event empties the verification cache', async () => {
  const ring = new KeyRing('k1', generateKey());
  const bus = new EventBus<MailboxEvents>();
  const authorizer = new Authorizer(ring, 30_000, { bus });
  authorizer.verify(mint(ring));
  authorizer.verify(mint(ring));
  assert.equal(authorizer.cache.stats().size, 2);
  bus.publish('caps.rotate', { kid: 'k2', previous: 'k1', graceEndsAt: 0 });
  await new Promise((r) => setImmediate(r));
  assert.equal(authorizer.cache.stats().size, 0);
  authorizer.cache.dispose();
});

test('keys list and a rotation answer show KIDs, activity, age and grace end, never a secret', async () => {
  await withDir(async (dataDir) => {
    let now = 1_764_000_000_000;
    const boot = await bootstrapKeys(resolveConfig({ dataDir }), logger, { clock: () => now });
    now += 2 * DAY;
    const rotation = await boot.rotation.rotate(DAY);
    now += 1000;
    const listed = await boot.rotation.list();
    assert.deepEqual(listed, {
      active: 'k2',
      keys: [
        { kid: 'k1', active: false, createdAt: now - 1000 - 2 * DAY, ageMs: 2 * DAY + 1000, graceEndsAt: now - 1000 + DAY },
        { kid: 'k2', active: true, createdAt: now - 1000, ageMs: 1000 },
      ],
    });
    const shown = JSON.stringify([listed, rotation]);
    for (const secret of await secretsIn(join(dataDir, 'keys.json'))) {
      assert.ok(!shown.includes(secret), 'no secret in the answers');
      assert.ok(!shown.includes(Buffer.from(secret, 'base64').toString('hex')), 'nor its hex');
    }
  });
});

test('a rotation that cannot be saved changes nothing; keys from auth.keys are not rotated here', async () => {
  await withDir(async (dir) => {
    // keys.json's directory is a file: the write fails.
    await writeFile(join(dir, 'not-a-dir'), '');
    const ring = new KeyRing('k1', generateKey());
    const rotation = new KeyRotation({ ring, source: { kind: 'file', path: join(dir, 'not-a-dir', 'keys.json'), data: { activeKid: 'k1', keys: { k1: generateKey() }, info: {} } } });
    await assert.rejects(rotation.rotate(DAY), /cannot write the signing key file .*keys\.json: E[A-Z]+; the keys are unchanged/);
    assert.equal(ring.active, 'k1');
    assert.deepEqual(ring.list(), [{ kid: 'k1', active: true }]);

    const configured = new KeyRotation({ ring, source: { kind: 'config' } });
    await assert.rejects(configured.rotate(DAY), (err: unknown) => err instanceof MailboxError && err.code === 'E_CONFIG' && /auth\.keys/.test(err.message));
    await assert.rejects(rotation.rotate(-1), /graceMs must be/);
    assert.deepEqual((await configured.list()).keys, [{ kid: 'k1', active: true }]);
  });
});

test('new KIDs follow the active one: k1 → k2, key-9 → key-10, main → main-2, skipping taken ones', () => {
  assert.equal(nextKid('k1', () => false), 'k2');
  assert.equal(nextKid('key-9', () => false), 'key-10');
  assert.equal(nextKid('main', () => false), 'main-2');
  assert.equal(nextKid('k1', (k) => k === 'k2'), 'k3');
});

test('fail closed: a keys.json that cannot be read or makes no valid ring stops the start, naming the file and never quoting it', async () => {
  await withDir(async (dataDir) => {
    const keysFile = join(dataDir, 'keys.json');
    const secret = generateKey();
    const cases: Array<[string, string | 'dir']> = [
      ['not JSON', `{"activeKid":"k1","keys":{"k1":"${secret}"`],
      ['JSON that is not a ring', `"${secret}"`],
      ['no active key', `{"activeKid":"k9","keys":{"k1":"${secret}"}}`],
      ['a secret too short', `{"activeKid":"k1","keys":{"k1":"${secret.slice(0, 20)}"}}`],
      ['unreadable (a directory)', 'dir'],
    ];
    const config = resolveConfig({ dataDir });
    for (const [what, content] of cases) {
      await rm(keysFile, { recursive: true, force: true });
      if (content === 'dir') await mkdir(keysFile);
      else await writeFile(keysFile, content, { mode: 0o600 });
      await assert.rejects(bootstrapKeys(config, logger), (err: unknown) => {
        assert.ok(err instanceof MailboxError && err.code === 'E_CONFIG', `${what}: ${String(err)}`);
        assert.ok(err.message.includes(keysFile), `${what}: ${err.message}`);
        assert.ok(!err.message.includes(secret.slice(0, 12)), `${what}: the message quotes the secret: ${err.message}`);
        return true;
      });
      // Nothing was minted or written over the broken ring.
      assert.deepEqual((await readdir(dataDir)).sort(), ['keys.json'], what);
    }
  });
});
