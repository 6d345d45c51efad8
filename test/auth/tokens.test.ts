import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MailboxError } from '../../src/errors.ts';
import { DEFAULT_TENANT, type TenantId } from '../../src/domain/types.ts';
import { ANY_TENANT, KeyRing, attenuate, generateKey, inspect, mint, tokenFingerprint, verify } from '../../src/auth/index.ts';
import { chainSignature, decodeToken, encodeToken } from '../../src/auth/token.ts';

const NOW = 1_700_000_000_000;
const TENANT = '0123456789abcdef0123456789abcdef' as TenantId;
const OTHER_TENANT = 'ffffffffffffffffffffffffffffffff' as TenantId;

function ring(): KeyRing {
  return new KeyRing('k1', generateKey());
}

function rejects(fn: () => unknown, code: 'E_CAP_AUTH' | 'E_CAP_SCOPE' | 'E_SCHEMA'): MailboxError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MailboxError, `expected MailboxError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

/** Re-encodes a token after `edit` changes its decoded bytes. */
function editBytes(token: string, edit: (bytes: Buffer) => void): string {
  const bytes = Buffer.from(token.slice('mbx1.'.length), 'base64url');
  edit(bytes);
  return 'mbx1.' + bytes.toString('base64url');
}

test('a minted token verifies and carries its caveats as a capability', () => {
  const keys = ring();
  const token = mint(keys, {
    caveats: [
      { kind: 'op', ops: ['send', 'recv'] },
      { kind: 'topic', pattern: 'user:42:*' },
      { kind: 'tenant', tenant: TENANT },
      { kind: 'expiry', at: NOW + 60_000 },
      { kind: 'quota', perSecond: 50 },
    ],
  });
  assert.match(token, /^mbx1\.[A-Za-z0-9_-]+$/);
  const cap = verify(keys, token, NOW);
  assert.deepEqual([...cap.ops].sort(), ['recv', 'send']);
  assert.deepEqual(cap.topics, [{ kind: 'prefix', value: 'user:42:' }]);
  assert.equal(cap.tenant, TENANT);
  assert.equal(cap.expiry, NOW + 60_000);
  assert.equal(cap.quota, 50);
  assert.equal(cap.kid, 'k1');
  assert.equal(cap.tokenId, inspect(token).tokenId);
  cap.authorize('send', 'user:42:inbox', TENANT);
  cap.authorize('recv', 'user:42:outbox', TENANT);
});

test('a token minted without caveats may do everything, admin included, for the default tenant', () => {
  const keys = ring();
  const cap = verify(keys, mint(keys), NOW);
  for (const op of ['send', 'recv', 'ack', 'nack', 'admin'] as const) cap.authorize(op, 'any:topic', DEFAULT_TENANT);
  cap.authorize('admin', undefined, DEFAULT_TENANT);
});

test('a token minted without a tenant cannot act for another tenant, nor across tenants, and acts for the default tenant', () => {
  const keys = ring();
  const token = mint(keys, { caveats: [{ kind: 'op', ops: ['send', 'ack'] }] });
  assert.deepEqual(inspect(token).caveats[0], { kind: 'tenant', tenant: DEFAULT_TENANT }, 'mint signs the default tenant in');
  const cap = verify(keys, token, NOW);
  assert.equal(cap.tenant, DEFAULT_TENANT);
  cap.authorize('send', 't', DEFAULT_TENANT);
  cap.authorizeLease('ack', DEFAULT_TENANT);
  const err = rejects(() => cap.authorize('send', 't', TENANT), 'E_CAP_SCOPE');
  assert.match(err.message, new RegExp(TENANT));
  rejects(() => cap.authorizeLease('ack', TENANT), 'E_CAP_SCOPE');
  rejects(() => cap.authorize('send', 't'), 'E_CAP_SCOPE');
  // Whoever holds it may append a tenant caveat, which narrows: it never rebinds the token to that tenant.
  const moved = verify(keys, attenuate(token, { kind: 'tenant', tenant: TENANT }), NOW);
  rejects(() => moved.authorize('send', 't', TENANT), 'E_CAP_SCOPE');
  rejects(() => moved.authorize('send', 't', DEFAULT_TENANT), 'E_CAP_SCOPE');
});

test('a tenant=* token acts for every tenant and across tenants; attenuated to one tenant, only for it', () => {
  const keys = ring();
  const token = mint(keys, { caveats: [{ kind: 'tenant', tenant: ANY_TENANT }] });
  const cap = verify(keys, token, NOW);
  assert.equal(cap.tenant, ANY_TENANT);
  for (const tenant of [DEFAULT_TENANT, TENANT, OTHER_TENANT]) cap.authorize('admin', undefined, tenant);
  cap.authorize('admin');
  const narrowed = verify(keys, attenuate(token, { kind: 'tenant', tenant: TENANT }), NOW);
  narrowed.authorize('send', 't', TENANT);
  rejects(() => narrowed.authorize('send', 't', OTHER_TENANT), 'E_CAP_SCOPE');
  rejects(() => narrowed.authorize('admin'), 'E_CAP_SCOPE');
  const again = verify(keys, attenuate(attenuate(token, { kind: 'tenant', tenant: TENANT }), { kind: 'tenant', tenant: ANY_TENANT }), NOW);
  rejects(() => again.authorize('send', 't', OTHER_TENANT), 'E_CAP_SCOPE');
});

test('attenuation narrows a topic prefix to one exact topic without the root key', () => {
  const keys = ring();
  const broad = mint(keys, { caveats: [{ kind: 'topic', pattern: 'user:42:*' }] });
  const narrow = attenuate(broad, { kind: 'topic', pattern: 'user:42:inbox' });
  const broadCap = verify(keys, broad, NOW);
  broadCap.authorize('recv', 'user:42:outbox', DEFAULT_TENANT);
  const cap = verify(keys, narrow, NOW);
  cap.authorize('recv', 'user:42:inbox', DEFAULT_TENANT);
  rejects(() => cap.authorize('recv', 'user:42:outbox', DEFAULT_TENANT), 'E_CAP_SCOPE');
  assert.equal(cap.tokenId, broadCap.tokenId);
});

test('an attenuated token cannot widen: op=admin after op=send still forbids admin', () => {
  const keys = ring();
  const sendOnly = mint(keys, { caveats: [{ kind: 'op', ops: ['send'] }] });
  const attempt = attenuate(sendOnly, { kind: 'op', ops: ['admin'] });
  const cap = verify(keys, attempt, NOW);
  assert.deepEqual([...cap.ops], ['send']);
  const err = rejects(() => cap.authorize('admin'), 'E_CAP_SCOPE');
  assert.match(err.message, /operation admin/);
  rejects(() => cap.authorize('recv', 'user:1:inbox', DEFAULT_TENANT), 'E_CAP_SCOPE');
  cap.authorize('send', 'user:1:inbox', DEFAULT_TENANT);
});

test('a topic outside every topic caveat is refused with E_CAP_SCOPE naming the topic, never the token', () => {
  const keys = ring();
  const token = attenuate(mint(keys), { kind: 'topic', pattern: 'user:42:inbox' });
  const cap = verify(keys, token, NOW);
  const err = rejects(() => cap.authorize('send', 'user:43:inbox', DEFAULT_TENANT), 'E_CAP_SCOPE');
  assert.match(err.message, /user:43:inbox/);
  assert.ok(!err.message.includes(token.slice(5, 20)));
  rejects(() => cap.authorize('send', undefined, DEFAULT_TENANT), 'E_CAP_SCOPE');
});

test('another tenant is refused with E_CAP_SCOPE', () => {
  const keys = ring();
  const cap = verify(keys, mint(keys, { caveats: [{ kind: 'tenant', tenant: TENANT }] }), NOW);
  cap.authorize('send', 't', TENANT);
  rejects(() => cap.authorize('send', 't', OTHER_TENANT), 'E_CAP_SCOPE');
  rejects(() => cap.authorize('send', 't'), 'E_CAP_SCOPE');
});

test('two different tenant caveats allow no tenant at all', () => {
  const keys = ring();
  const token = attenuate(mint(keys, { caveats: [{ kind: 'tenant', tenant: TENANT }] }), {
    kind: 'tenant',
    tenant: OTHER_TENANT,
  });
  const cap = verify(keys, token, NOW);
  rejects(() => cap.authorize('send', 't', TENANT), 'E_CAP_SCOPE');
  rejects(() => cap.authorize('send', 't', OTHER_TENANT), 'E_CAP_SCOPE');
});

test('the earliest expiry and the lowest quota win', () => {
  const keys = ring();
  let token = mint(keys, { caveats: [{ kind: 'expiry', at: NOW + 1000 }, { kind: 'quota', perSecond: 10 }] });
  token = attenuate(token, { kind: 'expiry', at: NOW + 5000 });
  token = attenuate(token, { kind: 'quota', perSecond: 100 });
  token = attenuate(token, { kind: 'quota', perSecond: 2.5 });
  const cap = verify(keys, token, NOW);
  assert.equal(cap.expiry, NOW + 1000);
  assert.equal(cap.quota, 2.5);
});

test('an expired token is refused with E_CAP_AUTH, from its expiry instant on', () => {
  const keys = ring();
  const token = mint(keys, { caveats: [{ kind: 'expiry', at: NOW }] });
  verify(keys, token, NOW - 1);
  rejects(() => verify(keys, token, NOW), 'E_CAP_AUTH');
  rejects(() => verify(keys, token, NOW + 1), 'E_CAP_AUTH');
  const shortened = attenuate(mint(keys, { caveats: [{ kind: 'expiry', at: NOW + 10_000 }] }), { kind: 'expiry', at: NOW - 1 });
  rejects(() => verify(keys, shortened, NOW), 'E_CAP_AUTH');
});

test('a forged token is refused with E_CAP_AUTH: any decoded byte flipped', () => {
  const keys = ring();
  const token = attenuate(mint(keys, { caveats: [{ kind: 'op', ops: ['send'] }] }), { kind: 'topic', pattern: 'a:b' });
  const length = Buffer.from(token.slice(5), 'base64url').length;
  for (let i = 0; i < length; i++) {
    for (const mask of [0x01, 0x80, 0xff]) {
      const forged = editBytes(token, (b) => {
        b[i] = b[i]! ^ mask;
      });
      rejects(() => verify(keys, forged, NOW), 'E_CAP_AUTH');
    }
  }
});

test('a forged token is refused with E_CAP_AUTH: a caveat dropped', () => {
  const keys = ring();
  const token = attenuate(mint(keys, { caveats: [{ kind: 'op', ops: ['send'] }] }), { kind: 'topic', pattern: 'user:1:inbox' });
  const raw = decodeToken(token)!;
  for (let i = 0; i < raw.caveats.length; i++) {
    const dropped = encodeToken({ ...raw, caveats: raw.caveats.filter((_, j) => j !== i) });
    rejects(() => verify(keys, dropped, NOW), 'E_CAP_AUTH');
  }
  rejects(() => verify(keys, encodeToken({ ...raw, caveats: [] }), NOW), 'E_CAP_AUTH');
});

test('a forged token is refused with E_CAP_AUTH: KID swapped, even to a KID with the same secret', () => {
  const secret = generateKey();
  const keys = new KeyRing('k1', secret);
  keys.add('k2', secret);
  keys.add('k3', generateKey());
  const raw = decodeToken(mint(keys))!;
  rejects(() => verify(keys, encodeToken({ ...raw, kid: 'k2' }), NOW), 'E_CAP_AUTH');
  rejects(() => verify(keys, encodeToken({ ...raw, kid: 'k3' }), NOW), 'E_CAP_AUTH');
});

test('a token of an unknown KID is refused with E_CAP_AUTH', () => {
  const token = mint(new KeyRing('elsewhere', generateKey()));
  rejects(() => verify(ring(), token, NOW), 'E_CAP_AUTH');
  rejects(() => verify(new KeyRing('elsewhere', generateKey()), token, NOW), 'E_CAP_AUTH');
});

test('a correctly signed caveat of an unknown kind is refused with E_CAP_AUTH (fail closed)', () => {
  const secret = generateKey();
  const keys = new KeyRing('k1', secret);
  const raw = decodeToken(mint(keys))!;
  for (const caveat of ['ip=10.0.0.1', 'op=send,publish', 'expiry=soon', 'quota=0', 'topic=a*b', 'tenant=XYZ', 'noequals']) {
    const caveats = [caveat];
    const sig = chainSignature(Buffer.from(secret, 'base64'), raw.tokenId, raw.kid, caveats);
    rejects(() => verify(keys, encodeToken({ ...raw, caveats, sig }), NOW), 'E_CAP_AUTH');
  }
});

test('malformed text is refused with E_CAP_AUTH and never echoed', () => {
  const keys = ring();
  const token = mint(keys);
  for (const bad of ['', 'mbx1.', 'mbx2.' + token.slice(5), token.slice(5), token + '=', token + 'A', token.slice(0, -1), token.replace('mbx1.', 'MBX1.')]) {
    const err = rejects(() => verify(keys, bad, NOW), 'E_CAP_AUTH');
    if (bad.length > 5) assert.ok(!err.message.includes(bad.slice(5, 25)));
  }
});

test('invalid caveats are refused when minting or attenuating', () => {
  const keys = ring();
  rejects(() => mint(keys, { caveats: [{ kind: 'op', ops: [] }] }), 'E_SCHEMA');
  rejects(() => mint(keys, { caveats: [{ kind: 'topic', pattern: 'a*b' }] }), 'E_SCHEMA');
  rejects(() => attenuate(mint(keys), { kind: 'quota', perSecond: 0 }), 'E_SCHEMA');
  rejects(() => attenuate(mint(keys), { kind: 'expiry', at: 1.5 }), 'E_SCHEMA');
  rejects(() => attenuate('mbx1.nope', { kind: 'op', ops: ['send'] }), 'E_CAP_AUTH');
});

test('a token stops accepting caveats at 64 caveats or 4096 bytes', () => {
  const keys = ring();
  let token = mint(keys); // one caveat already: its tenant
  for (let i = 0; i < 63; i++) token = attenuate(token, { kind: 'quota', perSecond: 1000 - i });
  rejects(() => attenuate(token, { kind: 'quota', perSecond: 1 }), 'E_SCHEMA');
  assert.equal(verify(keys, token, NOW).quota, 938);
  let big = mint(keys);
  const pattern = 'x'.repeat(500) + '*';
  rejects(() => {
    for (let i = 0; i < 64; i++) big = attenuate(big, { kind: 'topic', pattern });
  }, 'E_SCHEMA');
  verify(keys, big, NOW);
});

test('inspect reads id, KID and caveats without a key and without the signature', () => {
  const keys = ring();
  const token = mint(keys, { caveats: [{ kind: 'op', ops: ['recv', 'ack'] }] });
  const info = inspect(token);
  assert.match(info.tokenId, /^[0-9a-f]{32}$/);
  assert.equal(info.kid, 'k1');
  assert.deepEqual(info.caveats, [{ kind: 'tenant', tenant: DEFAULT_TENANT }, { kind: 'op', ops: ['recv', 'ack'] }]);
  assert.deepEqual(Object.keys(info).sort(), ['caveats', 'kid', 'tokenId']);
});

test('tokenFingerprint shows token id and KID only, never any part of the token', () => {
  const keys = ring();
  const token = attenuate(mint(keys, { caveats: [{ kind: 'op', ops: ['send'] }] }), { kind: 'topic', pattern: 'user:42:inbox' });
  const fp = tokenFingerprint(token);
  const raw = decodeToken(token)!;
  assert.equal(fp, `${raw.tokenId.toString('hex')}@k1`);
  assert.ok(!fp.includes(token));
  const body = token.slice(5);
  for (let i = 0; i + 8 <= body.length; i++) assert.ok(!fp.includes(body.slice(i, i + 8)), 'fingerprint shares text with the token');
  assert.ok(!fp.includes(raw.sig.toString('hex').slice(0, 8)));
  assert.ok(!fp.includes('user:42'));
  assert.equal(verify(keys, token, NOW).fingerprint, fp);
  assert.equal(tokenFingerprint('mbx1.garbage'), 'malformed');
  assert.equal(tokenFingerprint('secret-looking-text'), 'malformed');
});
