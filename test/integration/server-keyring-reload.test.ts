/**
 * keys.json rewritten under a running server (what another instance's `mailbox keys rotate`
 * does to a shared file): the new KID verifies within the check period, the old one through
 * its grace and not after; an unreadable file keeps cached verifications for the TTL, then
 * refuses with E_UNAVAILABLE, and service resumes when the file is back.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { generateKey, KeyRing, mint } from '../../src/auth/index.ts';
import { MailboxClient, MailboxError } from '../../src/client/index.ts';
import { readKeyFile, writeKeyFile } from '../../src/transport/key-file.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

async function until(what: string, check: () => boolean | Promise<boolean>, deadlineMs = 5_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function sends(url: string, token: string, idemKey: string): Promise<string> {
  const client = await MailboxClient.connect(url, { token, reconnect: false }).catch((e: unknown) => e);
  if (!(client instanceof MailboxClient)) return client instanceof MailboxError ? client.code : String(client);
  try {
    await client.send({ topic: 'rot', idemKey, payload: 'x' });
    return 'ok';
  } catch (e) {
    return e instanceof MailboxError ? e.code : String(e);
  } finally {
    await client.close();
  }
}

describe('key ring reload on a running server', () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });
  async function serve(): Promise<{ t: TestServer; file: string }> {
    const dataDir = await mkdtemp(join(tmpdir(), 'mailbox-keyreload-'));
    const t = await startTestServer({ config: { amnesia: false, dataDir, auth: { capCacheTtlMs: 300 } } });
    cleanup.push(async () => {
      await t.stop();
      await rm(dataDir, { recursive: true, force: true });
    });
    return { t, file: join(dataDir, 'keys.json') };
  }

  it('follows a rotation written by another process: new KID at once, old KID through its grace, not after', async () => {
    const { t, file } = await serve();
    const data = (await readKeyFile(file))!;
    const oldRing = new KeyRing(data.activeKid, data.keys[data.activeKid]!);
    const oldToken = mint(oldRing, {});
    const secret = generateKey();
    const graceEndsAt = Date.now() + 1_500;
    await writeKeyFile(file, { activeKid: 'k2', keys: { ...data.keys, k2: secret }, info: { [data.activeKid]: { retireAt: graceEndsAt }, k2: { createdAt: Date.now() } } });
    await until('the server to adopt k2', () => t.server.ring.active === 'k2');
    const newToken = mint(new KeyRing('k2', secret), {});
    assert.equal(await sends(t.server.url, newToken, 'new'), 'ok');
    assert.equal(await sends(t.server.url, oldToken, 'old-in-grace'), 'ok');
    await until('the grace to end', () => Date.now() >= graceEndsAt + 50);
    assert.equal(await sends(t.server.url, oldToken, 'old-after'), 'E_CAP_AUTH');
    assert.match(await t.metrics(), /keyring_reload_failures_total 0/);
  });

  it('fails closed while keys.json is unreadable: cached within the TTL, then E_UNAVAILABLE, then back by itself', async () => {
    const { t, file } = await serve();
    const client = await t.client();
    await client.send({ topic: 'fc', idemKey: 'a', payload: 'x' });
    await rename(file, `${file}.away`);
    const failing = async () => (await t.metrics()).includes('keyring_reload_failures_total 1');
    await until('the failure to be noticed', failing);
    // A fresh token (never verified) needs the ring: refused at once.
    assert.equal(await sends(t.server.url, t.token([{ kind: 'op', ops: ['send'] }]), 'fresh'), 'E_UNAVAILABLE');
    // The open connection's cached verification lapses after the TTL: then it is refused too.
    await until('cached verification to lapse', async () => {
      try {
        await client.send({ topic: 'fc', idemKey: `b${Date.now()}`, payload: 'x' });
        return false;
      } catch (e) {
        assert.ok(e instanceof MailboxError && e.code === 'E_UNAVAILABLE', String(e));
        assert.match(e.message, /key ring .*keys\.json cannot be read: no such file/);
        return true;
      }
    });
    await rename(`${file}.away`, file);
    await chmod(file, 0o600);
    await until('service to resume', async () => (await sends(t.server.url, t.adminToken, `c${Date.now()}`)) === 'ok');
  });
});
