import { strict as assert } from 'node:assert';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { it } from 'node:test';
import { ROOT, run } from './helpers.ts';

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

it('every dependency install script is declared in allowScripts, so npm ci is quiet and the native builds still load', async (t) => {
  const ls = await run(NPM, ['install-scripts', 'ls']);
  // npm before 11.x has no install-scripts policy (it runs every script): nothing to declare.
  if (ls.code !== 0 && /Unknown command|unknown command/i.test(ls.stderr + ls.stdout)) {
    t.skip(`this npm has no install-scripts command: ${ls.stderr.trim().split('\n')[0]}`);
    return;
  }
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /No packages with unreviewed install scripts/, ls.stdout);
  const require = createRequire(join(ROOT, 'package.json'));
  for (const native of ['classic-level', 'bufferutil', 'msgpackr-extract']) assert.doesNotThrow(() => require(native), native);
});
