/**
 * Property tests of the shard queue against a model: a random list of SEND / RECV / ACK /
 * NACK / EXTEND / TICK / RELEASE_OWNER / REVIVE / CRASH-and-REBUILD steps, each committed to
 * an in-test store model (see harness.ts). A crash throws the queue away and rebuilds a fresh
 * one from the store model alone.
 *
 * Some scenarios page, as over LevelDB: tiny windows of ready messages in RAM, the rest read
 * back page by page after each step, idempotency keys looked up in the store when the RAM
 * cache may have dropped them, a sweep of stored keys on each tick, and a rebuild from the
 * store's counters only — doing what the shard actor does around the queue.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { rebuildShard } from '../../src/domain/recovery.ts';
import { topicKey, type PageRead, type ShardLimits, type ShardQueue } from '../../src/domain/shard-queue.ts';
import { dedupKey } from '../../src/domain/dedup-window.ts';
import type { LeaseId, MessageMeta, MsgId, SessionId, StoreOp } from '../../src/domain/types.ts';
import { MailboxError } from '../../src/errors.ts';
import { LIMITS, StoreModel, T0, TENANT, hashOf, makeQueue, sendInput, session, topic } from './harness.ts';

const RUNS = 300;
const TOPICS = ['a', 'b'] as const;
const OWNERS = [session('s1'), session('s2'), session('s3')] as const;

type Cmd =
  | { kind: 'send'; topic: number; key: number; variant: number; delayMs: number }
  | { kind: 'recv'; topic: number; owner: number; max: number; visibilityMs: number; maxBytes?: number }
  | { kind: 'ack'; pick: number }
  | { kind: 'nack'; pick: number; delayMs?: number }
  | { kind: 'extend'; pick: number; ms: number }
  | { kind: 'time'; dt: number; tick: boolean }
  | { kind: 'release'; owner: number }
  | { kind: 'revive'; pick: number }
  | { kind: 'crash'; deadOwner?: number; restart: boolean }
  /** A page read goes out (the store's answer is taken now) and comes back later, other steps in between. */
  | { kind: 'readOut'; topic: number }
  | { kind: 'readBack'; topic: number };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('send' as const), topic: fc.nat(1), key: fc.nat(6), variant: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(1) }), delayMs: fc.constantFrom(0, 0, 0, 50, 400) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('recv' as const), topic: fc.nat(1), owner: fc.nat(2), max: fc.integer({ min: 1, max: 3 }), visibilityMs: fc.constantFrom(50, 300, 5_000), maxBytes: fc.option(fc.constantFrom(1, 6), { nil: undefined }) }, { requiredKeys: ['kind', 'topic', 'owner', 'max', 'visibilityMs'] }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('ack' as const), pick: fc.nat(50) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('nack' as const), pick: fc.nat(50), delayMs: fc.option(fc.constantFrom(0, 100), { nil: undefined }) }, { requiredKeys: ['kind', 'pick'] }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('extend' as const), pick: fc.nat(50), ms: fc.constantFrom(10, 500, 10_000) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('time' as const), dt: fc.constantFrom(0, 1, 20, 100, 400, 2_000), tick: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), owner: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('revive' as const), pick: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), deadOwner: fc.option(fc.nat(2), { nil: undefined }), restart: fc.boolean() }, { requiredKeys: ['kind', 'restart'] }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('readOut' as const), topic: fc.nat(1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('readBack' as const), topic: fc.nat(1) }) },
);

const limitsArb: fc.Arbitrary<ShardLimits> = fc.record({
  maxAttempts: fc.integer({ min: 1, max: 4 }),
  backoff: fc.constant({ baseMs: 10, maxMs: 200 }),
  maxVisibilityMs: fc.constant(1_500),
  capacity: fc.constantFrom(3, 6, 1_000),
  dedupCapacity: fc.constantFrom(4, 1_000),
  replayWindowMs: fc.constantFrom(300, 1_000),
  paging: fc.option(
    fc.record({ readyWindow: fc.constantFrom(1, 2, 4), residentBudget: fc.constantFrom(1, 3, 100), dedupResident: fc.constantFrom(1, 2, 100) }),
    { nil: undefined, freq: 2 },
  ),
}).map(({ paging, ...rest }) => (paging === undefined ? rest : { ...rest, paging }));

const scenarioArb = fc.record({ seed: fc.integer({ min: 1, max: 2 ** 30 }), limits: limitsArb, cmds: fc.array(cmdArb, { minLength: 1, maxLength: 100, size: "max" }) });

type Depths = ReturnType<ShardQueue['depths']>;

/** Which promise a run checks besides the model staying consistent enough to drive it. */
type Check = 'no-loss' | 'acked-never-again' | 'dedup' | 'depths' | 'rebuild';

function isCode(err: unknown, code: string): boolean {
  return err instanceof MailboxError && err.code === code;
}

function expectThrow(f: () => unknown, code: string, what: string): void {
  let thrown: unknown;
  try {
    f();
  } catch (err) {
    thrown = err;
  }
  assert.ok(isCode(thrown, code), `${what}: expected ${code}, got ${thrown === undefined ? 'success' : String(thrown)}`);
}

function runScenario(seed: number, limits: ShardLimits, cmds: Cmd[], check: ReadonlySet<Check>): void {
  const store = new StoreModel();
  let q = makeQueue(limits, seed);
  let crashes = 0;
  let now = T0;
  const accepted = new Set<MsgId>();
  const acked = new Set<MsgId>();
  const leases: Array<{ msgId: MsgId; leaseId: LeaseId }> = [];
  /** What the model expects of each idemKey: the accepted msgId, hash and window end. */
  const dedup = new Map<string, { msgId: MsgId; hash: string; expiresAt: number }>();

  const paged = limits.paging !== undefined;
  const commit = <T>(f: (out: StoreOp[]) => T): T => {
    const out: StoreOp[] = [];
    let result: T;
    try {
      result = f(out);
    } catch (err) {
      assert.deepEqual(out, [], 'a refused step emits no ops');
      throw err;
    }
    q.flushCounters(out); // the shard actor does this once per commit
    store.apply(out);
    return result;
  };

  /** Page reads out, per topic key: what the store answered when each went out. */
  const reads = new Map<string, { read: PageRead; metas: MessageMeta[] }>();

  /** What the shard actor does once a step is durable: read the next page of every topic that needs one. */
  const pageIn = (): void => {
    if (!paged) return;
    for (const t of TOPICS) {
      const key = topicKey(TENANT, topic(t));
      while (q.needsPage(key)) {
        const read = q.beginRead(key)!;
        q.applyPage(key, read, store.readyPage(read.tenant, read.topic, read));
      }
    }
  };

  const invariants = (): void => {
    const depths = q.depths();
    for (const [k, v] of Object.entries(depths)) assert.ok(v >= 0, `negative depth ${k}=${v}`);
    if (check.has('depths')) {
      const counted: Depths = { ready: 0, leased: 0, delayed: 0, dlq: 0 };
      for (const id of accepted) {
        const m = q.get(id);
        if (m) counted[m.state]++;
        else if (paged && store.msgs.get(id)?.state === 'ready') counted.ready++; // waits in the store
      }
      counted.dlq = store.dlq.size;
      assert.deepEqual(depths, counted, 'depths equal the messages in each state');
      assert.deepEqual(store.depths(), depths, 'depths equal what the store holds');
      // One tenant here: what it holds is every live message of the shard.
      const holds = q.tenantHolds(TENANT) ?? { held: 0, leased: 0 };
      assert.deepEqual({ ...holds }, { held: counted.ready + counted.leased + counted.delayed, leased: counted.leased }, 'the tenant counts equal its messages');
    }
    if (check.has('no-loss')) {
      for (const id of accepted) {
        const places = [store.msgs.has(id), acked.has(id), store.dlq.has(id)].filter(Boolean).length;
        assert.equal(places, 1, `message ${id} is in ${places} places`);
        const live = q.get(id);
        const stored = store.msgs.get(id);
        if (stored === undefined) {
          assert.equal(live, undefined, `${id} is gone from the store but live in the queue`);
          continue;
        }
        if (live === undefined && paged && stored.state === 'ready') continue; // waits in the store for a page read
        assert.ok(live, `${id} is stored as ${stored.state} but unknown to the queue`);
        assert.equal(live.state, stored.state);
        assert.equal(live.attempt, stored.attempt);
        assert.equal(live.dueAt, stored.dueAt);
        assert.equal(live.leaseId, stored.leaseId);
        assert.equal(stored.attempt, stored.history.length + (stored.state === 'leased' ? 1 : 0), 'one history record per ended attempt');
        assert.ok(store.payloads.has(id), 'a live message keeps its payload');
      }
      for (const owner of OWNERS) {
        for (const t of TOPICS) {
          const held = [...store.msgs.values()].filter((m) => m.state === 'leased' && m.owner === owner && m.topic === t).length;
          assert.equal(q.leasedBy(owner, topicKey(TENANT, t)), held, `leasedBy(${owner}, ${t})`);
        }
      }
      for (const id of store.msgs.keys()) assert.ok(accepted.has(id), `stored message ${id} was never accepted`);
      if (paged) {
        const perTopic = new Map<string, number>();
        for (const m of store.msgs.values()) perTopic.set(topicKey(m.tenant, m.topic), (perTopic.get(topicKey(m.tenant, m.topic)) ?? 0) + 1);
        const counters = new Map([...store.topicLive].map(([k, v]) => [k, v.live]));
        assert.deepEqual(counters, perTopic, 'the stored per-topic counters equal the stored messages');
        assert.equal(store.info?.dlqDepth ?? 0, store.dlq.size, 'the stored DLQ depth equals the stored DLQ');
      }
      for (const [id, entry] of store.dlq) {
        assert.equal(entry.meta.attempt, limits.maxAttempts);
        assert.equal(entry.meta.history.length, entry.meta.attempt);
        assert.ok(store.payloads.has(id), 'a dead message keeps its payload');
      }
    }
  };

  for (const cmd of cmds) {
    switch (cmd.kind) {
      case 'send': {
        const t = TOPICS[cmd.topic]!;
        const idemKey = `${t}/k${cmd.key}`;
        const text = `${idemKey}/v${cmd.variant}`;
        const input = sendInput(t, text, { idemKey, ...(cmd.delayMs > 0 ? { delayMs: cmd.delayMs } : {}) });
        const seen = dedup.get(idemKey);
        const inWindow = seen !== undefined && seen.expiresAt > now;
        // The shard actor reads a key the RAM cache lacks but the store may hold before the SEND.
        const key = dedupKey(TENANT, input.topic, idemKey);
        if (q.dedup.lookup(key, now) === undefined && q.dedup.mayBeStored(key)) {
          const stored = store.dedup.get(key);
          if (stored !== undefined) q.dedup.admit(key, { ...stored }, now);
        }
        try {
          const res = commit((o) => q.enqueue(input, now, o));
          if (inWindow) {
            assert.ok(seen.hash === input.payloadHash, 'a different payload inside the window was accepted');
            if (check.has('dedup')) assert.deepEqual(res, { msgId: seen.msgId, duplicate: true }, 'a replay inside the window answers with the first msgId');
          } else {
            assert.equal(res.duplicate, false, 'a key outside its window is a new message');
            assert.ok(!accepted.has(res.msgId), 'a new message got an old msgId');
            accepted.add(res.msgId);
            dedup.set(idemKey, { msgId: res.msgId, hash: input.payloadHash, expiresAt: now + limits.replayWindowMs });
          }
        } catch (err) {
          if (inWindow) {
            assert.ok(seen.hash !== input.payloadHash && isCode(err, 'E_IDEM_CONFLICT'), `replay refused: ${String(err)}`);
          } else {
            assert.ok(isCode(err, 'E_SATURATED'), `SEND refused: ${String(err)}`);
            const held = store.depths();
            const liveKeys = [...dedup.values()].filter((e) => e.expiresAt > now).length;
            assert.ok(held.ready + held.delayed >= limits.capacity || store.dedup.size >= limits.dedupCapacity || liveKeys >= limits.dedupCapacity, 'refused while there was room');
          }
        }
        break;
      }
      case 'recv': {
        const req = {
          tenant: TENANT, topic: topic(TOPICS[cmd.topic]!), visibilityMs: cmd.visibilityMs, maxMessages: cmd.max, owner: OWNERS[cmd.owner]!,
          ...(cmd.maxBytes === undefined ? {} : { maxBytes: cmd.maxBytes }),
        };
        const readyBefore = [...store.msgs.values()].filter((m) => m.state === 'ready' && m.topic === req.topic).length;
        const got = commit((o) => q.lease(req, now, o));
        assert.ok(got.length <= cmd.max, 'got.length <= cmd.max');
        // While a page read of the topic is out, its window may be empty with the rest in the store.
        if (readyBefore > 0 && !reads.has(topicKey(TENANT, req.topic))) assert.ok(got.length >= 1, 'a RECV with ready messages returns at least one');
        for (const m of got) {
          if (check.has('acked-never-again')) assert.ok(!acked.has(m.msgId), `acked message ${m.msgId} was delivered again`);
          assert.equal(m.state, 'leased');
          assert.equal(m.topic, req.topic);
          assert.equal(m.dueAt, now + Math.min(cmd.visibilityMs, limits.maxVisibilityMs));
          leases.push({ msgId: m.msgId, leaseId: m.leaseId! });
        }
        break;
      }
      case 'ack':
      case 'nack':
      case 'extend': {
        if (leases.length === 0) break;
        const { msgId, leaseId } = leases[cmd.pick % leases.length]!;
        const stored = store.msgs.get(msgId);
        const live = stored?.state === 'leased' && stored.leaseId === leaseId;
        if (paged && stored?.state === 'ready' && q.get(msgId) === undefined) {
          // Paged and not in RAM (only after a rebuild): the queue cannot tell a stale lease from a
          // finished message without a read, so it reports none; the shard actor then reads the
          // store and refuses the ACK (see ShardCore.onAck). NACK and EXTEND find nothing to act on.
          if (cmd.kind === 'ack') assert.equal(commit((o) => q.ack(msgId, leaseId, o)), undefined);
          else if (cmd.kind === 'nack') expectThrow(() => commit((o) => q.nack(msgId, leaseId, {}, now, o)), 'E_NOT_FOUND', 'NACK of a message in the store');
          else expectThrow(() => commit((o) => q.extend(msgId, leaseId, cmd.ms, now, o)), 'E_NOT_FOUND', 'EXTEND of a message in the store');
          break;
        }
        if (cmd.kind === 'ack') {
          if (!stored && store.dlq.has(msgId)) expectThrow(() => commit((o) => q.ack(msgId, leaseId, o)), 'E_STALE_LEASE', 'ACK of a dead-lettered message');
          else if (!stored) assert.equal(commit((o) => q.ack(msgId, leaseId, o)), undefined, 'a second ACK is a no-op');
          else if (!live) expectThrow(() => commit((o) => q.ack(msgId, leaseId, o)), 'E_STALE_LEASE', 'ACK with an old lease');
          else {
            commit((o) => q.ack(msgId, leaseId, o));
            acked.add(msgId);
          }
        } else if (cmd.kind === 'nack') {
          const options = cmd.delayMs === undefined ? {} : { delayMs: cmd.delayMs };
          if (!stored) expectThrow(() => commit((o) => q.nack(msgId, leaseId, options, now, o)), 'E_NOT_FOUND', 'NACK of a gone message');
          else if (!live) expectThrow(() => commit((o) => q.nack(msgId, leaseId, options, now, o)), 'E_STALE_LEASE', 'NACK with an old lease');
          else {
            const s = commit((o) => q.nack(msgId, leaseId, options, now, o));
            assert.equal(s.kind === 'dead', stored.attempt >= limits.maxAttempts);
          }
        } else {
          if (!stored) expectThrow(() => commit((o) => q.extend(msgId, leaseId, cmd.ms, now, o)), 'E_NOT_FOUND', 'EXTEND of a gone message');
          else if (!live || stored.dueAt <= now) expectThrow(() => commit((o) => q.extend(msgId, leaseId, cmd.ms, now, o)), 'E_STALE_LEASE', 'EXTEND of a dead lease');
          else assert.equal(commit((o) => q.extend(msgId, leaseId, cmd.ms, now, o)), now + Math.min(cmd.ms, limits.maxVisibilityMs));
        }
        break;
      }
      case 'time': {
        now += cmd.dt;
        if (cmd.tick) {
          commit((o) => q.tick(now, o));
          if (paged) {
            // The shard actor's sweep: expired stored keys go, live ones make the new filter.
            q.dedup.beginSweep();
            commit((o) => {
              for (const [key, e] of store.dedup) {
                if (e.expiresAt > now) q.dedup.sweepSaw(key);
                else if (q.dedup.lookup(key, now) === undefined) o.push({ op: 'delDedup', shard: q.shard, key });
              }
            });
            q.dedup.endSweep();
          }
          for (const m of store.msgs.values()) {
            if (m.state !== 'ready') assert.ok(m.dueAt > now, `a ${m.state} message due at ${m.dueAt} survived a tick at ${now}`);
          }
          for (const [key, e] of store.dedup) assert.ok(e.expiresAt > now, `dedup key ${key} outlived its window`);
        }
        break;
      }
      case 'release': {
        const owner = OWNERS[cmd.owner]!;
        commit((o) => q.releaseOwner(owner, now, o));
        for (const m of store.msgs.values()) assert.ok(!(m.state === 'leased' && m.owner === owner), 'a released session still holds a lease');
        break;
      }
      case 'revive': {
        const dead = [...store.dlq.values()];
        if (dead.length === 0) break;
        const entry = structuredClone(dead[cmd.pick % dead.length]!);
        const payload = store.payloads.get(entry.meta.msgId)!;
        assert.equal(hashOf(payload), entry.meta.payloadHash);
        const meta = commit((o) => q.revive(entry, payload, o));
        assert.equal(meta.attempt, 0);
        break;
      }
      case 'crash': {
        const before = q.depths();
        const dead: SessionId | undefined = cmd.deadOwner === undefined ? undefined : OWNERS[cmd.deadOwner];
        crashes++;
        q = makeQueue(limits, seed + crashes * 7_919);
        reads.clear(); // answers to the old queue's reads are dropped (the shard's epoch)
        const input = paged ? store.pagedRecoveryInput() : store.recoveryInput();
        input.ready.reverse();
        input.held.reverse();
        // A process restart counts every open lease as an attempt (server_restart) and requeues it in RAM.
        commit((o) => rebuildShard(q, input, now, cmd.restart ? 'expire-leases' : 'keep-leases', (owner) => owner !== dead, o));
        q.restoreDead([...store.dlq.values()].map((e) => e.meta)); // as the shard actor does after a rebuild
        if (dead === undefined && !cmd.restart) {
          if (check.has('rebuild')) assert.deepEqual(q.depths(), before, 'a rebuild restores the depths');
        } else {
          for (const m of store.msgs.values()) assert.ok(!(m.state === 'leased' && m.owner === dead), 'a dead session still holds a lease');
        }
        break;
      }
      case 'readOut': {
        const key = topicKey(TENANT, topic(TOPICS[cmd.topic]!));
        const read = paged ? q.beginRead(key) : undefined;
        if (read !== undefined) reads.set(key, { read, metas: store.readyPage(read.tenant, read.topic, read) });
        break;
      }
      case 'readBack': {
        const key = topicKey(TENANT, topic(TOPICS[cmd.topic]!));
        const out = reads.get(key);
        if (out === undefined) break;
        reads.delete(key);
        q.applyPage(key, out.read, out.metas);
        break;
      }
    }
    pageIn();
    invariants();
  }
}

function property(check: Check): fc.IPropertyWithHooks<[{ seed: number; limits: ShardLimits; cmds: Cmd[] }]> {
  return fc.property(scenarioArb, ({ seed, limits, cmds }) => runScenario(seed, limits, cmds, new Set([check])));
}

describe('shard queue properties', () => {
  it('no accepted message is ever lost: each is exactly one of ready, leased, delayed, acked or dead', () => {
    fc.assert(property('no-loss'), { numRuns: RUNS });
  });

  it('an acked message never reappears in a later RECV', () => {
    fc.assert(property('acked-never-again'), { numRuns: RUNS });
  });

  it('a repeated SEND with the same key and payload inside the window returns the same msgId', () => {
    fc.assert(property('dedup'), { numRuns: RUNS });
  });

  it('depths are never negative and equal the number of messages in each state', () => {
    fc.assert(property('depths'), { numRuns: RUNS });
  });

  it('a shard rebuilt from the store after a crash has the depths it had before', () => {
    fc.assert(property('rebuild'), { numRuns: RUNS });
  });

  it('the example limits of the unit tests hold up under random steps too', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 30 }), fc.array(cmdArb, { maxLength: 120, size: 'max' }), (seed, cmds) =>
        runScenario(seed, LIMITS, cmds, new Set<Check>(['no-loss', 'acked-never-again', 'dedup', 'depths', 'rebuild']))),
      { numRuns: RUNS },
    );
  });
});
