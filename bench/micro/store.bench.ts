/**
 * Store group-commit cost: one `commit()` of 1,000 ops — 500 putMsg (1 KiB payload) and 500
 * delMsg of the previous call's messages, a shard's steady put/ack mix — on the LevelDB store
 * (sync and relaxed) and the memory store. Baseline: the raw classic-level `db.batch` of 500
 * puts + 500 dels of 1 KiB values with the same sync flag (peers-bench C2's ceiling).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { LevelStore } from '../../src/store/level.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import type { MessageMeta, MsgId, ShardIndex, StoreOp, TenantId, Topic } from '../../src/domain/types.ts';
import type { Store } from '../../src/store/store.ts';
import { makePayload } from '../lib.ts';
import type { MicroSuite } from './suite.ts';

const HALF = 500;
const shard = 0 as ShardIndex;
const payload = makePayload(1, 1024);
let seq = 0;
const id = (n: number): MsgId => `01JBENCH${String(n).padStart(18, '0')}` as MsgId;
const meta = (msgId: MsgId): MessageMeta => ({
  msgId, tenant: '00000000000000000000000000000000' as TenantId, topic: 'bench.topic.0' as Topic, idemKey: `k-${msgId}`,
  payloadHash: 'ab'.repeat(32), size: 1024, enqueuedAt: 1_700_000_000_000, attempt: 0, state: 'ready', dueAt: 0, history: [],
});

function storeCycle(store: () => Store): () => Promise<void> {
  let previous: MsgId[] = [];
  return async () => {
    const ops: StoreOp[] = previous.map((msgId) => ({ op: 'delMsg', shard, msgId, tenant: meta(msgId).tenant, topic: meta(msgId).topic, state: 'ready' }));
    const next: MsgId[] = [];
    for (let i = ops.length; i < 2 * HALF; i++) {
      const msgId = id(seq++);
      next.push(msgId);
      ops.push({ op: 'putMsg', shard, meta: meta(msgId), payload });
    }
    await store().commit(ops);
    previous = next.slice(0, HALF);
  };
}

function rawCycle(db: () => ClassicLevel<string, Buffer>, sync: boolean): () => Promise<void> {
  let previous: string[] = [];
  return async () => {
    const ops: Array<{ type: 'put'; key: string; value: Buffer } | { type: 'del'; key: string }> = previous.map((key) => ({ type: 'del', key }));
    const next: string[] = [];
    for (let i = ops.length; i < 2 * HALF; i++) {
      const key = `m${String(seq++).padStart(10, '0')}`;
      next.push(key);
      ops.push({ type: 'put', key, value: payload });
    }
    await db().batch(ops, { sync });
    previous = next.slice(0, HALF);
  };
}

let dir = '';
let sync: LevelStore | undefined;
let relaxed: LevelStore | undefined;
let memory: MemoryStore | undefined;
let rawSync: ClassicLevel<string, Buffer> | undefined;
let rawRelaxed: ClassicLevel<string, Buffer> | undefined;

export const suite: MicroSuite = {
  name: 'store',
  setup: async () => {
    dir = mkdtempSync(join(tmpdir(), 'mailbox-bench-store-'));
    sync = new LevelStore({ dir: join(dir, 'sync'), durability: 'sync' });
    relaxed = new LevelStore({ dir: join(dir, 'relaxed'), durability: 'relaxed' });
    memory = new MemoryStore();
    rawSync = new ClassicLevel<string, Buffer>(join(dir, 'raw-sync'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
    rawRelaxed = new ClassicLevel<string, Buffer>(join(dir, 'raw-relaxed'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
    await Promise.all([sync.open(), relaxed.open(), memory.open(), rawSync.open(), rawRelaxed.open()]);
  },
  teardown: async () => {
    await Promise.all([sync?.close(), relaxed?.close(), memory?.close(), rawSync?.close(), rawRelaxed?.close()]);
    rmSync(dir, { recursive: true, force: true });
  },
  tasks: [
    { name: 'classic-level db.batch 1,000 sync (raw)', fn: rawCycle(() => rawSync!, true), opsPerCall: 1000 },
    { name: 'LevelStore.commit 1,000 ops sync', fn: storeCycle(() => sync!), baseline: 'classic-level db.batch 1,000 sync (raw)', opsPerCall: 1000 },
    { name: 'classic-level db.batch 1,000 (raw)', fn: rawCycle(() => rawRelaxed!, false), opsPerCall: 1000 },
    { name: 'LevelStore.commit 1,000 ops relaxed', fn: storeCycle(() => relaxed!), baseline: 'classic-level db.batch 1,000 (raw)', opsPerCall: 1000 },
    { name: 'MemoryStore.commit 1,000 ops', fn: storeCycle(() => memory!), opsPerCall: 1000 },
  ],
};
