/**
 * `mailbox policy`: check a file offline (line and key of each problem), show and reload a
 * running server's policy over the admin port, and strict usage.
 */
import { strict as assert } from 'node:assert';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mailbox, startServerProcess, type ServerProcess } from './helpers.ts';

const TENANT = 'c'.repeat(32);

describe('mailbox policy', () => {
  let dir: string;
  let server: ServerProcess | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mailbox-policy-cli-'));
  });
  after(async () => {
    server?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  it('check says ok for a good file and names the line and key of every problem in a bad one (exit 1)', async () => {
    const good = join(dir, 'good.json');
    await writeFile(good, JSON.stringify({ tenants: { [TENANT]: { sendPerSecond: 50 } } }));
    const ok = await mailbox(['policy', 'check', good]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /good\.json: ok \(1 tenants, 0 active presets\)/);
    const bad = join(dir, 'bad.json');
    await writeFile(bad, `{\n  "tenants": {\n    "${TENANT}": { "sendPerSecond": -5 }\n  },\n  "preset": {}\n}\n`);
    const r = await mailbox(['policy', 'check', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, new RegExp(`bad\\.json:3: tenants\\.${TENANT}\\.sendPerSecond: must be a number`));
    assert.match(r.stdout, /bad\.json:5: preset: is not a known key/);
  });

  it('usage errors exit 2 and --help exits 0 without starting anything', async () => {
    for (const args of [['policy'], ['policy', 'bogus'], ['policy', 'check'], ['policy', 'show', 'extra'], ['policy', 'show', '--admn', 'x'], ['policy', 'reload', '--admin', '']]) {
      const r = await mailbox(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /usage: mailbox policy/);
    }
    const help = await mailbox(['policy', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /check FILE/);
  });

  it('show prints the policy in force and reload applies an edited file (admin token); a bad edit is refused with its reason', async () => {
    const file = join(dir, 'live.json');
    await writeFile(file, JSON.stringify({ tenants: { [TENANT]: { sendPerSecond: 10 } } }));
    await chmod(file, 0o600);
    const data = join(dir, 'data');
    server = await startServerProcess(process.execPath, ['bin/mailbox.mjs', 'serve', '--data-dir', data], { MAILBOX_POLICY_FILE: file });
    const env = { MAILBOX_DATA_DIR: data };
    const url = server.adminUrl;
    const shown = await mailbox(['policy', 'show', '--admin', url], env);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /"sendPerSecond": 10/);
    await writeFile(file, JSON.stringify({ tenants: { [TENANT]: { sendPerSecond: 99 } } }));
    const reloaded = await mailbox(['policy', 'reload', '--admin', url], env);
    assert.equal(reloaded.code, 0, reloaded.stderr);
    assert.match(reloaded.stdout, /1 change\(s\)\n {2}tenants\.cccccccc….sendPerSecond: 10 → 99/);
    await writeFile(file, '{ "tenants": 5 }');
    const refused = await mailbox(['policy', 'reload', '--admin', url], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /HTTP 409: E_CONFIG: policy reload refused, the cached policy stays: line 1, tenants: must be an object/);
    assert.match((await mailbox(['policy', 'show', '--admin', url], env)).stdout, /"sendPerSecond": 99/);
    const unauthorized = await mailbox(['policy', 'reload', '--admin', url, '--token', 'mbx1.nope']);
    assert.equal(unauthorized.code, 1);
  });
});
