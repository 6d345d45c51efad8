/**
 * Domain structures a message touches on every SEND / lease / ACK: the dedup window
 * (src/domain/dedup-window.ts) against a plain Map, and the lease heap (src/domain/min-heap.ts).
 */
import { DedupWindow, dedupKey } from '../../src/domain/dedup-window.ts';
import { MinHeap } from '../../src/domain/min-heap.ts';
import type { DedupEntry, MsgId, TenantId } from '../../src/domain/types.ts';
import type { MicroSuite } from './suite.ts';

const tenant = '00000000000000000000000000000000' as TenantId;
const N = 100_000;
const keys = Array.from({ length: N }, (_, i) => dedupKey(tenant, 'bench.topic.0', `run-${i}`));
const msgId = '01JTEST0000000000000000001' as MsgId;
const hash = 'ab'.repeat(32);
const T0 = 1_700_000_000_000;

const full = new DedupWindow(10_000_000, 300_000);
const plain = new Map<string, DedupEntry>();
for (const k of keys) {
  full.add(k, msgId, hash, T0);
  plain.set(k, { msgId, payloadHash: hash, expiresAt: T0 + 300_000 });
}
let i = 0;
let fresh = new DedupWindow(10_000_000, 300_000);
let freshMap = new Map<string, DedupEntry>();
let n = 0;

const heap = new MinHeap<number>();
for (let j = 0; j < 10_000; j++) heap.push(T0 + Math.random() * 30_000, j);

export const suite: MicroSuite = {
  name: 'domain',
  tasks: [
    { name: 'Map.get hit (raw)', fn: () => plain.get(keys[i++ % N]!) },
    { name: 'DedupWindow.lookup hit', fn: () => full.lookup(keys[i++ % N]!, T0 + 1), baseline: 'Map.get hit (raw)' },
    { name: 'DedupWindow.lookup miss', fn: () => full.lookup(`${keys[i++ % N]!}x`, T0 + 1) },
    {
      name: 'Map.set new key (raw)',
      fn: () => {
        if (++n % N === 0) freshMap = new Map();
        freshMap.set(keys[n % N]!, { msgId, payloadHash: hash, expiresAt: T0 });
      },
    },
    {
      name: 'DedupWindow.add new key',
      fn: () => {
        if (++n % N === 0) fresh = new DedupWindow(10_000_000, 300_000);
        fresh.add(keys[n % N]!, msgId, hash, T0);
      },
      baseline: 'Map.set new key (raw)',
    },
    { name: 'dedupKey (string concat)', fn: () => dedupKey(tenant, 'bench.topic.0', 'run-123456') },
    {
      name: 'MinHeap push+pop (10k deep)',
      fn: () => {
        heap.push(T0 + Math.random() * 30_000, 1);
        heap.pop();
      },
    },
  ],
};
