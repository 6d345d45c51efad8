/**
 * Bounded label values. Every label that could come from user input (topics, actor paths)
 * goes through here, so a flood of distinct topics can never blow up the series count.
 */
import { topicClass } from '../domain/routing.ts';

/** Longest label value kept; longer values are cut. */
export const MAX_LABEL_LENGTH = 64;
/** Distinct values one label may take per registry before new ones become {@link OVERFLOW_LABEL}. */
export const DEFAULT_LABEL_CAP = 256;
/** The value that stands in for every label value beyond the cap. */
export const OVERFLOW_LABEL = 'other';

/**
 * The `queue` label of a topic: its class (`user:42:inbox` → `user`), cut to 64 characters.
 * Idempotent: `queueLabel(queueLabel(t)) === queueLabel(t)`.
 */
export function queueLabel(topic: string): string {
  const cls = topicClass(topic);
  return cls.length > MAX_LABEL_LENGTH ? cls.slice(0, MAX_LABEL_LENGTH) : cls;
}

/**
 * Hands out at most `cap` distinct label values; once full, unseen values map to `other`.
 * Values seen first keep their own series for the life of the registry.
 */
export class BoundedLabels {
  private readonly seen = new Set<string>();

  constructor(readonly cap: number = DEFAULT_LABEL_CAP) {
    if (!Number.isInteger(cap) || cap < 1) throw new Error(`label cap must be a positive integer, got ${cap}`);
  }

  /** `value` must already be short (see {@link queueLabel} / {@link clip}). */
  get(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.cap) return OVERFLOW_LABEL;
    this.seen.add(value);
    return value;
  }

  get size(): number {
    return this.seen.size;
  }
}

/** Cuts a free-form label value (actor path, bus topic) to 64 characters. */
export function clip(value: string): string {
  return value.length > MAX_LABEL_LENGTH ? value.slice(0, MAX_LABEL_LENGTH) : value;
}
