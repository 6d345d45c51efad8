import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listValue, parseCommand, UsageError, type CommandSpec } from '../../src/cli/args.ts';
import { mailbox } from './helpers.ts';

const SPEC = {
  command: 'demo',
  usage: 'usage: mailbox demo [--name N] [--tag T …] [--json]',
  options: { name: { type: 'string' }, tag: { type: 'string', multiple: true }, json: { type: 'boolean' } },
} as const satisfies CommandSpec<Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>>;

function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${String(err)}`);
    assert.equal(err.command, 'demo');
    assert.equal(err.usage, SPEC.usage);
    return err.message;
  }
  assert.fail('expected a UsageError');
}

describe('the CLI argument parser', () => {
  it('refuses an unknown flag, a missing value, an empty value, a value on a boolean and a stray positional', () => {
    assert.match(usageMessage(() => parseCommand(SPEC, ['--nmae', 'x'])), /Unknown option '--nmae'/);
    assert.match(usageMessage(() => parseCommand(SPEC, ['--names', 'x'])), /did you mean --name\?/);
    assert.match(usageMessage(() => parseCommand(SPEC, ['--name'])), /argument missing/);
    assert.match(usageMessage(() => parseCommand(SPEC, ['--name', ''])), /--name needs a value/);
    assert.match(usageMessage(() => parseCommand(SPEC, ['--name='])), /--name needs a value/);
    assert.match(usageMessage(() => parseCommand(SPEC, ['--tag', 'a', '--tag', ''])), /--tag needs a value/);
    assert.match(usageMessage(() => parseCommand(SPEC, ['--json=yes'])), /does not take an argument/);
    assert.match(usageMessage(() => parseCommand(SPEC, ['extra'])), /Unexpected argument 'extra'/);
    assert.match(usageMessage(() => listValue(SPEC, 'tag', ['a,'])), /empty item/);
  });

  it('keeps every value of a repeated flag and of a comma list, in order', () => {
    const parsed = parseCommand(SPEC, ['--tag', 'a', '--tag=b,c', '--name', 'n', '--json']);
    assert.ok(parsed);
    assert.deepEqual(parsed.values, { tag: ['a', 'b,c'], name: 'n', json: true });
    assert.deepEqual(listValue(SPEC, 'tag', parsed.values.tag), ['a', 'b', 'c']);
  });
});

describe('every mailbox command', () => {
  let dir: string;
  let env: Record<string, string>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mailbox-help-'));
    // A data dir that does not exist yet: a command that starts anything would create it.
    env = { MAILBOX_DATA_DIR: join(dir, 'data') };
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const HELP: ReadonlyArray<readonly string[]> = [
    ['serve'], ['tree'], ['tail'], ['dlq'], ['dlq', 'list'], ['token'], ['token', 'mint'], ['token', 'attenuate'], ['token', 'inspect'],
    ['backup'], ['restore'], ['chaos'], ['bench'], ['ready'], ['drain'],
  ];

  it('--help prints its usage on stdout, exits 0 and starts nothing', async () => {
    for (const cmd of HELP) {
      for (const flag of ['--help', '-h']) {
        // A serve that started would never exit: a short timeout makes that a failure, not a hang.
        const r = await mailbox([...cmd, flag], env, 20_000);
        assert.equal(r.code, 0, `${cmd.join(' ')} ${flag}: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`^usage: mailbox ${cmd[0]}`), `${cmd.join(' ')} ${flag}`);
        assert.equal(r.stderr, '', `${cmd.join(' ')} ${flag}`);
      }
    }
    assert.equal(existsSync(env.MAILBOX_DATA_DIR!), false, 'no data dir, keys or token written');
    assert.deepEqual(await readdir(dir), []);
  });

  it('refuses an unknown flag with exit 2, the command name and its usage line (serve --port 1234 starts nothing)', async () => {
    const serve = await mailbox(['serve', '--port', '1234'], env, 20_000);
    assert.equal(serve.code, 2, serve.stderr);
    assert.match(serve.stderr, /^mailbox serve: Unknown option '--port'\nusage: mailbox serve /);
    assert.equal(serve.stdout, '');
    for (const cmd of [['tree'], ['tail'], ['dlq', 'list'], ['token', 'mint'], ['backup'], ['restore'], ['chaos'], ['bench']]) {
      const r = await mailbox([...cmd, '--frobnicate'], env, 20_000);
      assert.equal(r.code, 2, `${cmd.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^mailbox ${cmd.join(' ')}: Unknown option '--frobnicate'\\nusage: mailbox ${cmd[0]}`), cmd.join(' '));
      assert.equal(r.stdout, '', cmd.join(' '));
    }
    assert.equal(existsSync(env.MAILBOX_DATA_DIR!), false);
  });
});
