/** Copies of store records, so no caller can change stored state through a shared object. */
import type { DedupEntry, DlqEntry, MessageMeta } from '../domain/types.ts';

export function cloneMeta(meta: MessageMeta): MessageMeta {
  const copy: MessageMeta = { ...meta, history: meta.history.map((h) => ({ ...h })) };
  if (meta.attrs !== undefined) copy.attrs = { ...meta.attrs };
  return copy;
}

export function cloneDlqEntry(entry: DlqEntry): DlqEntry {
  return { ...entry, meta: cloneMeta(entry.meta) };
}

export function cloneDedup(entry: DedupEntry): DedupEntry {
  return { ...entry };
}
