import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ANY_TENANT } from '../../src/auth/index.ts';
import { freePort, spawnServe } from './helpers/process.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

/** Every path under `root` (itself included) whose mode lets group or others in. */
async function openToOthers(root: string): Promise<string[]> {
  const found: string[] = [];
  const visit = async (path: string): Promise<void> => {
    const st = await lstat(path);
    if ((st.mode & 0o077) !== 0) found.push(`${path} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const name of await readdir(path)) await visit(join(path, name));
  };
  await visit(root);
  return found;
}

/** Every file under `root`, to show the check saw real LevelDB files. */
async function fileNames(root: string): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) if (entry.isFile()) names.push(entry.name);
  return names;
}

async function postBackup(t: TestServer, out: string): Promise<{ status: number; body: { code?: string; message?: string; out?: string } }> {
  const res = await fetch(`${t.server.adminUrl}/admin/backup?out=${encodeURIComponent(out)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.token([{ kind: 'tenant', tenant: ANY_TENANT }])}` },
  });
  return { status: res.status, body: (await res.json()) as { code?: string; message?: string; out?: string } };
}

describe('files on disk are private to the service account', { timeout: 60_000 }, () => {
  let dir: string;
  let t: TestServer;
  let backupDir: string;
  const oldUmask = process.umask(0o022); // the usual default, whatever the test runner had

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mbx-files-'));
    backupDir = join(dir, 'data', 'backups');
    t = await startTestServer({ config: { amnesia: false, profile: 'macronode', dataDir: join(dir, 'data'), durability: 'relaxed' } });
    const c = await t.client();
    await c.send({ topic: 'files:a', idemKey: 'k1', payload: 'secret payload' });
  });
  after(async () => {
    await t?.stop();
    process.umask(oldUmask);
    await rm(dir, { recursive: true, force: true });
  });

  test('the data dir, the LevelDB store, the keys and the admin token are 0700 / 0600 after a first start', async () => {
    const files = await fileNames(join(dir, 'data'));
    assert.ok(files.includes('CURRENT') && files.some((f) => f.startsWith('MANIFEST-')), `LevelDB files are there: ${files.join(' ')}`);
    assert.ok(files.includes('keys.json') && files.includes('admin.token'));
    assert.deepEqual(await openToOthers(join(dir, 'data')), []);
  });

  test('a backup is written inside backupDir with 0700 directories and 0600 files', async () => {
    const r = await postBackup(t, 'nightly-1');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.out, join(backupDir, 'nightly-1'));
    const files = await fileNames(join(backupDir, 'nightly-1'));
    assert.ok(files.includes('manifest.json') && files.includes('keys.json') && files.includes('CURRENT'), files.join(' '));
    assert.deepEqual(await openToOthers(backupDir), []);
  });

  test('a backup path outside backupDir (.., absolute elsewhere, a symlink out) is refused with 400 and a message', async () => {
    const elsewhere = join(dir, 'elsewhere');
    await mkdir(elsewhere);
    await mkdir(backupDir, { recursive: true });
    await symlink(elsewhere, join(backupDir, 'link-out'));
    for (const out of ['../x', 'a/../../x', join(tmpdir(), 'elsewhere-mbx'), '/tmp/elsewhere', 'link-out/x', '.']) {
      const r = await postBackup(t, out);
      assert.equal(r.status, 400, `${out}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, 'E_SCHEMA', out);
      assert.match(r.body.message ?? '', /backupDir/, out);
    }
    assert.deepEqual(await readdir(elsewhere), [], 'nothing was written through the symlink');
    await assert.rejects(lstat(join(dir, 'data', 'x')), 'nothing was written next to backupDir');
  });
});

test('a group- or world-writable data dir is refused at start with E_CONFIG naming the path and its mode', { timeout: 30_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mbx-files-'));
  try {
    const dataDir = join(dir, 'data');
    await mkdir(dataDir);
    await chmod(dataDir, 0o777);
    await assert.rejects(
      startTestServer({ config: { amnesia: false, profile: 'macronode', dataDir } }),
      (err: unknown) => {
        assert.equal((err as { code?: string }).code, 'E_CONFIG', String(err));
        assert.equal((err as Error).message, `data dir ${dataDir} is group- or world-writable (mode 0777): chmod 700 ${dataDir}`);
        return true;
      },
    );
    assert.deepEqual(await readdir(dataDir), [], 'nothing was written into it');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('`mailbox serve` on a world-writable data dir exits non-zero and says which path, its mode and the chmod to run', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mbx-files-'));
  try {
    const dataDir = join(dir, 'data');
    await mkdir(dataDir);
    await chmod(dataDir, 0o777);
    const proc = spawnServe([], {
      MAILBOX_LISTEN: `127.0.0.1:${await freePort()}`,
      METRICS_ADDR: `127.0.0.1:${await freePort()}`,
      MAILBOX_DATA_DIR: dataDir,
    });
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      proc.exited,
      new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still running'), 40_000))),
    ]).finally(() => clearTimeout(timer));
    if (code === 'still running') {
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
    const said = proc.stdout() + proc.stderr();
    assert.notEqual(code, 'still running', `the server started on a world-writable data dir${said}`);
    assert.notEqual(code, 0, said);
    assert.ok(said.includes(`data dir ${dataDir} is group- or world-writable (mode 0777): chmod 700 ${dataDir}`), said);
    assert.deepEqual(await readdir(dataDir), [], 'nothing was written into it');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
