/**
 * The background sweep of a paged shard's stored idempotency records: it reads them all, page
 * by page, deletes the expired ones and builds a fresh Bloom filter of the live ones, which
 * replaces the old filter when the sweep ends (dropping the bits of expired keys). Until the
 * first sweep after a start has ended, every key missing from RAM is looked up in the store.
 */
import type { DedupWindow } from '../src/domain/dedup-window.ts';
import type { DedupEntry } from '../src/domain/types.ts';

/** Stored records one sweep step reads. */
const SWEEP_PAGE = 4_096;
/**
 * Sweeps run twice per replay window, but no more often than this: each reads every record,
 * and an expired record may linger that long, harmlessly.
 */
const SWEEP_EVERY_MS = 60_000;
/** After a failed read the sweep tries again this much later. */
const RETRY_MS = 1_000;

export interface DedupSweepDeps {
  /** The window of the shard's current queue. */
  dedup(): DedupWindow;
  /** Reads up to `limit` records after `after`; the answer comes back through `page`. */
  scan(after: string | undefined, limit: number): void;
  /** Deletes an expired record (a store op in the shard's next batch). */
  drop(key: string): void;
  /** The sweep is due: the shard calls `start` in its own turn. */
  due(): void;
}

export class DedupSweep {
  private running = false;
  private after: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly deps: DedupSweepDeps) {}

  start(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running || this.stopped || this.deps.dedup().mode === 'resident') return;
    this.running = true;
    this.after = undefined;
    this.deps.dedup().beginSweep();
    this.deps.scan(undefined, SWEEP_PAGE);
  }

  /** A page of records (undefined: the read failed). */
  page(entries: ReadonlyArray<readonly [string, DedupEntry]> | undefined, now: number): void {
    if (!this.running) return;
    if (entries === undefined) {
      // The old filter (or store lookups) stay in use meanwhile.
      this.running = false;
      return this.arm(RETRY_MS);
    }
    const dedup = this.deps.dedup();
    for (const [key, entry] of entries) {
      if (entry.expiresAt > now) dedup.sweepSaw(key);
      // A key used again since the read is in RAM with its new record: keep that one.
      else if (dedup.lookup(key, now) === undefined) this.deps.drop(key);
    }
    if (entries.length === SWEEP_PAGE) {
      this.after = entries[entries.length - 1]![0];
      return this.deps.scan(this.after, SWEEP_PAGE);
    }
    dedup.endSweep();
    this.running = false;
    this.arm(Math.max(SWEEP_EVERY_MS, Math.floor(dedup.windowMs / 2)));
  }

  /** The shard's queue was replaced (a rebuild): a sweep in progress is abandoned; the next load starts one. */
  abandon(): void {
    this.running = false;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(inMs: number): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => this.deps.due(), inMs);
    this.timer.unref?.();
  }
}
