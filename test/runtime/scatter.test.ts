import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MailboxError } from '../../src/errors.ts';
import { scatter } from '../../src/runtime/scatter.ts';
import type { ShardRef } from '../../actors/shard-ref.ts';

// scatter only uses refs as map keys: plain objects stand in for shards.
const shards = [{ name: 's0' }, { name: 's1' }, { name: 's2' }] as unknown as ShardRef[];
const prepare = (n: number): number => {
  if (n < 0) throw new MailboxError('E_SCHEMA', `bad item ${n}`);
  return n;
};
const shardOf = (n: number): ShardRef => {
  if (n === 99) throw new MailboxError('E_STALE_LEASE', 'no shard for 99');
  return shards[n % 3]!;
};
const route = [prepare, shardOf] as const;

test('scatter: one request per shard, every outcome back at its index', async () => {
  const calls: Array<[ShardRef, number[]]> = [];
  const out = await scatter([0, 1, 2, 3, 4, 5, 7], ...route, async (ref, items) => {
    calls.push([ref, items]);
    return items.map((n) => n * 10);
  });
  assert.deepEqual(out, [0, 10, 20, 30, 40, 50, 70]);
  assert.deepEqual(calls.map(([ref, items]) => [shards.indexOf(ref), items]), [[0, [0, 3]], [1, [1, 4, 7]], [2, [2, 5]]]);
});

test('scatter: a batch on one shard is one request', async () => {
  let requests = 0;
  const out = await scatter([3, 6, 9], ...route, async (_ref, items) => (requests++, items.map((n) => n + 1)));
  assert.deepEqual(out, [4, 7, 10]);
  assert.equal(requests, 1);
});

test('scatter: an item that fails its checks or has no shard keeps its error; a failing shard fails only its items', async () => {
  const out = await scatter([1, -1, 2, 4, 99], ...route, async (ref, items) => {
    if (ref === shards[1]) throw new MailboxError('E_UNAVAILABLE', 'shard 1 down');
    return items;
  });
  assert.equal(out[2], 2);
  for (const i of [0, 3]) assert.equal((out[i] as MailboxError).code, 'E_UNAVAILABLE');
  assert.equal((out[1] as MailboxError).code, 'E_SCHEMA');
  assert.equal((out[4] as MailboxError).code, 'E_STALE_LEASE');
});

test('scatter: nothing routable means no request at all', async () => {
  let requests = 0;
  const out = await scatter([-1, -2], ...route, async (_ref, items) => (requests++, items));
  assert.equal(requests, 0);
  assert.deepEqual(out.map((e) => (e as MailboxError).code), ['E_SCHEMA', 'E_SCHEMA']);
});
