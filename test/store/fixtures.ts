/** Records and temp dirs for the store tests. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DlqEntry, MessageMeta, MsgId, ShardIndex, TenantId, Topic } from '../../src/domain/types.ts';

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
