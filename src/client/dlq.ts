/**
 * The dead-letter queue operations of a client: `client.dlq.list / reprocess / purge`.
 */
import { OPS, type RequestOpId, type ResponseMap } from '../protocol/index.ts';
import type { DlqEntry, DlqFilterInput, DlqListInput } from './types.ts';

/** Sends one request (validated against the op's schema) and resolves with its response body. */
export type Call = <K extends RequestOpId>(op: K, request: unknown) => Promise<ResponseMap[K]>;

export class DlqClient {
  constructor(private readonly call: Call) {}

  /**
   * Lists dead-lettered messages matching the filter, in ascending msgId order; page with `after`.
   * @example
   * let after: string | undefined;
   * for (;;) {
   *   const page = await client.dlq.list({ topic: 'jobs', limit: 100, after });
   *   if (page.length === 0) break;
   *   for (const e of page) console.log(e.msgId, e.reason, e.history.length);
   *   after = page.at(-1)!.msgId;
   * }
   */
  async list(input: DlqListInput = {}): Promise<DlqEntry[]> {
    const res = await this.call(OPS.DLQ_LIST, { topic: input.topic, reason: input.reason, limit: input.limit, after: input.after });
    return res.entries;
  }

  /**
   * Moves matching entries back to ready with attempts reset; resolves with how many.
   * @example
   * const n = await client.dlq.reprocess({ topic: 'jobs', reason: 'nacked' });
   */
  async reprocess(input: DlqFilterInput = {}): Promise<number> {
    const res = await this.call(OPS.DLQ_REPROCESS, filter(input));
    return res.count;
  }

  /**
   * Deletes matching entries; resolves with how many.
   * @example
   * const n = await client.dlq.purge({ topic: 'jobs', limit: 1000 });
   */
  async purge(input: DlqFilterInput = {}): Promise<number> {
    const res = await this.call(OPS.DLQ_PURGE, filter(input));
    return res.count;
  }
}

// Absent fields stay undefined: the schema treats undefined as absent and the encoder skips it.
function filter(input: DlqFilterInput): Record<string, unknown> {
  return { topic: input.topic, reason: input.reason, limit: input.limit };
}
