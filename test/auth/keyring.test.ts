import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect as utilInspect } from 'node:util';
import { MailboxError } from '../../src/errors.ts';
import { KeyRing, generateKey, mint, verify } from '../../src/auth/index.ts';

const NOW = 1_700_000_000_000;

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof MailboxError ? err.code : `not a MailboxError: ${String(err)}`;
  }
  return undefined;
}

test('generateKey returns base64 of 32 random bytes, different every time', () => {
  const a = generateKey();
  assert.equal(Buffer.from(a, 'base64').length, 32);
  assert.equal(Buffer.from(a, 'base64').toString('base64'), a);
  assert.notEqual(a, generateKey());
});

test('a secret shorter than 32 bytes or a bad KID is refused with E_CONFIG', () => {
  assert.equal(code(() => new KeyRing('k1', Buffer.alloc(31))), 'E_CONFIG');
  assert.equal(code(() => new KeyRing('k 1', generateKey())), 'E_CONFIG');
  assert.equal(code(() => new KeyRing('', generateKey())), 'E_CONFIG');
  const ring = new KeyRing('k1', generateKey());
  assert.equal(code(() => ring.add('k1', generateKey())), 'E_CONFIG');
});

test('a ring built from config mints with the active KID and verifies every key', () => {
  const keys = { old: generateKey(), cur: generateKey() };
  const ring = KeyRing.fromConfig({ keys, activeKid: 'cur' });
  assert.equal(ring.active, 'cur');
  const oldToken = mint(KeyRing.fromConfig({ keys, activeKid: 'old' }));
  assert.equal(verify(ring, oldToken, NOW).kid, 'old');
  assert.equal(verify(ring, mint(ring), NOW).kid, 'cur');
  assert.equal(code(() => KeyRing.fromConfig({ keys, activeKid: 'missing' })), 'E_CONFIG');
});

test('after rotation the old key verifies within the grace period and fails after it', () => {
  const ring = new KeyRing('k1', generateKey());
  const oldToken = mint(ring);
  ring.rotate('k2', generateKey(), 60_000, NOW);
  assert.equal(ring.active, 'k2');
  const newToken = mint(ring);
  assert.equal(verify(ring, newToken, NOW).kid, 'k2');
  assert.equal(verify(ring, oldToken, NOW).kid, 'k1');
  assert.equal(verify(ring, oldToken, NOW + 59_999).kid, 'k1');
  assert.equal(code(() => verify(ring, oldToken, NOW + 60_000)), 'E_CAP_AUTH');
  assert.equal(verify(ring, newToken, NOW + 10 * 60_000).kid, 'k2');
});

test('a second rotation never extends an older key beyond its first grace', () => {
  const ring = new KeyRing('k1', generateKey());
  const t1 = mint(ring);
  ring.rotate('k2', generateKey(), 10_000, NOW);
  const t2 = mint(ring);
  ring.rotate('k3', generateKey(), 60_000, NOW + 5_000);
  assert.equal(code(() => verify(ring, t1, NOW + 10_000)), 'E_CAP_AUTH');
  assert.equal(verify(ring, t2, NOW + 64_999).kid, 'k2');
  assert.equal(code(() => verify(ring, t2, NOW + 65_000)), 'E_CAP_AUTH');
});

test('pruning drops keys past their grace and tells listeners', () => {
  const ring = new KeyRing('k1', generateKey());
  let changes = 0;
  ring.onChange(() => changes++);
  ring.rotate('k2', generateKey(), 1_000, NOW);
  assert.equal(changes, 1);
  assert.equal(ring.prune(NOW + 999), 0);
  assert.equal(ring.prune(NOW + 1_000), 1);
  assert.equal(changes, 2);
  assert.deepEqual(ring.list(), [{ kid: 'k2', active: true }]);
});

test('a key ring never shows its secrets in JSON or util.inspect', () => {
  const secret = generateKey();
  const ring = new KeyRing('k1', secret);
  const hex = Buffer.from(secret, 'base64').toString('hex');
  for (const shown of [JSON.stringify(ring), utilInspect(ring, { depth: 10, showHidden: true })]) {
    assert.ok(!shown.includes(secret));
    assert.ok(!shown.includes(hex.slice(0, 16)));
    assert.match(shown, /k1/);
  }
});
