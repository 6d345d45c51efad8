import { strict as assert } from 'node:assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateKey, inspect, KeyRing, mint } from '../../src/auth/index.ts';
import { mailbox } from './helpers.ts';

describe('mailbox token', () => {
  let dir: string;
  let env: Record<string, string>;
  let base: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mailbox-token-'));
    const secret = generateKey();
    await writeFile(join(dir, 'keys.json'), JSON.stringify({ activeKid: 'k1', keys: { k1: secret } }), { mode: 0o600 });
    env = { MAILBOX_DATA_DIR: dir };
    base = mint(new KeyRing('k1', secret), { caveats: [{ kind: 'op', ops: ['send', 'recv'] }] });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('mint never prints a token for a mistyped flag, a missing or empty value, or --help', async () => {
    const refused: ReadonlyArray<readonly string[]> = [
      ['--ops', 'send'],
      ['--op', ''],
      ['--op='],
      ['--op'],
      ['--op', 'send,'],
      ['--op', 'sned'],
      ['--topic', ''],
      ['--ttl', 'soon'],
      ['--quota', 'lots'],
      ['--tenant', 'x'],
      ['--op', 'send', 'stray'],
    ];
    for (const args of refused) {
      const r = await mailbox(['token', 'mint', ...args], env);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.doesNotMatch(r.stdout, /mbx1\./, args.join(' '));
      assert.match(r.stderr, /^mailbox token mint: .+\nusage: mailbox token mint /, args.join(' '));
    }
    for (const help of ['--help', '-h']) {
      const r = await mailbox(['token', 'mint', help], env);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /mbx1\./);
      assert.match(r.stdout, /^usage: mailbox token mint /);
    }
  });

  it('attenuate and inspect refuse the same mistakes and print no token', async () => {
    for (const args of [['attenuate', base, '--ops', 'recv'], ['attenuate', base, '--op', ''], ['attenuate', base], ['attenuate', '--op', 'recv'], ['inspect'], ['inspect', base, '--json'], ['mnit']]) {
      const r = await mailbox(['token', ...args], env);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.doesNotMatch(r.stdout, /mbx1\./, args.join(' '));
      assert.match(r.stderr, /\nusage: mailbox token/, args.join(' '));
    }
  });

  it('a repeated --op or --topic keeps every value', async () => {
    const r = await mailbox(['token', 'mint', '--op', 'send', '--op', 'recv,ack', '--topic', 'user:*', '--topic', 'user:42:*'], env);
    assert.equal(r.code, 0, r.stderr);
    const caveats = inspect(r.stdout.trim()).caveats;
    assert.deepEqual(caveats.find((c) => c.kind === 'op'), { kind: 'op', ops: ['send', 'recv', 'ack'] });
    assert.deepEqual(caveats.filter((c) => c.kind === 'topic'), [{ kind: 'topic', pattern: 'user:*' }, { kind: 'topic', pattern: 'user:42:*' }]);

    // Topic caveats intersect: two different exact topics would make a token good for nothing.
    const none = await mailbox(['token', 'mint', '--topic', 'a', '--topic', 'b'], env);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no topic matches all of a, b/);

    const narrowed = await mailbox(['token', 'attenuate', base, '--topic', 'jobs:a|jobs:*'], env);
    assert.equal(narrowed.code, 0, narrowed.stderr);
    assert.deepEqual(inspect(narrowed.stdout.trim()).caveats.filter((c) => c.kind === 'topic').map((c) => (c as { pattern: string }).pattern), ['jobs:a', 'jobs:*']);
  });
});
