/**
 * Correlation ids: u64 values that follow one request through session, shard and store and
 * appear in every log line about it. One generator per process; the start is random so two
 * instances (or a restart) do not hand out the same ids.
 */
import { randomBytes } from 'node:crypto';

const U64_MASK = (1n << 64n) - 1n;

/** Hands out consecutive u64 ids from a start, wrapping at 2^64. */
export class CorrIdGenerator {
  private current: bigint;

  /** `start` defaults to 64 random bits. */
  constructor(start: bigint = randomBytes(8).readBigUInt64BE(0)) {
    this.current = start & U64_MASK;
  }

  next(): bigint {
    const id = this.current;
    this.current = (this.current + 1n) & U64_MASK;
    return id;
  }
}

const processGenerator = new CorrIdGenerator();

/** The next correlation id of this process. */
export function nextCorrId(): bigint {
  return processGenerator.next();
}

/** 16 lower-case hex digits, the form logs and error replies show. */
export function formatCorrId(id: bigint): string {
  return (id & U64_MASK).toString(16).padStart(16, '0');
}

/** Reads a corr id from hex (as {@link formatCorrId} writes it, optional `0x`) or decimal digits; undefined if not a u64. */
export function parseCorrId(text: string): bigint | undefined {
  let value: bigint;
  if (/^(0x)?[0-9a-f]{16}$/i.test(text)) value = BigInt(text.startsWith('0x') || text.startsWith('0X') ? text : `0x${text}`);
  else if (/^0x[0-9a-f]{1,16}$/i.test(text)) value = BigInt(text);
  else if (/^\d{1,20}$/.test(text)) value = BigInt(text);
  else return undefined;
  return value <= U64_MASK ? value : undefined;
}
