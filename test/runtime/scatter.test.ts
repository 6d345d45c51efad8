import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MailboxError } from '../../src/errors.ts';
import { scatter, scatterTo } from '../../src/runtime/scatter.ts';
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

/** Runs scatterTo with shards that answer at once (or refuse, for shard 1 when `down`), and the requests each got. */
function runTo(items: number[], down = false): { out: Array<number | MailboxError>; calls: Array<[number, number[]]>; answers: number } {
  const calls: Array<[number, number[]]> = [];
  let out: Array<number | MailboxError> = [];
  let answers = 0;
  scatterTo<number, number>(items, shardOf, (ref, group, reply) => {
    calls.push([shards.indexOf(ref), group.slice()]);
    if (down && ref === shards[1]) reply.reject(new MailboxError('E_UNAVAILABLE', 'shard 1 down'));
    else reply.resolve(group.map((n) => n * 10));
    // A second answer (a late one after a restart refusal) is dropped.
    reply.resolve([]);
  }, (outcomes) => {
    answers++;
    out = outcomes;
  });
  return { out, calls, answers };
}

test('scatterTo: a batch on one shard is one request, answered once with the shard\'s outcomes in order', () => {
  const { out, calls, answers } = runTo([3, 6, 9]);
  assert.deepEqual(out, [30, 60, 90]);
  assert.deepEqual(calls, [[0, [3, 6, 9]]]);
  assert.equal(answers, 1);
});

test('scatterTo: items over several shards, an item with no shard and a refusing shard each keep their own outcome', () => {
  const { out, calls, answers } = runTo([0, 1, 99, 2, 3, 4], true);
  assert.deepEqual(calls, [[0, [0, 3]], [1, [1, 4]], [2, [2]]]);
  assert.equal(answers, 1);
  assert.equal(out[0], 0);
  assert.equal(out[3], 20);
  assert.equal(out[4], 30);
  for (const i of [1, 5]) assert.equal((out[i] as MailboxError).code, 'E_UNAVAILABLE');
  assert.equal((out[2] as MailboxError).code, 'E_STALE_LEASE');
});

test('scatterTo: a batch whose every item has no shard is answered without a request', () => {
  const { out, calls, answers } = runTo([99, 99]);
  assert.equal(calls.length, 0);
  assert.equal(answers, 1);
  assert.deepEqual(out.map((e) => (e as MailboxError).code), ['E_STALE_LEASE', 'E_STALE_LEASE']);
});
