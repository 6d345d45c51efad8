/**
 * The build (scripts/build.mjs) and its freshness rule, on a temp copy of the repository (its
 * sources, bin/, scripts/, node_modules linked): the built CLI serves on plain node, and an
 * edit after the build is never run stale: bin/mailbox.mjs falls back to the sources, and
 * the preload of `npm start` rebuilds first.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync, statSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fingerprint, STAMP, staleReason } from '../../scripts/build-fresh.mjs';
import { ROOT, startServerProcess, type ServerProcess } from '../cli/helpers.ts';

const COPIED = ['src', 'actors', 'supervisors', 'bin', 'scripts', 'package.json', 'tsconfig.json', 'mailbox.config.ts'];

function node(args: readonly string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...args], { cwd, timeout: 120_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('the build in dist/', () => {
  let repo: string;
  const servers: ServerProcess[] = [];
  before(async () => {
    repo = mkdtempSync(join(tmpdir(), 'mailbox-build-'));
    for (const p of COPIED) cpSync(join(ROOT, p), join(repo, p), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(repo, 'node_modules'));
    const built = await node(['scripts/build.mjs', '--quiet'], repo);
    assert.equal(built.code, 0, built.stderr);
  });
  after(() => {
    for (const s of servers) s.kill();
    rmSync(repo, { recursive: true, force: true });
  });

  it('runs on plain node: a server started from dist/mailbox.mjs with the TypeScript config answers /readyz 200', async () => {
    assert.equal(staleReason(repo, join(repo, 'dist')), undefined);
    const stamp = JSON.parse(readFileSync(join(repo, 'dist', STAMP), 'utf8')) as { inputs: Record<string, unknown> };
    assert.ok(Object.hasOwn(stamp.inputs, 'src/cli/serve.ts'), 'the stamp lists the bundle inputs');
    assert.ok(!Object.keys(stamp.inputs).some((f) => f.startsWith('bench/') || f.startsWith('chaos/')), 'bench and chaos are not in the build');
    const data = join(repo, 'var');
    mkdirSync(data, { mode: 0o700 });
    // As npm start passes it: a .ts config, which plain node cannot import by itself.
    const args = [join(repo, 'dist', 'mailbox.mjs'), 'serve', '--config', join(repo, 'mailbox.config.ts')];
    const server = await startServerProcess(process.execPath, args, { MAILBOX_DATA_DIR: join(data, 'd') });
    servers.push(server);
    const health = await fetch(`${server.adminUrl}/readyz`);
    assert.equal(health.status, 200);
    server.signalGroup('SIGTERM');
    assert.equal(await server.exited, 0, server.output());
  });

  it('a source edited after the build never runs stale: bin/mailbox.mjs runs the sources, npm start rebuilds first', async () => {
    const main = join(repo, 'src', 'cli', 'main.ts');
    writeFileSync(main, readFileSync(main, 'utf8').replace('usage: mailbox <command>', 'usage: mailbox-edited <command>'));
    assert.match(staleReason(repo, join(repo, 'dist')) ?? '', /src\/cli\/main\.ts changed/);
    const viaBin = await node([join(repo, 'bin', 'mailbox.mjs'), '--help'], repo);
    assert.match(viaBin.stdout, /usage: mailbox-edited/, 'bin ran the edited sources, not the old build');
    // What `npm start` runs: node --import ./scripts/build-if-stale.mjs bin/mailbox.mjs …
    const start = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.match(start.scripts.start ?? '', /exec node --import \.\/scripts\/build-if-stale\.mjs bin\/mailbox\.mjs serve/);
    const viaStart = await node(['--import', './scripts/build-if-stale.mjs', 'bin/mailbox.mjs', '--help'], repo);
    assert.match(viaStart.stderr, /mailbox build: dist\/mailbox\.mjs in \d+ ms \(src\/cli\/main\.ts changed since the build\)/);
    assert.match(viaStart.stdout, /usage: mailbox-edited/);
    assert.equal(staleReason(repo, join(repo, 'dist')), undefined, 'fresh after the rebuild');
    assert.match(readFileSync(join(repo, 'dist', 'mailbox.mjs'), 'utf8'), /usage: mailbox-edited/);
  });
});

describe('staleReason', () => {
  it('a build is stale when a stamped file is gone or its mtime or size differ, or there is no stamp', () => {
    const root = mkdtempSync(join(tmpdir(), 'mailbox-stamp-'));
    try {
      const out = join(root, 'dist');
      mkdirSync(out);
      assert.equal(staleReason(root, out), 'no build');
      writeFileSync(join(root, 'a.ts'), 'export const a = 1;\n');
      writeFileSync(join(root, 'b.ts'), 'export const b = 2;\n');
      const stamp = (): void => writeFileSync(join(out, STAMP), JSON.stringify({ version: 1, inputs: fingerprint(root, ['a.ts', 'b.ts']) }));
      stamp();
      assert.equal(staleReason(root, out), undefined);
      // An older mtime counts too (a file copied in with its old time), not only a newer one.
      const { mtime } = statSync(join(root, 'a.ts'));
      utimesSync(join(root, 'a.ts'), mtime, new Date(mtime.getTime() - 60_000));
      assert.equal(staleReason(root, out), 'a.ts changed since the build');
      stamp();
      writeFileSync(join(root, 'b.ts'), 'export const b = 22;\n');
      assert.equal(staleReason(root, out), 'b.ts changed since the build');
      stamp();
      unlinkSync(join(root, 'a.ts'));
      assert.equal(staleReason(root, out), 'a.ts is gone');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
