/**
 * Idempotency records bucketed by expiry: `e/<ssss>/<bucket>/<dedup key>`, bucket =
 * floor(expiresAt / width). A whole bucket expires with one range delete (`db.clear`, which
 * classic-level runs natively off the main thread), so the sweep's per-key deletes become
 * no-ops: a `delDedup` of a key the last scan handed out only raises the shard's expiry
 * watermark (the sweep drops a key only once `expiresAt <= now`), and every bucket that ends
 * at or before the watermark is cleared after the next batch. A `delDedup` of any other key
 * deletes it in every live bucket (rare: tests, the write probe).
 *
 * The width is chosen from the first record's time to live and stored (`_/dedup-bucket-ms`).
 * `getDedup` reads each key in the few live buckets with one getMany (a key used again after
 * it expired may sit in two buckets: the later record wins).
 */
import type { DedupEntry, ShardIndex } from '../domain/types.ts';
import { shardPart } from './keys.ts';

/** Smallest bucket width: with the default 5-minute replay window about 6 buckets are live per shard. */
export const DEFAULT_BUCKET_MS = 60_000;
const BUCKET_DIGITS = 10;

export function bucketPrefix(shard: ShardIndex, bucket: number): string {
  return `e/${shardPart(shard)}/${String(bucket).padStart(BUCKET_DIGITS, '0')}/`;
}

export function dedupRecordKey(shard: ShardIndex, bucket: number, key: string): string {
  return bucketPrefix(shard, bucket) + key;
}

/** The bucket and dedup key of an `e/` key. */
export function parseDedupRecordKey(levelKey: string): { bucket: number; key: string } {
  return { bucket: Number(levelKey.slice(7, 7 + BUCKET_DIGITS)), key: levelKey.slice(8 + BUCKET_DIGITS) };
}

interface ShardBuckets {
  live: Set<number>;
  watermark: number;
  /** Keys of the last scan page (and their records), so the sweep's deletes are recognised. */
  scanned: Map<string, { bucket: number; expiresAt: number }>;
  /** The last key of the last scan page → its LevelDB key, to continue the scan. */
  cursor?: { key: string; levelKey: string };
}

/** Where the bucket width is kept: it is part of every `e/` key, so once chosen it never changes. */
export const BUCKET_WIDTH_KEY = '_/dedup-bucket-ms';

/**
 * The width for a store whose first idempotency record lives `ttlMs`: about 8 buckets per replay
 * window (whole minutes, at least one), so a long window (up to 7 days) does not make `getDedup`
 * read thousands of buckets.
 */
export function widthForTtl(ttlMs: number): number {
  const minutes = Math.ceil(Math.max(0, ttlMs) / 8 / DEFAULT_BUCKET_MS);
  return Math.max(1, minutes) * DEFAULT_BUCKET_MS;
}

export class DedupBuckets {
  private readonly shards = new Map<ShardIndex, ShardBuckets>();
  /** Undefined until the store read it from disk or its first record chose it. */
  widthMs: number | undefined;
  /** Set when the width was chosen now and its key has not been written yet. */
  unsaved = false;

  constructor(widthMs?: number) {
    this.widthMs = widthMs;
    this.unsaved = widthMs !== undefined;
  }

  /** The width read back from disk (wins over any configured one: the keys depend on it). */
  restoreWidth(widthMs: number): void {
    this.widthMs = widthMs;
    this.unsaved = false;
  }

  bucketOf(expiresAt: number): number {
    if (this.widthMs === undefined) {
      this.widthMs = widthForTtl(expiresAt - Date.now());
      this.unsaved = true;
    }
    return Math.max(0, Math.floor(expiresAt / this.widthMs));
  }

  /** The width's record while it still has to be written (with idempotency records, until a batch carrying it succeeded). */
  unsavedRecord(): { key: string; value: Buffer } | undefined {
    if (this.widthMs === undefined || !this.unsaved) return undefined;
    return { key: BUCKET_WIDTH_KEY, value: Buffer.from(String(this.widthMs)) };
  }

  private of(shard: ShardIndex): ShardBuckets {
    let s = this.shards.get(shard);
    if (s === undefined) {
      s = { live: new Set(), watermark: Number.NEGATIVE_INFINITY, scanned: new Map() };
      this.shards.set(shard, s);
    }
    return s;
  }

  /** A bucket found on disk at open, or written now. */
  add(shard: ShardIndex, bucket: number): void {
    this.of(shard).live.add(bucket);
  }

  /** Live buckets of a shard, newest first. */
  live(shard: ShardIndex): number[] {
    return [...(this.shards.get(shard)?.live ?? [])].sort((a, b) => b - a);
  }

  /** LevelDB keys a `delDedup` of `key` must delete (none when a bucket clear will cover it). */
  deleteKeys(shard: ShardIndex, key: string): string[] {
    const s = this.of(shard);
    const seen = s.scanned.get(key);
    // Expired by the wall clock too (the shard's clock is one): a delete for another reason deletes.
    if (seen !== undefined && seen.expiresAt <= Date.now()) {
      if (seen.expiresAt > s.watermark) s.watermark = seen.expiresAt;
      return [];
    }
    return this.live(shard).map((b) => dedupRecordKey(shard, b, key));
  }

  /** Records a scan page: its keys and where to continue. */
  scannedPage(shard: ShardIndex, page: ReadonlyArray<{ levelKey: string; key: string; entry: DedupEntry }>): void {
    const s = this.of(shard);
    s.scanned.clear();
    for (const p of page) s.scanned.set(p.key, { bucket: parseDedupRecordKey(p.levelKey).bucket, expiresAt: p.entry.expiresAt });
    const last = page[page.length - 1];
    if (last !== undefined) s.cursor = { key: last.key, levelKey: last.levelKey };
  }

  /** The LevelDB key a scan `after` this dedup key continues from, when known. */
  cursorFor(shard: ShardIndex, after: string): string | undefined {
    const c = this.shards.get(shard)?.cursor;
    return c !== undefined && c.key === after ? c.levelKey : undefined;
  }

  /** Buckets wholly expired by the shards' watermarks, taken out of the live sets (the caller clears them). */
  takeExpired(): Array<{ shard: ShardIndex; bucket: number }> {
    const out: Array<{ shard: ShardIndex; bucket: number }> = [];
    for (const [shard, s] of this.shards) {
      if (s.watermark === Number.NEGATIVE_INFINITY || this.widthMs === undefined) continue;
      for (const b of s.live) {
        if ((b + 1) * this.widthMs <= s.watermark) {
          s.live.delete(b);
          out.push({ shard, bucket: b });
        }
      }
    }
    return out;
  }
}
