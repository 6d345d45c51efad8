/** Records and temp dirs for the store tests. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DlqEntry, MessageMeta, MsgId, ShardIndex, StoreOp, TenantId, Topic } from '../../src/domain/types.ts';
import type { Store } from '../../src/store/store.ts';

export const S0 = 0 as ShardIndex;
export const S1 = 1 as ShardIndex;

let seq = 0;
/** Ascending, 26-char ids (ULID-shaped enough for ordering). */
export function msgId(n?: number): MsgId {
  const value = n ?? ++seq;
  return `01JTEST${String(value).padStart(19, '0')}` as MsgId;
}

export function meta(id: MsgId, over: Partial<MessageMeta> = {}): MessageMeta {
  return {
    msgId: id,
    tenant: '00000000000000000000000000000000' as TenantId,
    topic: 'user:42:inbox' as Topic,
    idemKey: `k-${id}`,
    payloadHash: 'ab'.repeat(32),
    size: 16,
    enqueuedAt: 1_700_000_000_000,
    attempt: 0,
    state: 'ready',
    dueAt: 0,
    history: [],
    ...over,
  };
}

export function dlqEntry(m: MessageMeta, over: Partial<DlqEntry> = {}): DlqEntry {
  return { meta: m, reason: 'nacked', deadAt: 1_700_000_100_000, ...over };
}

export function payload(size = 16): Uint8Array {
  return new Uint8Array(randomBytes(size));
}

/** A unique empty directory under os.tmpdir() and its remover. */
export function tempDir(label: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `mailbox-${label}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export const TENANT = '00000000000000000000000000000000' as TenantId;
export const TOPIC = 'user:42:inbox' as Topic;

/**
 * Every live message a store holds for one shard, in msgId order, whichever way it loads: a
 * RAM store hands them all to `loadShard`, a paged store hands over held messages and pages
 * the ready ones by topic (the fixture topic and any topic its counters name).
 */
export async function storedMessages(store: Store, shard: ShardIndex, topics: Array<[TenantId, Topic]> = []): Promise<MessageMeta[]> {
  const snap = await store.loadShard(shard);
  const byId = new Map<MsgId, MessageMeta>();
  for (const m of [...snap.ready, ...snap.held]) byId.set(m.msgId, m);
  const names = new Map<string, [TenantId, Topic]>([[`${TENANT}/${TOPIC}`, [TENANT, TOPIC]]]);
  for (const t of snap.topics) names.set(`${t.tenant}/${t.topic}`, [t.tenant, t.topic]);
  for (const t of topics) names.set(`${t[0]}/${t[1]}`, t);
  for (const [tenant, topic] of names.values()) {
    for (const m of await store.readyPage(shard, tenant, topic, { limit: 1_000_000 })) byId.set(m.msgId, m);
  }
  return [...byId.values()].sort((a, b) => (a.msgId < b.msgId ? -1 : a.msgId > b.msgId ? 1 : 0));
}

/** The delete op of a stored fixture message (stores need its topic and state to find it). */
export function delMsg(m: MessageMeta): StoreOp {
  return { op: 'delMsg', shard: S0, msgId: m.msgId, tenant: m.tenant, topic: m.topic, state: m.state };
}
