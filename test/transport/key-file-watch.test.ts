import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { generateKey, KeyRing } from '../../src/auth/index.ts';
import { EventBus } from '../../src/bus/bus.ts';
import type { MailboxEvents } from '../../src/bus/events.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { writeKeyFile, type KeyFileData } from '../../src/transport/key-file.ts';
import { KeyFileWatch } from '../../src/transport/key-file-watch.ts';
import { KeyRotation } from '../../src/transport/key-rotation.ts';

test('KeyRing.adopt takes the other ring whole and tells its listeners', () => {
  const ring = new KeyRing('k1', generateKey());
  let changes = 0;
  ring.onChange(() => changes++);
  const next = new KeyRing('k2', generateKey());
  next.add('k1', generateKey(), 10);
  ring.adopt(next);
  assert.equal(ring.active, 'k2');
  assert.deepEqual(ring.list().map((k) => k.kid).sort(), ['k1', 'k2']);
  assert.equal(changes, 1);
});

test('a rewritten keys.json is adopted with caps.rotate; a corrupt one keeps the ring and is reported without key bytes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mailbox-kfw-'));
  const path = join(dir, 'keys.json');
  const s1 = generateKey();
  const data: KeyFileData = { activeKid: 'k1', keys: { k1: s1 }, info: {} };
  await writeKeyFile(path, data);
  const ring = new KeyRing('k1', s1);
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', destination: new Writable({ write(c: Buffer, _e, done) { lines.push(c.toString()); done(); } }) });
  const bus = new EventBus<MailboxEvents>();
  const rotations: Array<MailboxEvents['caps.rotate']> = [];
  bus.subscribe('caps.rotate', (e) => rotations.push(e));
  let failures = 0;
  const watch = new KeyFileWatch({ path, ring, rotation: new KeyRotation({ ring, source: { kind: 'file', path, data } }), periodMs: 60_000, logger, bus, onFailure: () => failures++ });
  await watch.start();
  try {
    const s2 = generateKey();
    await writeKeyFile(path, { activeKid: 'k2', keys: { k1: s1, k2: s2 }, info: { k1: { retireAt: Date.now() + 60_000 } } });
    await watch.check();
    assert.equal(ring.active, 'k2');
    assert.equal(rotations.length, 1);
    assert.equal(rotations[0]!.previous, 'k1');
    assert.equal(watch.failure, undefined);
    await writeFile(path, `{"activeKid":"k3","keys":{"k3":"${s2}"`);
    await watch.check();
    assert.equal(ring.active, 'k2', 'the ring in force stays');
    assert.equal(failures, 1);
    assert.match(watch.failure!.reason, /not valid JSON/);
    await watch.check();
    assert.equal(failures, 1, 'the same reason is reported once');
    const text = lines.join('');
    assert.match(text, /keyring_reload_failed/);
    assert.ok(!text.includes(s1) && !text.includes(s2), 'no key bytes in the log');
    await writeKeyFile(path, { activeKid: 'k2', keys: { k1: s1, k2: s2 }, info: { k1: { retireAt: Date.now() + 60_000 } } });
    await watch.check();
    assert.equal(watch.failure, undefined);
  } finally {
    watch.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
