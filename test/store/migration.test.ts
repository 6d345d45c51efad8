import assert from 'node:assert/strict';
import { cpSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ClassicLevel } from 'classic-level';
import { rebuildShard } from '../../src/domain/recovery.ts';
import type { DlqEntry, MessageMeta, MsgId, ShardIndex, StoreOp, TenantId, Topic } from '../../src/domain/types.ts';
import { LevelStore } from '../../src/store/level.ts';
import { makeQueue } from '../domain/harness.ts';
import { storedMessages, tempDir } from './fixtures.ts';

const FIXTURE = new URL('../fixtures/', import.meta.url).pathname;
interface Manifest {
  live: Array<{ shard: ShardIndex; meta: MessageMeta; payload: string }>;
  dead: Array<{ shard: ShardIndex; entry: DlqEntry; payload: string }>;
  dedup: Array<{ shard: ShardIndex; key: string; msgId: MsgId; expiresAt: number }>;
  topics: Array<{ shard: ShardIndex; tenant: TenantId; topic: Topic; live: number }>;
  info: Record<string, { dlqDepth: number; newestId: MsgId }>;
}
const manifest = JSON.parse(readFileSync(join(FIXTURE, 'format2-store.json'), 'utf8')) as Manifest;
const SHARDS = [0, 1] as ShardIndex[];

describe('format-2 store migration', () => {
  const cleanups: Array<() => void> = [];
  after(() => cleanups.forEach((c) => c()));
  function copy(): string {
    const tmp = tempDir('migrate');
    cleanups.push(tmp.remove);
    const dir = join(tmp.dir, 'db');
    cpSync(join(FIXTURE, 'format2-store'), dir, { recursive: true });
    return dir;
  }

  async function checkEverything(store: LevelStore): Promise<void> {
    for (const shard of SHARDS) {
      const topics = manifest.topics.filter((t) => t.shard === shard).map((t): [TenantId, Topic] => [t.tenant, t.topic]);
      const want = manifest.live.filter((m) => m.shard === shard).map((m) => m.meta).sort((a, b) => (a.msgId < b.msgId ? -1 : 1));
      assert.deepEqual(await storedMessages(store, shard, topics), want, `shard ${shard}: every message with its attempts, history and lease`);
      const payloads = await store.getPayloads(shard, want.map((m) => m.msgId));
      assert.deepEqual(payloads.map((p) => Buffer.from(p!).toString()), manifest.live.filter((m) => m.shard === shard).sort((a, b) => (a.meta.msgId < b.meta.msgId ? -1 : 1)).map((m) => m.payload));
      const snap = await store.loadShard(shard);
      assert.deepEqual(snap.topics.sort((a, b) => a.topic.localeCompare(b.topic)), manifest.topics.filter((t) => t.shard === shard)
        .map(({ tenant, topic, live }) => ({ tenant, topic, live })).sort((a, b) => a.topic.localeCompare(b.topic)));
      assert.equal(snap.dlqDepth, manifest.info[shard]!.dlqDepth);
      assert.equal(snap.newestId, manifest.info[shard]!.newestId);
      const dead = manifest.dead.filter((d) => d.shard === shard);
      assert.deepEqual(await store.listDlq(shard, { limit: 100 }), dead.map((d) => d.entry));
      for (const d of dead) assert.equal(Buffer.from((await store.getDlqPayload(shard, d.entry.meta.msgId))!).toString(), d.payload);
      const keys = manifest.dedup.filter((d) => d.shard === shard);
      const answers = await store.getDedup(shard, keys.map((d) => d.key));
      assert.deepEqual(answers.map((a) => [a?.msgId, a?.expiresAt]), keys.map((d) => [d.msgId, d.expiresAt]));
      assert.equal((await store.scanDedup(shard, { limit: 1000 })).length, keys.length);
    }
  }

  it('opens a format-2 directory as format 3 with nothing lost, private, and without format-2 records', async () => {
    const dir = copy();
    const store = new LevelStore({ dir, durability: 'sync' });
    await store.open();
    await checkEverything(store);
    await store.close();
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const raw = new ClassicLevel<string, string>(dir);
    const keys = await raw.keys().all();
    await raw.close();
    assert.equal(keys.filter((k) => /^[rhd]\//.test(k)).length, 0, 'format-2 ranges deleted');
    assert.equal(keys.filter((k) => k.startsWith('p/')).length, manifest.dead.length, 'p/ keeps the DLQ payloads only');
    assert.ok(keys.includes('_/format') && !keys.includes('_/f2-cleanup'));
  });

  it('re-runs idempotently when a migration stopped before its flip, and finishes a cleanup that stopped after it', async () => {
    const dir = copy();
    // Stopped before the flip: some format-3 records exist, format still 2.
    let raw = new ClassicLevel<string, string>(dir);
    await raw.put('m/0000/1/01KFIXTURE0000000000000001', 'half-written');
    await raw.put('n/0000/1', 'junk');
    await raw.close();
    let store = new LevelStore({ dir, durability: 'sync' });
    await store.open();
    await checkEverything(store);
    await store.close();
    // Stopped after the flip: the marker is back and a format-2 key lingers.
    raw = new ClassicLevel<string, string>(dir);
    await raw.batch([{ type: 'put', key: '_/f2-cleanup', value: '2' }, { type: 'put', key: 'r/0000/zzz', value: 'stale' }]);
    await raw.close();
    store = new LevelStore({ dir, durability: 'sync' });
    await store.open();
    await checkEverything(store);
    await store.close();
    raw = new ClassicLevel<string, string>(dir);
    assert.equal(await raw.get('r/0000/zzz'), undefined);
    assert.equal(await raw.get('_/f2-cleanup'), undefined);
    await raw.close();
  });

  it('hands the leased message back for recovery: after a process start it counts an attempt with server_restart', async () => {
    const dir = copy();
    let store = new LevelStore({ dir, durability: 'sync' });
    await store.open();
    const leased = manifest.live.find((m) => m.meta.state === 'leased')!;
    const snap = await store.loadShard(leased.shard);
    assert.deepEqual(snap.held.find((m) => m.msgId === leased.meta.msgId), leased.meta);
    const queue = makeQueue({ maxAttempts: 5, paging: { readyWindow: 64, residentBudget: 1000, dedupResident: 1000 } });
    const out: StoreOp[] = [];
    const now = 1_764_100_000_000;
    const settled = rebuildShard(queue, snap, now, 'expire-leases', () => true, out);
    assert.equal(settled.length, 1);
    await store.commit(out.map((op) => ({ ...op, shard: leased.shard }) as StoreOp));
    await store.close();
    store = new LevelStore({ dir, durability: 'sync' });
    await store.open();
    const back = (await storedMessages(store, leased.shard, [[leased.meta.tenant, leased.meta.topic]])).find((m) => m.msgId === leased.meta.msgId)!;
    assert.equal(back.attempt, 2);
    assert.notEqual(back.state, 'leased');
    assert.deepEqual(back.history.map((h) => h.outcome), ['expired', 'server_restart']);
    await store.close();
  });
});
