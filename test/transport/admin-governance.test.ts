/**
 * The governance routes over real HTTP: admin token for every tenant required, strict bodies,
 * a revocation that bites on the next request of a cached token, a rotation, and key
 * listings without secrets.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect, mint } from '../../src/auth/index.ts';
import { MailboxError } from '../../src/errors.ts';
import { startGovernanceServer, type GovernanceServer } from './governance-server.ts';

describe('admin governance routes', () => {
  let t: GovernanceServer;
  before(async () => {
    t = await startGovernanceServer();
  });
  after(() => t.close());

  const call = async (method: string, path: string, body?: unknown, token: string | undefined = t.adminToken): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`${t.url}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('refuses without a token, with a token that is not an admin token for every tenant, and on the wrong method', async () => {
    assert.equal((await call('GET', '/admin/keys', undefined, '')).status, 401);
    const narrow = mint(t.keys.ring, { caveats: [{ kind: 'op', ops: ['admin'] }] }); // default tenant only
    assert.equal((await call('POST', '/admin/revoke', { id: 'a'.repeat(32) }, narrow)).status, 403);
    const wrong = await call('GET', '/admin/revoke');
    assert.equal(wrong.status, 405);
    assert.equal((await call('POST', '/admin/keys')).status, 405);
  });

  it('refuses bodies it cannot use with 400 and a message naming the field', async () => {
    for (const [path, body, pattern] of [
      ['/admin/revoke', 'not json', /JSON object/],
      ['/admin/revoke', {}, /^id:/],
      ['/admin/revoke', { id: 'xyz' }, /32 hex digits/],
      ['/admin/revoke', { id: 'a'.repeat(32), expiresAt: 'soon' }, /expiresAt/],
      ['/admin/keys/rotate', {}, /^graceMs:/],
      ['/admin/keys/rotate', { graceMs: -5 }, /graceMs must be/],
    ] as const) {
      const r = await call('POST', path, body);
      assert.equal(r.status, 400, `${path} ${JSON.stringify(body)}`);
      assert.equal(r.body.code, 'E_SCHEMA');
      assert.match(String(r.body.message), pattern);
    }
  });

  it('POST /admin/revoke refuses a cached token on its next request and learns its KID and expiry from the cache', async () => {
    const expiry = Date.now() + 3_600_000;
    const token = mint(t.keys.ring, { caveats: [{ kind: 'expiry', at: expiry }] });
    t.authorizer.verify(token);
    const id = inspect(token).tokenId;
    const r = await call('POST', '/admin/revoke', { id });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.revoked, { id, kid: 'k1', expiresAt: expiry, revokedAt: (r.body.revoked as { revokedAt: number }).revokedAt });
    assert.equal(r.body.savedTo, join(t.dataDir, 'revoked.json'));
    assert.throws(() => t.authorizer.verify(token), (err: unknown) => err instanceof MailboxError && err.code === 'E_CAP_AUTH' && /was revoked/.test(err.message));
    assert.ok((await readFile(join(t.dataDir, 'revoked.json'), 'utf8')).includes(id));
  });

  it('GET /admin/keys and POST /admin/keys/rotate answer KIDs and times, never a secret', async () => {
    const rotated = await call('POST', '/admin/keys/rotate', { graceMs: 60_000 });
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    assert.equal(rotated.body.active, 'k2');
    const listed = await call('GET', '/admin/keys', undefined, (await readFile(join(t.dataDir, 'admin.token'), 'utf8')).trim());
    assert.equal(listed.status, 200);
    assert.deepEqual((listed.body.keys as Array<{ kid: string }>).map((k) => k.kid).sort(), ['k1', 'k2']);
    const secrets = Object.values((JSON.parse(await readFile(join(t.dataDir, 'keys.json'), 'utf8')) as { keys: Record<string, string> }).keys);
    const text = JSON.stringify([rotated.body, listed.body]);
    for (const s of secrets) assert.ok(!text.includes(s));
  });
});
