/**
 * `createMailbox(config)`: the whole runtime in-process. It builds the supervisor tree
 *
 *   root (rest_for_one): store, bus, readiness, shards (one_for_one), dlq (one_for_one), sessions
 *
 * wires the readiness gate to the bus, and returns the embedding API.
 */
import { createActor, type AnyActorRef } from 'xstate';
import { randomBytes } from 'node:crypto';
import { resolveConfig } from '../config/resolve.ts';
import type { DeepPartial, MailboxConfig } from '../config/config.ts';
import { mathRng, systemClock, type Clock, type Rng } from '../domain/clock.ts';
import { IdGenerator } from '../domain/ids.ts';
import { ShardQueue, type Settlement } from '../domain/shard-queue.ts';
import type { SessionId, ShardIndex } from '../domain/types.ts';
import { topicClass } from '../domain/routing.ts';
import { MailboxError } from '../errors.ts';
import { EventBus } from '../bus/bus.ts';
import { MAILBOX_TOPICS, type MailboxEvents } from '../bus/events.ts';
import { createMetrics, type RequeueReason } from '../observability/metrics.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { createStore, type FaultableStore } from '../store/open-store.ts';
import { preparePrivateDir } from '../store/private-files.ts';
import { Supervisor } from '../../supervisors/supervisor.ts';
import { actorChild, crashable } from '../../supervisors/actor-child.ts';
import type { Child, ChildSpec } from '../../supervisors/child.ts';
import { ShardRef } from '../../actors/shard-ref.ts';
import { startShard } from '../../actors/shard.ts';
import type { ShardHooks } from '../../actors/shard-core.ts';
import { startSharedShard } from '../../actors/shared-shard.ts';
import { RedisStore } from '../store/redis.ts';
import { DlqRef, type DlqHooks } from '../../actors/dlq.ts';
import { sessionMachine } from '../../actors/session.ts';
import {
  acceptsWrites, connectReadiness, readinessMachine, readinessReport, type ReadinessCondition, type ReadinessInput, type ReadinessSnapshot,
} from '../../actors/readiness.ts';
import { plainChild } from './plain-child.ts';
import { policyFromQuotaConfig, QuotaBook } from './quota.ts';
import { PolicyHolder } from './policy-holder.ts';
import { TenantHoldGate } from './tenant-holds.ts';
import type { Policy } from '../domain/policy.ts';
import { watchOverload } from './overload-monitor.ts';
import { SessionHandle } from './session-handle.ts';
import type { RuntimeCore } from './core.ts';
import type { Mailbox, ReadinessReport, Session, SessionOptions, TreeNode } from './api.ts';
import { MailboxRuntime } from './mailbox.ts';

export interface RuntimeOptions {
  clock?: Clock;
  rng?: Rng;
  logger?: Logger;
  /** A store to use instead of the configured one (tests, fault injection). */
  store?: FaultableStore;
  /** Readiness also waits for a bound listener (the network server sets this). */
  requireListener?: boolean;
  /** Flap detection of the readiness gate (tests and drills shorten or relax it); defaults in actors/readiness.ts. */
  readiness?: Pick<ReadinessInput, 'flapThreshold' | 'flapWindowMs' | 'quietMs'>;
  /** The policy to start with when there is no policyFile (embedders, tests); default: the quota.* keys. */
  policy?: Policy;
}

/** How long after a dropped bus event the readiness gate is sent the runtime's facts. */
const READINESS_RESYNC_DELAY_MS = 50;

const REQUEUE_REASON: Record<string, RequeueReason> = {
  expired: 'visibility',
  nacked: 'nack',
  session_lost: 'session_lost',
  server_restart: 'retry',
};

/** Builds and starts a mailbox; resolves once every shard has loaded and readiness is ready. */
export async function createMailbox(
  config: DeepPartial<MailboxConfig> | MailboxConfig = {},
  options: RuntimeOptions = {},
): Promise<MailboxRuntime> {
  const cfg = resolveConfig(config as DeepPartial<MailboxConfig>);
  const clock = options.clock ?? systemClock;
  const rng = options.rng ?? mathRng;
  const logger = options.logger ?? createLogger({ level: cfg.logLevel });
  const metrics = createMetrics();
  // Before anything is written: the data dir is made 0700, or refused when others may write to it.
  if (!cfg.amnesia && !options.store) await preparePrivateDir(cfg.dataDir);
  const store = options.store ?? createStore(cfg);
  const bus = new EventBus<MailboxEvents>({
    onCounter: (counter, topic) => {
      if (counter === 'lagged') return metrics.busLagged(topic);
      metrics.busOverflowDropped(topic);
      // An edge the readiness gate may not have heard: it gets the facts instead.
      scheduleReadinessResync();
    },
    onHandlerError: (error, topic) => logger.error({ event: 'bus_handler_failed', topic, err: error }, 'bus handler failed'),
  });
  const quota = new QuotaBook(options.policy ?? policyFromQuotaConfig(cfg.quota));
  const policies = new PolicyHolder(cfg.policyFile, quota.current, {
    logger,
    wall: () => clock.wall(),
    applied: (policy, changes, by) => {
      quota.replace(policy);
      if (by === 'start') return;
      logger.warn({ event: 'policy_reloaded', by, changes }, `policy reloaded by ${by}: ${changes.length} change(s)`);
      bus.publish('PolicyReloaded', { by, changes: changes.length });
    },
    refused: (reason, by) => {
      metrics.policyReloadFailed();
      logger.error({ event: 'policy_reload_failed', by, reason }, `policy reload refused, the cached policy stays: ${reason}`);
      bus.publish('PolicyReloadFailed', { by, reason });
    },
  });
  // A policy file that is missing or wrong fails the start, before anything else runs.
  await policies.load();
  const sessions = new Map<SessionId, SessionHandle>();
  const required: ReadinessCondition[] = options.requireListener ? ['config', 'store', 'listener', 'shards'] : ['config', 'store', 'shards'];

  let readiness: AnyActorRef | undefined;
  let disconnectReadiness: () => void = () => {};
  const readinessSnapshot = (): ReadinessSnapshot | undefined => readiness?.getSnapshot() as ReadinessSnapshot | undefined;
  // Facts the readiness gate is re-fed with when it restarts (it keeps nothing itself) or
  // when the bus dropped an event on the way to it.
  const facts = {
    storeUp: false, listener: undefined as string | undefined, shardsUp: new Set<number>(),
    storageFull: undefined as string | undefined, overloaded: undefined as string | undefined,
  };
  const resyncReadiness = (): void => {
    readiness?.send({
      type: 'readiness.resync',
      facts: { storeUp: facts.storeUp, listener: facts.listener ?? null, shardsUp: [...facts.shardsUp], storageFull: facts.storageFull ?? null, overloaded: facts.overloaded ?? null },
    });
  };
  // Once per burst of drops, after the bus has delivered what it still queued (an older edge
  // arriving after the facts would undo them).
  let resyncTimer: NodeJS.Timeout | undefined;
  function scheduleReadinessResync(): void {
    if (resyncTimer) return;
    resyncTimer = setTimeout(() => {
      resyncTimer = undefined;
      resyncReadiness();
    }, READINESS_RESYNC_DELAY_MS);
    resyncTimer.unref();
  }

  // Stable addresses: actor instances behind them come and go; a fresh one gets the sessions' subscriptions again.
  const shards: ShardRef[] = [];
  for (let i = 0; i < cfg.shards; i++) {
    shards.push(new ShardRef(i as ShardIndex, (ref) => {
      for (const session of sessions.values()) session.resubscribe(ref);
    }));
  }

  const rt: RuntimeCore = {
    config: cfg,
    clock,
    store,
    shards,
    metrics,
    writeRefusal() {
      const snap = readinessSnapshot();
      if (snap && acceptsWrites(snap)) return undefined;
      // Only shedding counts as `degraded`; refusals while booting or draining are 503s in requests_total.
      if (snap?.value === 'degraded') metrics.rejected('degraded');
      const report = snap ? readinessReport(snap) : { state: 'booting', reasons: ['readiness restarting'] };
      return new MailboxError('E_UNAVAILABLE', `not accepting writes (${report.state}${report.reasons.length ? `: ${report.reasons.join('; ')}` : ''})`, { retryAfterMs: 1000 });
    },
    draining: () => readinessSnapshot()?.value === 'draining',
    takeQuota(tenant, items) {
      const refusal = quota.take(tenant, items, clock.now(), clock.wall());
      if (refusal) metrics.rejected('quota');
      return refusal;
    },
    sessionEnded(id, reason) {
      const handle = sessions.get(id);
      sessions.delete(id);
      for (const ref of rt.shards) ref.notify({ type: 'release', owner: id });
      handle?.markEnded(reason);
    },
  };

  const settled = (s: Settlement): void => {
    const meta = s.kind === 'dead' ? s.entry.meta : s.meta;
    const outcome = s.kind === 'dead' ? s.entry.reason : s.outcome;
    if (outcome === 'expired') metrics.visibilityTimeout(meta.topic);
    if (s.kind === 'dead') metrics.dlqWrite(meta.topic);
    else metrics.requeued(meta.topic, REQUEUE_REASON[outcome] ?? 'retry');
  };

  let booted = false;
  /** Every shard has loaded once: from here a storage outage degrades readiness instead of failing the start. */
  let serving = false;
  let failure: string | undefined;
  const failureListeners: Array<(reason: string) => void> = [];
  const inflightAvailable = (): number => {
    // Draining: no new leases, so the open ones can settle and the drain can end.
    if (readinessSnapshot()?.value === 'draining') return 0;
    let leased = 0;
    for (const ref of shards) leased += ref.running?.queue.leasedCount ?? 0;
    return cfg.queue.maxInflight - leased;
  };

  // Per-tenant bounds on queued messages and open leases, counted by the shards themselves.
  const holds = new TenantHoldGate(quota, shards, () => metrics.rejected('quota'));

  const shardHooks = (ref: ShardRef): ShardHooks => ({
    up: () => {
      facts.shardsUp.add(ref.index);
      bus.publish('ShardUp', { shard: ref.index });
    },
    settled,
    storageFailed: (error, refused) => {
      for (let i = 0; i < refused; i++) metrics.rejected('storage');
      if (!facts.storageFull) {
        facts.storageFull = error.message;
        logger.error({ event: 'storage_failed', shard: ref.index, err: error }, 'storage refused a write; shedding writes');
        bus.publish('StorageFull', { reason: error.message });
      }
    },
    // A msgId of another tenant's message was answered as not found: counted as an auth refusal.
    foreignRefused: (count) => {
      for (let i = 0; i < count; i++) metrics.rejected('auth');
    },
    integrityFailed: (msgId) => {
      metrics.integrityFail('egress');
      logger.error({ event: 'integrity_failed', shard: ref.index, msgId }, 'a stored payload no longer matches its hash');
    },
    storageRecovered: () => {
      if (facts.storageFull) {
        facts.storageFull = undefined;
        logger.warn({ event: 'storage_recovered', shard: ref.index }, 'storage accepts writes again');
        bus.publish('StorageRecovered');
      }
    },
  });

  // Shared mode (redis.shared): Redis holds the queue, and every instance serves every shard.
  const sharedStore = store instanceof RedisStore && store.isShared ? store : undefined;
  const startSharedShardOf = (ref: ShardRef, shared: RedisStore): Child => {
    const queue = shared.sharedQueue(ref.index, {
      maxAttempts: cfg.queue.maxAttempts, backoffBaseMs: cfg.queue.backoffBaseMs, backoffMaxMs: cfg.queue.backoffMaxMs,
      replayWindowMs: cfg.queue.replayWindowMs, capacity: cfg.queue.shardCapacity,
    });
    return startSharedShard(ref, {
      shard: ref.index, queue, ids: new IdGenerator(rng), rng, now: () => clock.wall(), maxVisibilityMs: cfg.queue.maxVisibilityMs,
      onWake: (listener) => shared.onWake(queue.wakeChannel, listener),
      serving: () => serving, instance: shared.instanceId, inflightAvailable, hooks: shardHooks(ref),
    });
  };

  const shardSpec = (ref: ShardRef): ChildSpec => ({
    id: `shard-${ref.index}`,
    kind: 'shard',
    restart: 'permanent',
    start: () => sharedStore ? startSharedShardOf(ref, sharedStore) :
      startShard(ref, {
        newQueue: () => {
          const queue = new ShardQueue(ref.index, {
            maxAttempts: cfg.queue.maxAttempts,
            backoff: { baseMs: cfg.queue.backoffBaseMs, maxMs: cfg.queue.backoffMaxMs },
            maxVisibilityMs: cfg.queue.maxVisibilityMs,
            capacity: cfg.queue.shardCapacity,
            dedupCapacity: cfg.queue.dedupCapacity,
            replayWindowMs: cfg.queue.replayWindowMs,
            ...(store.residency === 'paged'
              ? { paging: { readyWindow: cfg.queue.readyWindow, residentBudget: cfg.queue.residentBudget, dedupResident: cfg.queue.dedupResident } }
              : {}),
          }, new IdGenerator(rng), rng);
          queue.admitHeld = (tenant) => holds.admitMessage(tenant);
          return queue;
        },
        store,
        clock,
        // A process start finds no consumer holding any lease; an actor restart keeps them.
        leaseRecovery: booted ? 'keep-leases' : 'expire-leases',
        serving: () => serving,
        isOwnerAlive: (owner) => sessions.has(owner),
        inflightAvailable,
        leaseBound: holds,
        hotPayloadBytes: store.kind === 'memory' ? 0 : cfg.queue.hotPayloadBytes,
        retention: {
          readyMs: cfg.retention.readyMs,
          purged: (messages) => {
            metrics.retentionPurged('ready', messages.length);
            logger.warn(
              { event: 'retention_purged', kind: 'ready', shard: ref.index, count: messages.length, retentionMs: cfg.retention.readyMs, oldest: messages[0]?.msgId },
              `purged ${messages.length} ready/delayed messages older than retention.readyMs`,
            );
          },
        },
        hooks: shardHooks(ref),
      }),
  });

  const dlq = new DlqRef();
  const dlqHooks: DlqHooks = {
    retentionPurged: (shard, count) => {
      metrics.retentionPurged('dlq', count);
      logger.warn({ event: 'retention_purged', kind: 'dlq', shard, count, retentionMs: cfg.retention.dlqMs }, `purged ${count} DLQ entries older than retention.dlqMs`);
    },
    retentionFailed: (err) => logger.error({ event: 'retention_failed', kind: 'dlq', err }, 'DLQ retention pass failed; retried next interval'),
  };
  const supervision = cfg.supervision;
  const onEvent = (event: import('../../supervisors/events.ts').SupervisorEvent): void => {
    if (event.type === 'childCrashed') {
      metrics.serviceRestart(event.kind === 'session' ? 'session' : event.id);
      logger.warn({ event: 'actor_crashed', path: event.path, reason: event.reason, restarts: event.restarts, willRestart: event.willRestart }, 'actor crashed');
      if (event.kind === 'shard') {
        const shard = Number(event.id.slice('shard-'.length));
        facts.shardsUp.delete(shard);
        bus.publish('ShardCrashed', { shard, reason: event.reason });
      }
    } else if (event.type === 'escalated') {
      logger.error({ event: 'supervisor_escalated', path: event.supervisor, reason: event.reason }, 'supervisor escalated');
    }
  };
  const sub = (id: string, children: ChildSpec[]): Supervisor =>
    new Supervisor({ id, path: `/root/${id}`, strategy: 'one_for_one', supervision, children, clock, rng, onEvent });

  // Each restart of a nested supervisor builds a fresh one; sessions are opened on the current one.
  let sessionsSup: Supervisor | undefined;

  const root = new Supervisor({
    id: 'root',
    path: '/root',
    strategy: 'rest_for_one',
    supervision,
    clock,
    rng,
    onEvent,
    onEscalate: (e) => {
      // Crash-only: the root gave up, so this runtime is finished; whoever embeds it (the CLI
      // exits 1 for its process manager) is told once.
      failure = e.reason;
      logger.fatal({ event: 'runtime_failed', reason: e.reason }, 'the root supervisor gave up');
      for (const listener of failureListeners) listener(e.reason);
    },
    children: [
      {
        id: 'store', kind: 'store', restart: 'permanent',
        start: async () => {
          await store.open().catch((err: unknown) => {
            // Already open (a restart of this holder): keep the same store and its data.
            if (!(err instanceof MailboxError && /already open/i.test(err.message))) throw err;
          });
          facts.storeUp = true;
          bus.publish('StoreUp');
          return plainChild(() => (store instanceof RedisStore ? { state: store.kind, info: definedOnly(store.health()) } : { state: store.kind }));
        },
      },
      { id: 'bus', kind: 'bus', restart: 'permanent', start: () => plainChild(() => ({ state: 'running' })) },
      {
        id: 'readiness', kind: 'readiness', restart: 'permanent',
        start: () => {
          disconnectReadiness();
          const actor = createActor(crashable(readinessMachine), { input: { ...options.readiness, shards: cfg.shards, required } });
          const child = actorChild(actor, { describe: (s) => ({ state: String((s as ReadinessSnapshot).value) }) });
          readiness = actor;
          disconnectReadiness = connectReadiness(bus, actor);
          actor.send({ type: 'ConfigLoaded' });
          resyncReadiness();
          return child;
        },
      },
      { id: 'shards', kind: 'supervisor', restart: 'permanent', start: () => sub('shards', shards.map(shardSpec)).start() },
      {
        id: 'dlq', kind: 'supervisor', restart: 'permanent',
        start: () => sub('dlq', [{ id: 'dlq', kind: 'dlq', restart: 'permanent', start: () => dlq.start(rt, dlqHooks) }]).start(),
      },
      {
        id: 'sessions', kind: 'supervisor', restart: 'permanent',
        start: async () => {
          // Sessions are temporary: a restarted sessions supervisor starts empty (their connections closed).
          for (const s of [...sessions.values()]) rt.sessionEnded(s.id, 'sessions supervisor restarted');
          sessionsSup = await sub('sessions', []).start();
          return sessionsSup;
        },
      },
    ],
  });
  await root.start();
  booted = true;
  const stopOverloadWatch = watchOverload(bus, { lagMs: cfg.overloadLagMs, commitMs: cfg.overloadCommitMs }, (reason) => (facts.overloaded = reason));
  // Golden metrics: depths are read at scrape time; known label sets start at 0 so the first
  // scrape shows every series. The DLQ's topic classes are not indexed, so its depth is per shard
  // under queue="all".
  metrics.setDepthProvider(function* () {
    for (const ref of shards) {
      const queue = ref.running?.queue;
      if (!queue) continue;
      for (const [cls, d] of queue.depthsByClass(topicClass)) {
        yield { queue: cls, shard: ref.index, kind: 'ready', value: d.ready };
        yield { queue: cls, shard: ref.index, kind: 'vis', value: d.leased };
      }
      yield { queue: 'all', shard: ref.index, kind: 'dlq', value: queue.depths().dlq };
    }
  });
  metrics.setStoreProvider(() => (store instanceof RedisStore ? { store: store.kind, ...store.health() } : { store: store.kind }));
  metrics.setResidentProvider(function* () {
    for (const ref of shards) {
      const queue = ref.running?.queue;
      if (queue) yield { shard: ref.index, value: queue.residentMessages };
    }
  });
  metrics.preinit({
    busTopics: MAILBOX_TOPICS,
    actors: [...shards.map((r) => `shard-${r.index}`), 'dlq', 'session', 'readiness', 'store', 'bus', 'ingress', 'admin'],
  });

  const openSession = (opts: SessionOptions = {}): Session => {
    const id = `s-${randomBytes(6).toString('hex')}` as SessionId;
    const actor = createActor(crashable(sessionMachine), { input: { id } });
    const handle = new SessionHandle(id, rt, actor, opts);
    sessions.set(id, handle);
    actor.subscribe({
      error: (err: unknown) => rt.sessionEnded(id, `crashed: ${err instanceof Error ? err.message : String(err)}`),
      complete: () => rt.sessionEnded(id, 'closed'),
    });
    if (!sessionsSup || sessionsSup.status !== 'running') throw new MailboxError('E_UNAVAILABLE', 'sessions supervisor restarting', { retryAfterMs: 200 });
    void sessionsSup.startChild({
      id, kind: 'session', restart: 'temporary',
      start: () => actorChild(actor, { describe: () => ({ state: handle.closed ? 'closed' : 'open' }) }),
    });
    return handle;
  };

  const runtime = new MailboxRuntime({
    rt, root, bus, metrics, logger, dlq, openSession, policies,
    failure: () => failure,
    onFailure: (listener) => {
      failureListeners.push(listener);
      if (failure) listener(failure);
    },
    readiness: (): ReadinessReport => {
      if (failure) return { state: 'stopped', ready: false, reasons: [`runtime failed: ${failure}`] };
      const snap = readinessSnapshot();
      const report: ReadinessReport = snap ? readinessReport(snap) : { state: 'booting', ready: false, reasons: ['readiness restarting'] };
      // /readyz says how Redis answers, so an operator sees a slow or lost Redis before writes shed.
      if (store instanceof RedisStore) report.redis = store.health();
      return report;
    },
    setListener: (addr) => {
      facts.listener = addr;
      if (addr) bus.publish('ListenerBound', { addr });
      else bus.publish('ListenerClosed');
    },
    closeAllSessions: async () => {
      for (const s of [...sessions.values()]) await s.close();
    },
    shutdown: async () => {
      stopOverloadWatch();
      clearTimeout(resyncTimer);
      disconnectReadiness();
      await root.stop();
      await store.close();
    },
  });
  // A start whose supervisors gave up (a shard that cannot load) fails now, with why, and leaves nothing running.
  try {
    await runtime.waitFor(() => {
      if (failure) throw new MailboxError('E_UNAVAILABLE', `the mailbox did not start: ${failure}`);
      return facts.shardsUp.size === cfg.shards;
    }, 60_000, 'all shards to load');
  } catch (err) {
    await runtime.stop().catch(() => {});
    throw err;
  }
  serving = true;
  return runtime;
}

/** The fields of `o` that are set (a tree node's info holds no undefined). */
function definedOnly(o: Record<string, string | number | boolean | undefined>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

export type { Mailbox, TreeNode };
