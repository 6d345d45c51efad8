import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { DEFAULT_CONFIG } from '../../src/config/config.ts';
import { loadConfig } from '../../src/config/load.ts';
import { resolveConfig } from '../../src/config/resolve.ts';
import { MailboxError } from '../../src/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'mailbox-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const configModule = pathToFileURL(join(import.meta.dirname, '../../src/config/config.ts')).href;
let fileCount = 0;
function configFile(body: string): string {
  const path = join(dir, `mailbox-${++fileCount}.config.ts`);
  writeFileSync(path, `import { defineConfig } from ${JSON.stringify(configModule)};\nexport default defineConfig(${body});\n`);
  return path;
}

function configError(key: string) {
  return (err: unknown) => err instanceof MailboxError && err.code === 'E_CONFIG' && err.message.includes(key);
}

describe('loadConfig', () => {
  it('with nothing given returns the defaults', async () => {
    assert.deepEqual(await loadConfig({ env: {}, flags: {} }), DEFAULT_CONFIG);
  });

  it('layers flags over environment over file over defaults', async () => {
    const file = configFile(`{ shards: 4, logLevel: 'warn', listen: '0.0.0.0:1000', queue: { maxAttempts: 2, backoffBaseMs: 10 } }`);
    const env = { MAILBOX_SHARDS: '16', LOG_LEVEL: 'debug', MAILBOX_QUEUE__MAX_ATTEMPTS: '7' };
    const flags = { shards: 32 };
    const config = await loadConfig({ file, env, flags });
    assert.equal(config.shards, 32, 'flag beats env and file');
    assert.equal(config.logLevel, 'debug', 'env beats file');
    assert.equal(config.queue.maxAttempts, 7, 'nested env beats file');
    assert.equal(config.listen, '0.0.0.0:1000', 'file beats default');
    assert.equal(config.queue.backoffBaseMs, 10, 'file beats default (nested)');
    assert.equal(config.queue.backoffMaxMs, DEFAULT_CONFIG.queue.backoffMaxMs, 'untouched nested keys keep their default');
    assert.equal(config.metricsAddr, DEFAULT_CONFIG.metricsAddr);
  });

  it('reads the file named by RON_CONFIG when no file is passed, and the passed file wins over it', async () => {
    const fromEnv = configFile(`{ shards: 3 }`);
    const passed = configFile(`{ shards: 5 }`);
    assert.equal((await loadConfig({ env: { RON_CONFIG: fromEnv }, flags: {} })).shards, 3);
    assert.equal((await loadConfig({ file: passed, env: { RON_CONFIG: fromEnv }, flags: {} })).shards, 5);
  });

  it('does not read ./mailbox.config.ts unless asked', async () => {
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    writeFileSync(join(cwd, 'mailbox.config.ts'), 'export default { shards: 3 };\n');
    const config = await loadConfig({ env: {}, flags: {}, cwd });
    assert.deepEqual(config, DEFAULT_CONFIG);
  });

  it('fails naming the key when the file holds an invalid value', async () => {
    const file = configFile(`{ queue: { maxAttempts: 0 } }`);
    await assert.rejects(loadConfig({ file, env: {}, flags: {} }), configError('queue.maxAttempts'));
  });

  it('fails naming the key when a flag is invalid', async () => {
    await assert.rejects(loadConfig({ env: {}, flags: { durability: 'eventually' as never } }), configError('durability'));
  });

  it('fails naming an unknown key in the file', async () => {
    const file = configFile(`{ queue: { maxAttempt: 3 } } as never`);
    await assert.rejects(loadConfig({ file, env: {}, flags: {} }), configError('queue.maxAttempt'));
  });

  it('fails with E_CONFIG naming a file that does not exist', async () => {
    const missing = join(dir, 'nope.config.ts');
    await assert.rejects(loadConfig({ file: missing, env: {}, flags: {} }), configError(missing));
  });

  it('fails when the file has no default export object', async () => {
    const path = join(dir, 'no-default.config.ts');
    writeFileSync(path, 'export const shards = 4;\n');
    await assert.rejects(loadConfig({ file: path, env: {}, flags: {} }), configError('export default'));
  });

  it('AMNESIA=on selects micronode and amnesia over a macronode file', async () => {
    const file = configFile(`{ profile: 'macronode', amnesia: false }`);
    const config = await loadConfig({ file, env: { AMNESIA: 'on' }, flags: {} });
    assert.equal(config.profile, 'micronode');
    assert.equal(config.amnesia, true);
  });

  it('AMNESIA=off selects macronode over a micronode file', async () => {
    const file = configFile(`{ profile: 'micronode' }`);
    const config = await loadConfig({ file, env: { AMNESIA: 'off' }, flags: {} });
    assert.equal(config.profile, 'macronode');
    assert.equal(config.amnesia, false);
  });
});

describe('resolveConfig', () => {
  it('refuses keys inherited from Object.prototype', () => {
    assert.throws(() => resolveConfig({ constructor: 1 } as never), configError('constructor'));
    assert.throws(() => resolveConfig(JSON.parse('{"__proto__": {"shards": 2}}')), configError('__proto__'));
  });

  it('accepts the top-level mailbox.config.ts and it equals the defaults', async () => {
    const config = await loadConfig({ file: join(import.meta.dirname, '../../mailbox.config.ts'), env: {}, flags: {} });
    assert.deepEqual(config, DEFAULT_CONFIG);
  });
});
