/**
 * TLS on both ports (issue 16): a self-signed certificate for 127.0.0.1/localhost made here with
 * openssl, a real server with `tls`, and the SDK, node's https and the `mailbox` CLI against it,
 * with and without the CA. Plus the start-time checks of the files.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MailboxClient, MailboxError } from '../../src/client/index.ts';
import { resolveConfig } from '../../src/config/resolve.ts';
import { startServer } from '../../src/transport/server.ts';
import { mailbox, spawnMailbox } from '../cli/helpers.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let dir: string;
let certFile: string;
let keyFile: string;
let ca: Buffer;

/** GET over https with `ca` trusted (fetch takes no CA); resolves with the status and body. */
function httpsJson(url: string, trusted?: Buffer): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(url, { ...(trusted ? { ca: trusted } : {}), agent: false, timeout: 5_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (s: string) => (text += s));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer in 5 s`)));
    req.on('error', reject);
  });
}

/** Config that needs nothing but the files: amnesia, ephemeral loopback ports, quiet. */
function configWith(tls: { certFile?: string; keyFile?: string }) {
  return resolveConfig({ amnesia: true, listen: '127.0.0.1:0', metricsAddr: '127.0.0.1:0', logLevel: 'silent', shards: 2 }, { tls });
}

async function rejectsConfig(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof MailboxError, `expected a MailboxError, got ${String(err)}`);
    assert.equal(err.code, 'E_CONFIG', err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailbox-tls-'));
  certFile = join(dir, 'cert.pem');
  keyFile = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: 'ignore' });
  await chmod(keyFile, 0o600);
  ca = await readFile(certFile);
});
after(() => rm(dir, { recursive: true, force: true }));

describe('a server started with tls', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ config: { tls: { certFile, keyFile } }, captureLogs: true });
  });
  after(() => t.stop());

  it('names wss:// and https:// URLs in its handle and its listening and ready log lines', () => {
    assert.match(t.server.url, /^wss:\/\/127\.0\.0\.1:\d+$/);
    assert.match(t.server.adminUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    const ready = t.logs.find((l) => l.event === 'ready');
    assert.equal(ready?.url, t.server.url);
    assert.equal(ready?.adminUrl, t.server.adminUrl);
    assert.ok(t.logs.some((l) => l.event === 'listening' && String(l.msg).includes(`wss://`)), 'listening says wss://');
    assert.ok(t.logs.some((l) => l.event === 'admin_listening' && String(l.msg).includes(`https://`)), 'admin_listening says https://');
  });

  it('round-trips SEND, RECV and ACK over wss with the CA given to the SDK', async () => {
    const client = await t.client({ ca });
    const { msgId } = await client.send({ topic: 'tls:rt', idemKey: 'one', payload: 'over tls' });
    const [d] = await client.recv({ topic: 'tls:rt', visibilityMs: 30_000, waitMs: 5_000 });
    assert.ok(d, 'one delivery');
    assert.equal(d.msgId, msgId);
    assert.equal(Buffer.from(d.payload).toString('utf8'), 'over tls');
    await client.ack(d.msgId, d.leaseId);
    // Settled: a second ACK of the same lease finds nothing.
    await assert.rejects(client.ack(d.msgId, d.leaseId), (err: unknown) => err instanceof MailboxError && err.code === 'E_NOT_FOUND');
  });

  it('refuses the SDK without the CA with a typed E_UNAVAILABLE naming the URL, promptly', async () => {
    const started = performance.now();
    await assert.rejects(
      MailboxClient.connect(t.server.url, { token: t.adminToken, reconnect: false, connectTimeoutMs: 5_000 }),
      (err: unknown) => {
        assert.ok(err instanceof MailboxError, String(err));
        assert.equal(err.code, 'E_UNAVAILABLE');
        assert.ok(err.message.includes(t.server.url), err.message);
        assert.match(err.message, /self-signed certificate/);
        return true;
      },
    );
    assert.ok(performance.now() - started < 4_000, 'fails on the certificate, not on a timeout');
  });

  it('answers /readyz over https to a client that trusts the CA, and refuses one that does not', async () => {
    const ok = await httpsJson(`${t.server.adminUrl}/readyz`, ca);
    assert.equal(ok.status, 200);
    assert.equal((ok.body as { state?: string }).state, 'ready');
    await assert.rejects(httpsJson(`${t.server.adminUrl}/readyz`), (err: NodeJS.ErrnoException) => err.code === 'DEPTH_ZERO_SELF_SIGNED_CERT');
    // The listener's HTTPS server answers a plain request as ws's own server does.
    const plain = await new Promise<number>((resolve, reject) => {
      httpsGet(`${t.server.url.replace('wss:', 'https:')}/`, { ca, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.equal(plain, 426);
  });

  it('mailbox ready --ca FILE succeeds; without --ca it exits 1 naming the URL and suggesting --ca', async () => {
    const withCa = await mailbox(['ready', '--admin', t.server.adminUrl, '--ca', certFile], {}, 30_000);
    assert.equal(withCa.code, 0, withCa.stderr);
    assert.equal(withCa.stdout, `${t.server.adminUrl}/readyz: ready\n`);
    const without = await mailbox(['ready', '--admin', t.server.adminUrl], {}, 30_000);
    assert.equal(without.code, 1, without.stderr);
    assert.equal(without.stderr, `mailbox ready: cannot reach ${t.server.adminUrl}: self-signed certificate (pass --ca FILE)\n`);
  });

  it('mailbox tree --ca FILE reads the state dump over https', async () => {
    const r = await mailbox(['tree', '--admin', t.server.adminUrl, '--ca', certFile, '--json'], {}, 30_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { path: string }).path, '/root');
  });

  it('mailbox dlq list over wss: --ca FILE works, without it the error names the URL', async () => {
    const withCa = await mailbox(['dlq', 'list', '--url', t.server.url, '--ca', certFile, '--token', t.adminToken, '--json'], {}, 30_000);
    assert.equal(withCa.code, 0, withCa.stderr);
    const without = await mailbox(['dlq', 'list', '--url', t.server.url, '--token', t.adminToken], {}, 30_000);
    assert.equal(without.code, 1, without.stderr);
    assert.match(without.stderr, new RegExp(`^mailbox dlq: cannot reach ${t.server.url.replaceAll('.', '\\.')}: .*self-signed certificate.*\\(pass --ca FILE\\)\\n$`));
  });

  // Last in this suite: it drains the server.
  it('mailbox tail --ca streams events over https until mailbox drain --ca (POST over https) ends them', { timeout: 60_000 }, async () => {
    const tail = spawnMailbox(['tail', '--admin', t.server.adminUrl, '--ca', certFile]);
    try {
      const deadline = performance.now() + 20_000;
      while (!tail.stdout().includes('"type":"Readiness"') && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(tail.stdout().includes('"type":"Readiness"'), `tail printed the first event: ${tail.stderr()}`);
      const drain = await mailbox(['drain', '--admin', t.server.adminUrl, '--ca', certFile, '--token', t.adminToken], {}, 30_000);
      assert.equal(drain.code, 0, drain.stderr);
      assert.equal(await tail.exited, 0, tail.stderr());
      assert.match(tail.stderr(), /is draining; event stream closed/);
    } finally {
      tail.child.kill('SIGKILL');
    }
  });
});

describe('the mailbox CLI and --ca', () => {
  it('lists --ca in --help and refuses an empty --ca or an unreadable file', async () => {
    const help = await mailbox(['ready', '--help'], {}, 30_000);
    assert.match(help.stdout, /--ca FILE/);
    const empty = await mailbox(['ready', '--admin', 'https://127.0.0.1:1', '--ca', ''], {}, 30_000);
    assert.equal(empty.code, 2, empty.stderr);
    assert.match(empty.stderr, /^mailbox ready: --ca needs a value/);
    const missing = await mailbox(['ready', '--admin', 'https://127.0.0.1:1', '--ca', join(dir, 'nope.pem')], {}, 30_000);
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, /E_CONFIG: --ca .*nope\.pem cannot be read \(ENOENT\)/);
  });
});

describe('the tls files are checked at start', () => {
  it('refuses a key file readable by others (mode 0644), naming the file and the fix', async () => {
    const loose = join(dir, 'loose-key.pem');
    await writeFile(loose, await readFile(keyFile), { mode: 0o644 });
    await chmod(loose, 0o644);
    await rejectsConfig(
      startServer({ config: configWith({ certFile, keyFile: loose }) }),
      new RegExp(`tls\\.keyFile ${loose.replaceAll('.', '\\.')} is readable by others \\(mode 0644\\): chmod 600 ${loose.replaceAll('.', '\\.')}`),
    );
  });

  it('refuses a certificate without a key (and a key without a certificate) with E_CONFIG naming the missing key', async () => {
    await rejectsConfig(Promise.resolve().then(() => configWith({ certFile })), /tls\.keyFile must be set when tls\.certFile is/);
    await rejectsConfig(Promise.resolve().then(() => configWith({ keyFile })), /tls\.certFile must be set when tls\.keyFile is/);
    // A hand-built configuration that skipped resolveConfig is refused at start just the same.
    const half = { ...configWith({}), tls: { certFile, keyFile: '' } };
    await rejectsConfig(startServer({ config: half }), /tls\.keyFile must be set/);
  });

  it('refuses a file that does not exist, a certificate that is not one, and a key of another certificate, naming the file', async () => {
    const gone = join(dir, 'missing.pem');
    await rejectsConfig(startServer({ config: configWith({ certFile: gone, keyFile }) }), new RegExp(`tls\\.certFile ${gone.replaceAll('.', '\\.')} cannot be read \\(no such file\\)`));
    const junk = join(dir, 'junk.pem');
    await writeFile(junk, 'not a certificate\n');
    await rejectsConfig(startServer({ config: configWith({ certFile: junk, keyFile }) }), new RegExp(`tls\\.certFile ${junk.replaceAll('.', '\\.')} is not a PEM certificate`));
    const otherKey = join(dir, 'other-key.pem');
    const otherCert = join(dir, 'other-cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', otherKey, '-out', otherCert, '-days', '1', '-subj', '/CN=other'], { stdio: 'ignore' });
    await chmod(otherKey, 0o600);
    await rejectsConfig(startServer({ config: configWith({ certFile, keyFile: otherKey }) }), new RegExp(`tls\\.keyFile ${otherKey.replaceAll('.', '\\.')} does not belong to tls\\.certFile`));
  });

  it('reads the files from MAILBOX_TLS__CERT_FILE and MAILBOX_TLS__KEY_FILE', async () => {
    const { configFromEnv } = await import('../../src/config/env.ts');
    const config = resolveConfig(configFromEnv({ MAILBOX_TLS__CERT_FILE: certFile, MAILBOX_TLS__KEY_FILE: keyFile }));
    assert.deepEqual(config.tls, { certFile, keyFile });
  });
});
