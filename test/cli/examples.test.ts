import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run, startServerProcess, type ServerProcess } from './helpers.ts';

const TSX = join(import.meta.dirname, '../../node_modules/.bin/tsx');

describe('the examples', () => {
  let dir: string;
  let server: ServerProcess;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mailbox-examples-'));
    server = await startServerProcess(process.execPath, ['bin/mailbox.mjs', 'serve', '--config', 'mailbox.config.ts'], { MAILBOX_DATA_DIR: join(dir, 'data') });
  });
  after(async () => {
    server.kill();
    await server.exited;
    await rm(dir, { recursive: true, force: true });
  });

  it('find the server and the token the way the CLI does and run to the end against a fresh server', async () => {
    const data = join(dir, 'data');
    // As after `npm start`: only the configuration says where the server listens and where its
    // data dir (with the first-start admin.token) is; nothing names the token itself.
    const asConfigured = { MAILBOX_LISTEN: server.url.slice('ws://'.length), MAILBOX_DATA_DIR: data };
    const sent = await run(TSX, ['examples/send-and-receive.ts'], asConfigured);
    assert.equal(sent.code, 0, sent.stderr);
    assert.match(sent.stdout, /^acked 3$/m);

    // The client variables: MAILBOX_URL and MAILBOX_TOKEN_FILE.
    const viaEnv = { MAILBOX_URL: server.url, MAILBOX_TOKEN_FILE: join(data, 'admin.token') };
    const sub = await run(TSX, ['examples/subscribe.ts'], viaEnv);
    assert.equal(sub.code, 0, sub.stderr);
    assert.match(sub.stdout, /handled job #19/);
    const dlq = await run(TSX, ['examples/dlq.ts'], viaEnv);
    assert.equal(dlq.code, 0, dlq.stderr);
    assert.match(dlq.stdout, /^reprocessed 1$/m);
  });
});
