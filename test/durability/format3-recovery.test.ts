/**
 * kill -9 on store format 3: a server child (LevelDB, durability sync) is killed while
 * producers send and a consumer leases. Leases live only in per-commit delivery records, so
 * this checks that they come back after a process start as the recovery rule says (attempt
 * counted, `server_restart` in the history) and that every acknowledged SEND is delivered.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ClassicLevel } from 'classic-level';
import { MailboxClient, MailboxError, type ClientDelivery } from '../../src/client/index.ts';
import { decodeAttempt } from '../../src/store/record-codec.ts';
import { ChildServer, sleep, testToken } from './child.ts';

const dirs: string[] = [];
const servers: ChildServer[] = [];
after(async () => {
  for (const s of servers) await s.dispose();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const TOTAL = 3_000;
const TOPICS = ['f3:0', 'f3:1', 'f3:2'];
const HELD = 'f3:held';
const connectOpts = { token: testToken(), maxReconnectDelayMs: 200, connectTimeoutMs: 5_000, onError: () => {} };

test('format 3 through kill -9 mid-load: every acknowledged SEND is delivered, leases held at the crash come back with attempt + 1 and server_restart', { timeout: 120_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mailbox-f3crash-'));
  dirs.push(dataDir);
  const server = await ChildServer.start({ args: ['--data-dir', dataDir, '--durability', 'sync'], env: { MAILBOX_QUEUE__MAX_ATTEMPTS: '10' } });
  servers.push(server);
  const producer = await MailboxClient.connect(server.url, connectOpts);
  const consumer = await MailboxClient.connect(server.url, connectOpts);

  const acknowledged = new Map<string, string>(); // msgId → topic, once a SEND reply came back
  const delivered = new Set<string>();
  const heldAttempt = new Map<string, number>(); // leased on HELD and never acknowledged
  const violations: string[] = [];
  let crashed = false;
  let stop = false;

  const produce = async (): Promise<void> => {
    for (let i = 0; i < TOTAL; ) {
      const inputs = Array.from({ length: Math.min(100, TOTAL - i) }, (_, k) => {
        const n = i + k;
        return { topic: n % 20 === 0 ? HELD : TOPICS[n % TOPICS.length]!, idemKey: `m-${n}`, payload: `message ${n}` };
      });
      try {
        const results = await producer.sendBatch(inputs);
        if (results.some((r) => r instanceof MailboxError)) throw results.find((r) => r instanceof MailboxError);
        results.forEach((r, k) => acknowledged.set((r as { msgId: string }).msgId, inputs[k]!.topic));
        i += inputs.length;
      } catch {
        await sleep(50); // down or restarting: the same idemKeys again
      }
    }
  };
  const consume = async (): Promise<void> => {
    while (!stop) {
      try {
        for (const topic of TOPICS) {
          for (const d of await consumer.recv({ topic, maxMessages: 64, visibilityMs: 30_000 })) {
            delivered.add(d.msgId);
            await d.ack().catch(() => {});
          }
        }
        const held: ClientDelivery[] = await consumer.recv({ topic: HELD, maxMessages: 64, visibilityMs: 60_000 });
        for (const d of held) {
          delivered.add(d.msgId);
          if (!crashed) heldAttempt.set(d.msgId, d.attempt);
          else if ((heldAttempt.get(d.msgId) ?? 0) > 0) {
            if (d.attempt !== heldAttempt.get(d.msgId)! + 1) violations.push(`${d.msgId} came back with attempt ${d.attempt} after ${heldAttempt.get(d.msgId)}`);
            heldAttempt.set(d.msgId, -d.attempt); // seen again (negative: checked)
          }
        }
      } catch {
        await sleep(50);
      }
    }
  };
  const producing = produce();
  const consuming = consume();
  while (acknowledged.size < TOTAL / 2 || heldAttempt.size === 0) await sleep(20);
  await server.kill9();
  crashed = true;
  const atCrash = new Map([...heldAttempt].filter(([, a]) => a > 0));
  await server.launch();
  await producing;
  const deadline = Date.now() + 60_000;
  while ([...acknowledged.keys()].some((id) => !delivered.has(id)) || [...atCrash.keys()].some((id) => heldAttempt.get(id)! > 0)) {
    assert.ok(Date.now() < deadline, `undelivered: ${[...acknowledged.keys()].filter((id) => !delivered.has(id)).length}`);
    await sleep(50);
  }
  stop = true;
  await consuming;
  await producer.close();
  await consumer.close();
  await server.kill9();
  assert.deepEqual(violations, []);
  assert.ok(atCrash.size > 0);

  // On disk, each lease held at the crash ended as a server_restart attempt (the later lease is in a delivery record).
  const db = new ClassicLevel<string, Buffer>(join(dataDir, 'store'), { valueEncoding: 'buffer' });
  const attempts = new Map<string, ReturnType<typeof decodeAttempt>>();
  for (const [k, v] of await db.iterator({ gt: 'a/', lt: 'a0' }).all()) attempts.set(k.slice(7), decodeAttempt(v));
  await db.close();
  for (const [id, attempt] of atCrash) {
    const record = attempts.get(id);
    assert.ok(record, `${id} has an attempt record`);
    assert.deepEqual(record.history.map((h) => [h.attempt, h.outcome]).find(([a]) => a === attempt), [attempt, 'server_restart']);
  }
});
