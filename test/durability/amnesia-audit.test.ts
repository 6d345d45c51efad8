/**
 * Amnesia mode writes no file: the server runs as a child with AMNESIA=on, its working
 * directory, HOME and TMPDIR fresh empty directories, signing keys from the environment (so
 * no key or token file is needed), serves real traffic, stops, and the three directories
 * must still be empty, recursively.
 *
 * The other half of the amnesia promise (payload buffers of acked or purged messages are
 * zero-filled) is tested on the store itself in test/store/memory.test.ts
 * ("zero-fills the payload buffer of an acked message", and of a deleted DLQ entry).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MailboxClient } from '../../src/client/index.ts';
import { ChildServer, ROOT, testToken } from './child.ts';

const BIN = join(ROOT, 'bin', 'mailbox.mjs');

const audited = {
  cwd: mkdtempSync(join(tmpdir(), 'mailbox-audit-cwd-')),
  home: mkdtempSync(join(tmpdir(), 'mailbox-audit-home-')),
  tmp: mkdtempSync(join(tmpdir(), 'mailbox-audit-tmp-')),
};
let server: ChildServer | undefined;
after(async () => {
  await server?.kill9();
  for (const dir of Object.values(audited)) rmSync(dir, { recursive: true, force: true });
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).map((e) => join(e.parentPath ?? e.path, e.name));
}

test('a server in amnesia mode leaves no file in its working directory, HOME or TMPDIR after serving traffic', { timeout: 60_000 }, async () => {
  // Launched the way an operator does (bin/mailbox.mjs with AMNESIA=on), whose tsx loader
  // must not leave its compile cache behind either.
  server = await ChildServer.start({
    args: [],
    nodeArgs: [],
    script: BIN,
    cwd: audited.cwd,
    env: {
      AMNESIA: 'on',
      HOME: audited.home,
      TMPDIR: audited.tmp,
      TMP: audited.tmp,
      TEMP: audited.tmp,
    },
  });
  const client = await MailboxClient.connect(server.url, { token: testToken() });
  const sent = await client.sendBatch(Array.from({ length: 200 }, (_, i) => ({ topic: `audit:${i % 4}`, idemKey: `a-${i}`, payload: `secret ${i}` })));
  assert.equal(sent.filter((r) => r instanceof Error).length, 0);
  let received = 0;
  for (let t = 0; t < 4; t++) {
    for (;;) {
      const ds = await client.recv({ topic: `audit:${t}`, maxMessages: 100 });
      if (ds.length === 0) break;
      for (const d of ds) await client.ack(d.msgId, d.leaseId);
      received += ds.length;
    }
  }
  assert.equal(received, 200);
  // One left queued at the stop: state that a durable store would have written.
  await client.send({ topic: 'audit:left', idemKey: 'left-1', payload: 'left behind' });
  await client.close();
  await server.stop();

  for (const [name, dir] of Object.entries(audited)) {
    assert.deepEqual(filesUnder(dir), [], `amnesia mode wrote into ${name} (${dir})`);
  }
});
