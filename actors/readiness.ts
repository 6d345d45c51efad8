/**
 * The readiness gate: `booting → ready ⇄ degraded → draining → stopped`, fed by bus events.
 *
 * - booting → ready once every required condition holds (config loaded, store up, listener
 *   bound, all shards up); → degraded instead if a degradation cause is already active.
 * - ready ⇄ degraded as degradation causes come and go: `shard-flapping` (a shard crashed
 *   `flapThreshold` times within `flapWindowMs`; cleared once it has been up `quietMs`),
 *   `storage` (store full or down), `overload`. Degraded sheds writes; reads and acks go on.
 * - After boot, a single shard crash does not degrade the gate (the shard restarts in
 *   milliseconds, and its own writes fail meanwhile); only flapping does.
 * - any state → draining on DrainRequested; → stopped (final) on Stopped.
 *
 * Time enters only through XState's delayed events (the actor's clock), so tests drive it with
 * a `SimulatedClock`.
 */
import { and, enqueueActions, setup, type ActorRef, type SnapshotFrom } from 'xstate';
import type { EventBus } from '../src/bus/bus.ts';
import { MAILBOX_TOPICS, type MailboxEvents, type MailboxTopic } from '../src/bus/events.ts';
import type { ReadinessReport, ReadinessState } from '../src/runtime/api.ts';

export type ReadinessCondition = 'config' | 'store' | 'listener' | 'shards';
export type DegradationCause = 'shard-flapping' | 'storage' | 'overload';

export const ALL_CONDITIONS: readonly ReadinessCondition[] = ['config', 'store', 'listener', 'shards'];

export interface ReadinessInput {
  /** Number of shards that must report ShardUp. */
  shards: number;
  /** Conditions required before ready; default all. The embedded runtime has no listener. */
  required?: readonly ReadinessCondition[];
  /** Crashes within `flapWindowMs` that make a shard flapping; default 3. */
  flapThreshold?: number;
  flapWindowMs?: number;
  /** A flapping shard must stay up this long to stop counting as flapping; default 5 s. */
  quietMs?: number;
}

export interface ReadinessContext {
  required: ReadinessCondition[];
  shards: number;
  flapThreshold: number;
  flapWindowMs: number;
  quietMs: number;
  configLoaded: boolean;
  storeUp: boolean;
  listener: string | null;
  shardsUp: number[];
  /** Crashes per shard still inside the flap window. */
  recentCrashes: Record<number, number>;
  lastShardCrash: Record<number, string>;
  flapping: number[];
  storeDown: string | null;
  storageFull: string | null;
  overloaded: string | null;
}

type BusEvent<K extends MailboxTopic> = { type: K } & (MailboxEvents[K] extends undefined ? unknown : MailboxEvents[K]);
/** The bus events, one to one: `{ type: topic, ...payload }`. */
export type ReadinessBusEvent = { [K in MailboxTopic]: BusEvent<K> }[MailboxTopic];
type TimerEvent = { type: 'readiness.crashExpired'; shard: number } | { type: 'readiness.quiet'; shard: number };

/** What the runtime knows to be true now, whatever edges the gate heard or missed. */
export interface ReadinessFacts {
  storeUp: boolean;
  listener: string | null;
  shardsUp: readonly number[];
  storageFull: string | null;
  overloaded: string | null;
}

/**
 * The gate hears edges (StorageFull, StorageRecovered, ShardUp…) over a bus that may drop them
 * (overflow, a partition): the runtime then sends its facts straight to the gate, which takes
 * them as they are. The same event re-feeds a restarted gate, which keeps nothing itself.
 * Crash counts and flapping are history, not facts: a resync leaves them as they were.
 */
export type ResyncEvent = { type: 'readiness.resync'; facts: ReadinessFacts };
export type ReadinessEvent = ReadinessBusEvent | TimerEvent | ResyncEvent;

const unique = (xs: number[]): number[] => [...new Set(xs)].sort((a, b) => a - b);

export function missingConditions(context: ReadinessContext): ReadinessCondition[] {
  const met: Record<ReadinessCondition, boolean> = {
    config: context.configLoaded,
    store: context.storeUp,
    listener: context.listener !== null,
    shards: context.shardsUp.length >= context.shards,
  };
  return context.required.filter((condition) => !met[condition]);
}

export function degradationCauses(context: ReadinessContext): Array<{ cause: DegradationCause; detail: string }> {
  const causes: Array<{ cause: DegradationCause; detail: string }> = [];
  if (context.flapping.length > 0) {
    const list = context.flapping.map((s) => (context.lastShardCrash[s] ? `${s} (${context.lastShardCrash[s]})` : `${s}`));
    causes.push({ cause: 'shard-flapping', detail: `shard ${list.join(', ')}` });
  }
  if (context.storageFull !== null) causes.push({ cause: 'storage', detail: `full: ${context.storageFull}` });
  else if (context.storeDown !== null) causes.push({ cause: 'storage', detail: `down: ${context.storeDown}` });
  if (context.overloaded !== null) causes.push({ cause: 'overload', detail: context.overloaded });
  return causes;
}

function initialContext(input: ReadinessInput): ReadinessContext {
  return {
    required: [...(input.required ?? ALL_CONDITIONS)],
    shards: input.shards,
    flapThreshold: input.flapThreshold ?? 3,
    flapWindowMs: input.flapWindowMs ?? 10_000,
    quietMs: input.quietMs ?? 5_000,
    configLoaded: false,
    storeUp: false,
    listener: null,
    shardsUp: [],
    recentCrashes: {},
    lastShardCrash: {},
    flapping: [],
    storeDown: null,
    storageFull: null,
    overloaded: null,
  };
}

/** The context after one event: pure, so the rules read in one place. */
export function applyReadinessEvent(context: ReadinessContext, event: ReadinessEvent): ReadinessContext {
  const validShard = (shard: number) => Number.isInteger(shard) && shard >= 0 && shard < context.shards;
  switch (event.type) {
    case 'ConfigLoaded':
      return { ...context, configLoaded: true };
    case 'StoreUp':
      return { ...context, storeUp: true, storeDown: null };
    case 'StoreDown':
      return { ...context, storeUp: false, storeDown: event.reason };
    case 'StorageFull':
      return { ...context, storageFull: event.reason };
    case 'StorageRecovered':
      return { ...context, storageFull: null };
    case 'Overloaded':
      return { ...context, overloaded: event.reason };
    case 'OverloadCleared':
      return { ...context, overloaded: null };
    case 'ListenerBound':
      return { ...context, listener: event.addr };
    case 'ListenerClosed':
      return { ...context, listener: null };
    case 'ShardUp':
      return validShard(event.shard) ? { ...context, shardsUp: unique([...context.shardsUp, event.shard]) } : context;
    case 'ShardCrashed': {
      if (!validShard(event.shard)) return context;
      const count = (context.recentCrashes[event.shard] ?? 0) + 1;
      return {
        ...context,
        shardsUp: context.shardsUp.filter((s) => s !== event.shard),
        recentCrashes: { ...context.recentCrashes, [event.shard]: count },
        lastShardCrash: { ...context.lastShardCrash, [event.shard]: event.reason },
        flapping: count >= context.flapThreshold ? unique([...context.flapping, event.shard]) : context.flapping,
      };
    }
    case 'readiness.crashExpired': {
      const count = Math.max(0, (context.recentCrashes[event.shard] ?? 0) - 1);
      return { ...context, recentCrashes: { ...context.recentCrashes, [event.shard]: count } };
    }
    case 'readiness.quiet':
      return context.shardsUp.includes(event.shard) ? { ...context, flapping: context.flapping.filter((s) => s !== event.shard) } : context;
    case 'readiness.resync': {
      const { facts } = event;
      return {
        ...context,
        storeUp: facts.storeUp,
        storeDown: facts.storeUp ? null : context.storeDown,
        listener: facts.listener,
        shardsUp: unique(facts.shardsUp.filter(validShard)),
        storageFull: facts.storageFull,
        overloaded: facts.overloaded,
      };
    }
    default:
      return context;
  }
}

const quietId = (shard: number) => `readiness.quiet.${shard}`;

export const readinessMachine = setup({
  types: {
    context: {} as ReadinessContext,
    events: {} as ReadinessEvent,
    input: {} as ReadinessInput,
  },
  guards: {
    allMet: ({ context }) => missingConditions(context).length === 0,
    healthy: ({ context }) => degradationCauses(context).length === 0,
    degraded: ({ context }) => degradationCauses(context).length > 0,
  },
  actions: {
    observe: enqueueActions(({ context, event, enqueue }) => {
      const next = applyReadinessEvent(context, event);
      if (next !== context) enqueue.assign(() => next);
      if (event.type === 'ShardCrashed' && next !== context) {
        enqueue.cancel(quietId(event.shard));
        enqueue.raise({ type: 'readiness.crashExpired', shard: event.shard }, { delay: context.flapWindowMs });
      }
      // A flapping shard that is up again starts its quiet period, whether its ShardUp came
      // over the bus or only in a resync (the bus dropped it).
      const cameUp = event.type === 'ShardUp' ? [event.shard] : event.type === 'readiness.resync' ? next.shardsUp.filter((s) => !context.shardsUp.includes(s)) : [];
      for (const shard of cameUp) {
        if (!next.flapping.includes(shard)) continue;
        enqueue.cancel(quietId(shard));
        enqueue.raise({ type: 'readiness.quiet', shard }, { delay: context.quietMs, id: quietId(shard) });
      }
    }),
  },
}).createMachine({
  id: 'readiness',
  initial: 'booting',
  context: ({ input }) => initialContext(input),
  on: {
    ConfigLoaded: { actions: 'observe' },
    StoreUp: { actions: 'observe' },
    StoreDown: { actions: 'observe' },
    StorageFull: { actions: 'observe' },
    StorageRecovered: { actions: 'observe' },
    Overloaded: { actions: 'observe' },
    OverloadCleared: { actions: 'observe' },
    ListenerBound: { actions: 'observe' },
    ListenerClosed: { actions: 'observe' },
    ShardUp: { actions: 'observe' },
    ShardCrashed: { actions: 'observe' },
    'readiness.crashExpired': { actions: 'observe' },
    'readiness.quiet': { actions: 'observe' },
    'readiness.resync': { actions: 'observe' },
    DrainRequested: { target: '.draining' },
    Stopped: { target: '.stopped' },
  },
  states: {
    booting: {
      always: [
        { guard: and(['allMet', 'healthy']), target: 'ready' },
        { guard: 'allMet', target: 'degraded' },
      ],
    },
    ready: {
      always: { guard: 'degraded', target: 'degraded' },
    },
    degraded: {
      always: { guard: 'healthy', target: 'ready' },
    },
    draining: {
      on: { DrainRequested: {} },
    },
    stopped: { type: 'final' },
  },
});

export type ReadinessSnapshot = SnapshotFrom<typeof readinessMachine>;

const CONDITION_TEXT: Record<ReadinessCondition, (context: ReadinessContext) => string> = {
  config: () => 'waiting for config',
  store: (c) => (c.storeDown ? `waiting for store (down: ${c.storeDown})` : 'waiting for store'),
  listener: () => 'waiting for listener',
  shards: (c) => `waiting for shards: ${c.shardsUp.length}/${c.shards} up`,
};

/** What `/readyz` and `Mailbox.readiness()` answer. */
export function readinessReport(snapshot: ReadinessSnapshot): ReadinessReport {
  const state = snapshot.value as ReadinessState;
  const context = snapshot.context;
  const causes = degradationCauses(context).map(({ cause, detail }) => `${cause}: ${detail}`);
  let reasons: string[];
  switch (state) {
    case 'booting':
      reasons = [...missingConditions(context).map((c) => CONDITION_TEXT[c](context)), ...causes];
      break;
    case 'degraded':
      reasons = causes;
      break;
    case 'draining':
    case 'stopped':
      reasons = [state];
      break;
    default:
      reasons = [];
  }
  return { state, ready: state === 'ready', reasons };
}

/** SEND is accepted only when ready; degraded sheds writes first. */
export function acceptsWrites(snapshot: ReadinessSnapshot): boolean {
  return snapshot.value === 'ready';
}

/** RECV / ACK / NACK / EXTEND keep working while degraded and draining, so consumers can drain. */
export function acceptsReads(snapshot: ReadinessSnapshot): boolean {
  return snapshot.value === 'ready' || snapshot.value === 'degraded' || snapshot.value === 'draining';
}

/** Forwards every bus event to the readiness actor. Returns the function that disconnects it. */
export function connectReadiness(bus: EventBus<MailboxEvents>, actor: Pick<ActorRef<ReadinessSnapshot, ReadinessEvent>, 'send'>): () => void {
  const offs = MAILBOX_TOPICS.map((topic) =>
    bus.subscribe(topic, (payload: unknown) => {
      const fields = typeof payload === 'object' && payload !== null ? payload : {};
      actor.send({ ...fields, type: topic } as ReadinessEvent);
    }),
  );
  return () => {
    for (const off of offs) off();
  };
}

