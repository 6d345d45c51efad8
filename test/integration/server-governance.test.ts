/**
 * The governance routes wired into a real `mailbox serve` (child process, LevelDB data dir):
 * a token revoked with `mailbox token revoke` is refused on the connection that already used
 * it (its verification cached), the revocation survives a restart, and `mailbox keys rotate`
 * keeps old tokens working through the grace while new ones are minted with the new key.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KeyRing, mint } from '../../src/auth/index.ts';
import { MailboxClient, MailboxError } from '../../src/client/index.ts';
import { mailbox, startServerProcess, type ServerProcess } from '../cli/helpers.ts';

describe('governance on a running server', () => {
  const servers: ServerProcess[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const s of servers) s.kill();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  async function serve(data: string): Promise<ServerProcess> {
    const server = await startServerProcess(process.execPath, ['bin/mailbox.mjs', 'serve', '--data-dir', data], {});
    servers.push(server);
    return server;
  }
  async function ringOf(data: string): Promise<KeyRing> {
    const file = JSON.parse(await readFile(join(data, 'keys.json'), 'utf8')) as { activeKid: string; keys: Record<string, string> };
    const ring = new KeyRing(file.activeKid, file.keys[file.activeKid]!);
    for (const [kid, secret] of Object.entries(file.keys)) if (kid !== file.activeKid) ring.add(kid, secret);
    return ring;
  }

  it('revokes a token in use on an open connection, and the deny list survives a restart', async () => {
    const data = await mkdtemp(join(tmpdir(), 'mailbox-gov-'));
    dirs.push(data);
    let server = await serve(data);
    const token = mint(await ringOf(data), { caveats: [{ kind: 'op', ops: ['send', 'recv', 'ack'] }] });
    const client = await MailboxClient.connect(server.url, { token, reconnect: false });
    await client.send({ topic: 'gov', idemKey: 'before', payload: 'x' });
    const env = { MAILBOX_DATA_DIR: data };
    const revoked = await mailbox(['token', 'revoke', token, '--admin', server.adminUrl], env);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.doesNotMatch(revoked.stdout + revoked.stderr, /mbx1\./, 'the token is not printed');
    await assert.rejects(client.send({ topic: 'gov', idemKey: 'after', payload: 'x' }), (e: unknown) => e instanceof MailboxError && e.code === 'E_CAP_AUTH' && /revoked/.test(e.message));
    await client.close();
    server.kill();
    await server.exited;
    server = await serve(data);
    await assert.rejects(MailboxClient.connect(server.url, { token, reconnect: false }).then((c) => c.send({ topic: 'gov', idemKey: 'again', payload: 'x' })), (e: unknown) => e instanceof MailboxError && e.code === 'E_CAP_AUTH');
  });

  it('rotates the signing key: a token of the old key keeps working in the grace, the list shows no secret', async () => {
    const data = await mkdtemp(join(tmpdir(), 'mailbox-gov-rot-'));
    dirs.push(data);
    const server = await serve(data);
    const old = mint(await ringOf(data), { caveats: [{ kind: 'op', ops: ['send'] }] });
    const env = { MAILBOX_DATA_DIR: data };
    const rotated = await mailbox(['keys', 'rotate', '--grace', '1h', '--admin', server.adminUrl], env);
    assert.equal(rotated.code, 0, rotated.stderr);
    const listed = await mailbox(['keys', 'list', '--admin', server.adminUrl], env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /k1/);
    assert.match(listed.stdout, /k2/);
    const secrets = Object.values((JSON.parse(await readFile(join(data, 'keys.json'), 'utf8')) as { keys: Record<string, string> }).keys);
    for (const secret of secrets) assert.ok(!listed.stdout.includes(secret) && !rotated.stdout.includes(secret), 'no secret printed');
    const client = await MailboxClient.connect(server.url, { token: old, reconnect: false });
    await client.send({ topic: 'rot', idemKey: 'old-key', payload: 'x' });
    await client.close();
    const fresh = mint(await ringOf(data), { caveats: [{ kind: 'op', ops: ['send'] }] });
    const c2 = await MailboxClient.connect(server.url, { token: fresh, reconnect: false });
    await c2.send({ topic: 'rot', idemKey: 'new-key', payload: 'x' });
    await c2.close();
  });

  it('a push subscription opened before its token was revoked stops: the connection closes with 4401 at the next delivery and the message goes back', async () => {
    const data = await mkdtemp(join(tmpdir(), 'mailbox-gov-sub-'));
    dirs.push(data);
    const server = await serve(data);
    const ring = await ringOf(data);
    const token = mint(ring, { caveats: [{ kind: 'op', ops: ['recv', 'ack'] }] });
    const got: string[] = [];
    const subscriber = await MailboxClient.connect(server.url, { token, reconnect: false, onError: () => {} });
    subscriber.subscribe({ topic: 'pushed', prefetch: 10 }, async (d) => {
      got.push(d.msgId);
      await d.ack();
    });
    const producer = await MailboxClient.connect(server.url, { token: mint(ring, { caveats: [{ kind: 'op', ops: ['send'] }] }), reconnect: false });
    await producer.send({ topic: 'pushed', idemKey: 'p1', payload: 'before' });
    for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(got.length, 1, 'delivered before the revocation');
    assert.equal((await mailbox(['token', 'revoke', token, '--admin', server.adminUrl], { MAILBOX_DATA_DIR: data })).code, 0);
    await producer.send({ topic: 'pushed', idemKey: 'p2', payload: 'after' });
    for (let i = 0; i < 100 && subscriber.stats().connected; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(subscriber.stats().connected, false, 'the revoked subscriber was cut off');
    assert.equal(got.length, 1, 'nothing delivered to it after the revocation');
    const other = await MailboxClient.connect(server.url, { token: mint(ring, { caveats: [{ kind: 'op', ops: ['recv', 'ack'] }] }), reconnect: false });
    const [back] = await other.recv({ topic: 'pushed', maxMessages: 1, waitMs: 5_000 });
    assert.equal(Buffer.from(back!.payload).toString(), 'after', 'the message it would have got is delivered to a valid token');
    await other.ack(back!.msgId, back!.leaseId);
    await other.close();
    await producer.close();
    await subscriber.close();
  });
});
