/**
 * Rules every store applies to a commit's ops, kept in one place so the memory and the
 * LevelDB store cannot drift apart.
 *
 * Payload rule: a message's payload is kept once per (shard, msgId) and shared by the live
 * message and its DLQ entry, so moving a message to the DLQ (`delMsg` + `putDlq` in one
 * commit) or reprocessing it (`delDlq` + `putMsg` with the same msgId) needs no payload in
 * the op and no read. A commit drops the payload of a msgId it deletes (`delMsg` /
 * `delDlq`) unless, for that msgId, the last message op or the last DLQ op in the same
 * commit is a put. A msgId is live or dead-lettered, never both outside such a commit.
 */
import type { MsgId, ShardIndex, StoreOp } from '../domain/types.ts';
import { MailboxError } from '../errors.ts';

/** Shards are written with 4 digits in LevelDB keys. */
export const MAX_SHARDS = 10_000;

/** Throws `E_INTERNAL` (a programmer error, never retryable) on the first malformed op. */
export function validateOps(ops: readonly StoreOp[]): void {
  if (!Array.isArray(ops)) throw invalid('ops must be an array');
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (op === null || typeof op !== 'object') throw invalid(`op ${i} is not an object`);
    if (!isShard(op.shard)) throw invalid(`op ${i} (${String(op.op)}): shard ${String(op.shard)} is not an integer in [0, ${MAX_SHARDS})`);
    switch (op.op) {
      case 'putMsg':
        if (op.meta === null || typeof op.meta !== 'object' || !isId(op.meta.msgId)) throw invalid(`op ${i} (putMsg): meta.msgId missing`);
        if (op.payload !== undefined && !(op.payload instanceof Uint8Array)) throw invalid(`op ${i} (putMsg): payload is not a Uint8Array`);
        if (!isState(op.meta.state) || (op.was !== undefined && !isState(op.was))) throw invalid(`op ${i} (putMsg): state ${String(op.meta.state)} / was ${String(op.was)}`);
        break;
      case 'putDlq':
        if (op.entry === null || typeof op.entry !== 'object' || op.entry.meta === null || typeof op.entry.meta !== 'object' || !isId(op.entry.meta.msgId)) {
          throw invalid(`op ${i} (putDlq): entry.meta.msgId missing`);
        }
        if (op.payload !== undefined && !(op.payload instanceof Uint8Array)) throw invalid(`op ${i} (putDlq): payload is not a Uint8Array`);
        break;
      case 'delMsg':
        if (!isId(op.msgId) || !isId(op.tenant) || !isId(op.topic) || !isState(op.state)) throw invalid(`op ${i} (delMsg): msgId, tenant, topic or state missing`);
        break;
      case 'delDlq':
        if (!isId(op.msgId)) throw invalid(`op ${i} (delDlq): msgId missing`);
        break;
      case 'putTopic':
        if (!isId(op.tenant) || !isId(op.topic) || !Number.isInteger(op.live) || op.live < 0) throw invalid(`op ${i} (putTopic): tenant, topic or live count missing`);
        break;
      case 'putShardInfo':
        if (op.info === null || typeof op.info !== 'object' || !Number.isInteger(op.info.dlqDepth)) throw invalid(`op ${i} (putShardInfo): info.dlqDepth missing`);
        break;
      case 'putDedup':
        if (!isId(op.key)) throw invalid(`op ${i} (putDedup): key missing`);
        if (op.entry === null || typeof op.entry !== 'object' || !isId(op.entry.msgId)) throw invalid(`op ${i} (putDedup): entry.msgId missing`);
        break;
      case 'delDedup':
        if (!isId(op.key)) throw invalid(`op ${i} (delDedup): key missing`);
        break;
      default:
        throw invalid(`op ${i}: unknown op ${String((op as { op: unknown }).op)}`);
    }
  }
}

/** The (shard, msgId) pairs whose payload the commit drops (see the payload rule above). */
export function payloadDrops(ops: readonly StoreOp[]): Array<{ shard: ShardIndex; msgId: MsgId }> {
  // Hot path: a commit without DLQ ops (sends, leases, acks) drops exactly what it deletes.
  let dlqOps = false;
  for (const op of ops) if (op.op === 'putDlq' || op.op === 'delDlq') (dlqOps = true);
  if (!dlqOps) {
    const out: Array<{ shard: ShardIndex; msgId: MsgId }> = [];
    for (const op of ops) if (op.op === 'delMsg') out.push({ shard: op.shard, msgId: op.msgId });
    return out;
  }
  // Per "shard/msgId": [last message op, last DLQ op, any delete seen]
  let state: Map<string, { shard: ShardIndex; msgId: MsgId; msg: 0 | 1 | 2; dlq: 0 | 1 | 2; del: boolean }> | undefined;
  const touch = (shard: ShardIndex, msgId: MsgId) => {
    state ??= new Map();
    const k = `${shard}/${msgId}`;
    let s = state.get(k);
    if (s === undefined) {
      s = { shard, msgId, msg: 0, dlq: 0, del: false };
      state.set(k, s);
    }
    return s;
  };
  const PUT = 1;
  const DEL = 2;
  for (const op of ops) {
    switch (op.op) {
      case 'putMsg':
        if (state !== undefined && state.has(`${op.shard}/${op.meta.msgId}`)) touch(op.shard, op.meta.msgId).msg = PUT;
        break;
      case 'putDlq':
        touch(op.shard, op.entry.meta.msgId).dlq = PUT;
        break;
      case 'delMsg': {
        const s = touch(op.shard, op.msgId);
        s.msg = DEL;
        s.del = true;
        break;
      }
      case 'delDlq': {
        const s = touch(op.shard, op.msgId);
        s.dlq = DEL;
        s.del = true;
        break;
      }
      default:
        break;
    }
  }
  if (state === undefined) return [];
  const out: Array<{ shard: ShardIndex; msgId: MsgId }> = [];
  for (const s of state.values()) {
    if (s.del && s.msg !== PUT && s.dlq !== PUT) out.push({ shard: s.shard, msgId: s.msgId });
  }
  return out;
}

function isShard(value: unknown): value is ShardIndex {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < MAX_SHARDS;
}

function isState(value: unknown): boolean {
  return value === 'ready' || value === 'delayed' || value === 'leased';
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function invalid(message: string): MailboxError {
  return new MailboxError('E_INTERNAL', `store: invalid op: ${message}`);
}
