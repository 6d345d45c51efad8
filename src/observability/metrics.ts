/**
 * The golden metrics of one mailbox instance, in a registry of its own (never prom-client's
 * global one), so several mailboxes in one process do not collide. The hot path calls the
 * small methods of {@link Metrics}; they cache labelled children so a call allocates little.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { BoundedLabels, DEFAULT_LABEL_CAP, clip, queueLabel } from './labels.ts';

// `connections`: a WebSocket upgrade refused at maxConnections; `hello_timeout`: a socket closed for missing its HELLO deadline.

/** What `store_info` and the redis gauges show. */
export interface StoreInfo {
  store: string;
  mode?: string;
  instance?: string;
  redis?: string;
  prefix?: string;
  reachable?: boolean;
  latencyMs?: number;
}
export const REJECT_REASONS = ['quota', 'degraded', 'storage', 'auth', 'schema', 'saturated', 'connections', 'hello_timeout'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export const REQUEUE_REASONS = ['visibility', 'nack', 'retry', 'session_lost'] as const;
export type RequeueReason = (typeof REQUEUE_REASONS)[number];

export const DEPTH_KINDS = ['ready', 'vis', 'dlq'] as const;
/** `ready`: deliverable now (ready + delayed); `vis`: leased, waiting on a visibility deadline; `dlq`: dead-lettered. */
export type DepthKind = (typeof DEPTH_KINDS)[number];

/** What a retention pass purged: ready (and delayed) messages, or DLQ entries. */
export const RETENTION_KINDS = ['ready', 'dlq'] as const;
export type RetentionKind = (typeof RETENTION_KINDS)[number];

export const INTEGRITY_STAGES = ['ingress', 'egress'] as const;
export type IntegrityStage = (typeof INTEGRITY_STAGES)[number];

/** The faults `mailbox chaos inject` can put into a running server (src/chaos-control). */
export const CHAOS_FAULTS = ['latency', 'cpu', 'kill-actor', 'bus-drop', 'storage-full'] as const;
export type ChaosFault = (typeof CHAOS_FAULTS)[number];

/** The readiness gate's states (actors/readiness.ts); `readiness_state` has one series per state. */
export const READINESS_STATES = ['booting', 'ready', 'degraded', 'draining', 'stopped'] as const;
export type ReadinessStateLabel = (typeof READINESS_STATES)[number];

/** Seconds; from 100 µs (an in-memory SEND) to 5 s (a stalled fsync). */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Seconds a long-poll RECV sat parked for a message: from 10 ms to the 15-minute long polls some clients make. */
export const RECV_WAIT_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];

/** Every golden metric name; each appears in the first scrape. */
export const GOLDEN_METRICS = [
  'requests_total',
  'request_latency_seconds',
  'inflight_requests',
  'rejected_total',
  'queue_depth',
  'requeued_total',
  'visibility_timeouts_total',
  'dlq_writes_total',
  'dlq_depth',
  'bus_lagged_total',
  'bus_overflow_dropped_total',
  'integrity_fail_total',
  'service_restarts_total',
] as const;

/** One depth sample. `queue` may be a topic or a topic class; it is reduced to a bounded label. */
export interface DepthSample {
  queue: string;
  shard: number | string;
  kind: DepthKind;
  value: number;
}

/** Read at scrape time; samples with equal labels are summed. */
export type DepthProvider = () => Iterable<DepthSample>;

export interface MetricsOptions {
  /** Process metrics (CPU, memory, event loop lag, GC) in the same registry; default true. */
  defaultMetrics?: boolean;
  /** Distinct values of each bounded label (queue, topic, actor, route); default 256. */
  labelCap?: number;
}

/** Label series known in advance, created at 0 so `rate()` sees their first increment. */
export interface PreinitOptions {
  queues?: Iterable<string>;
  routes?: Iterable<{ route: string; method: string }>;
  actors?: Iterable<string>;
  busTopics?: Iterable<string>;
}

/** The prom-client objects, for callers that need more than the methods below. */
export interface MetricHandles {
  requestsTotal: Counter<'route' | 'method' | 'code'>;
  requestLatencySeconds: Histogram<'route' | 'method'>;
  inflightRequests: Gauge<'route'>;
  rejectedTotal: Counter<'reason'>;
  queueDepth: Gauge<'queue' | 'shard' | 'kind'>;
  requeuedTotal: Counter<'queue' | 'reason'>;
  visibilityTimeoutsTotal: Counter<'queue'>;
  dlqWritesTotal: Counter<'queue'>;
  dlqDepth: Gauge<'queue'>;
  busLaggedTotal: Counter<'topic'>;
  busOverflowDroppedTotal: Counter<'topic'>;
  integrityFailTotal: Counter<'stage'>;
  serviceRestartsTotal: Counter<'actor'>;
  retentionPurgedTotal: Counter<'kind'>;
  residentMessages: Gauge<'shard'>;
  storeInfo: Gauge<'store' | 'mode' | 'instance' | 'redis' | 'prefix'>;
  policyReloadFailuresTotal: Counter;
  keyringReloadFailuresTotal: Counter;
  redisUp: Gauge;
  redisPingSeconds: Gauge;
  recvWaitSeconds: Histogram<string>;
  chaosActive: Gauge<'fault'>;
  readinessState: Gauge<'state'>;
}

type Inc = { inc(value?: number): void };
interface MethodEntry {
  method: string;
  latency: { observe(seconds: number): void };
  codes: Map<number | string, Inc>;
}
interface RouteEntry {
  route: string;
  methods: Map<string, MethodEntry>;
}

/** A label value → child cache; the label value is bounded before it becomes a key. */
class Children<C> {
  private readonly map = new Map<string, C>();
  constructor(
    private readonly labels: BoundedLabels,
    private readonly make: (label: string) => C,
  ) {}
  /** `label` must already be clipped / class-reduced. */
  get(label: string): C {
    let child = this.map.get(label);
    if (child === undefined) {
      const bounded = this.labels.get(label);
      child = this.map.get(bounded) ?? this.make(bounded);
      // Only the bounded value is cached, so the map cannot outgrow the cap (+ 'other').
      this.map.set(bounded, child);
    }
    return child;
  }
}

export class Metrics {
  readonly registry: Registry;
  readonly handles: MetricHandles;
  private depthProvider: DepthProvider | undefined;
  private residentProvider: (() => Iterable<{ shard: number; value: number }>) | undefined;
  private storeProvider: (() => StoreInfo) | undefined;
  private readinessProvider: (() => ReadinessStateLabel) | undefined;
  /** Samples of the scrape in progress, so the provider runs once per render. */
  private scrape: DepthSample[] | undefined;

  private readonly queues: BoundedLabels;
  private readonly routes: BoundedLabels;
  private readonly actors: BoundedLabels;
  private readonly busTopics: BoundedLabels;

  private readonly methods: BoundedLabels;
  private readonly codes: BoundedLabels;
  private readonly requestChildren = new Map<string, RouteEntry>();
  private readonly inflightChildren: Children<{ inc(v?: number): void; dec(v?: number): void }>;
  private readonly rejectedChildren = new Map<string, Inc>();
  private readonly integrityChildren = new Map<string, Inc>();
  private readonly requeuedChildren: Children<Map<RequeueReason, Inc>>;
  private readonly visibilityChildren: Children<Inc>;
  private readonly dlqWriteChildren: Children<Inc>;
  private readonly laggedChildren: Children<Inc>;
  private readonly overflowChildren: Children<Inc>;
  private readonly restartChildren: Children<Inc>;

  constructor(options: MetricsOptions = {}) {
    const cap = options.labelCap ?? DEFAULT_LABEL_CAP;
    this.queues = new BoundedLabels(cap);
    this.routes = new BoundedLabels(cap);
    this.actors = new BoundedLabels(cap);
    this.busTopics = new BoundedLabels(cap);
    this.methods = new BoundedLabels(cap);
    this.codes = new BoundedLabels(cap);
    this.registry = new Registry();
    const registers = [this.registry];
    const self = this;

    const h: MetricHandles = {
      requestsTotal: new Counter({ name: 'requests_total', help: 'Requests answered, by route, method and OAP status code.', labelNames: ['route', 'method', 'code'], registers }),
      requestLatencySeconds: new Histogram({ name: 'request_latency_seconds', help: 'Time from request decoded to reply written, in seconds, without the time a long-poll RECV waited for a message (recv_wait_seconds).', labelNames: ['route', 'method'], buckets: LATENCY_BUCKETS, registers }),
      recvWaitSeconds: new Histogram({ name: 'recv_wait_seconds', help: 'Time a long-poll RECV waited for a message (until one arrived or waitMs passed), in seconds.', buckets: RECV_WAIT_BUCKETS, registers }),
      inflightRequests: new Gauge({ name: 'inflight_requests', help: 'Requests being processed now.', labelNames: ['route'], registers }),
      rejectedTotal: new Counter({ name: 'rejected_total', help: 'Requests refused before any work, by reason.', labelNames: ['reason'], registers }),
      queueDepth: new Gauge({
        name: 'queue_depth',
        help: 'Messages per queue class and shard: ready (incl. delayed), vis (leased), dlq.',
        labelNames: ['queue', 'shard', 'kind'],
        registers,
        collect() {
          this.reset();
          for (const s of self.samples()) this.inc({ queue: self.queues.get(queueLabel(s.queue)), shard: String(s.shard), kind: s.kind }, s.value);
        },
      }),
      requeuedTotal: new Counter({ name: 'requeued_total', help: 'Messages returned to ready, by queue class and reason.', labelNames: ['queue', 'reason'], registers }),
      visibilityTimeoutsTotal: new Counter({ name: 'visibility_timeouts_total', help: 'Leases that expired without ACK, NACK or EXTEND.', labelNames: ['queue'], registers }),
      dlqWritesTotal: new Counter({ name: 'dlq_writes_total', help: 'Messages moved to the dead-letter queue.', labelNames: ['queue'], registers }),
      dlqDepth: new Gauge({
        name: 'dlq_depth',
        help: 'Dead-lettered messages per queue class (sum over shards).',
        labelNames: ['queue'],
        registers,
        collect() {
          this.reset();
          for (const s of self.samples()) if (s.kind === 'dlq') this.inc({ queue: self.queues.get(queueLabel(s.queue)) }, s.value);
        },
      }),
      busLaggedTotal: new Counter({ name: 'bus_lagged_total', help: 'Events a slow bus subscriber fell behind on.', labelNames: ['topic'], registers }),
      busOverflowDroppedTotal: new Counter({ name: 'bus_overflow_dropped_total', help: 'Bus events dropped because a bounded subscriber queue was full.', labelNames: ['topic'], registers }),
      integrityFailTotal: new Counter({ name: 'integrity_fail_total', help: 'Payload hash mismatches, by stage.', labelNames: ['stage'], registers }),
      serviceRestartsTotal: new Counter({ name: 'service_restarts_total', help: 'Actor restarts performed by a supervisor, by actor path.', labelNames: ['actor'], registers }),
      retentionPurgedTotal: new Counter({ name: 'retention_purged_total', help: 'Records purged for being older than their retention (retention.readyMs / retention.dlqMs), by kind.', labelNames: ['kind'], registers }),
      residentMessages: new Gauge({
        name: 'resident_messages',
        help: 'Messages a shard holds in RAM (ready window, leased, delayed); with LevelDB the rest of the backlog waits on disk.',
        labelNames: ['shard'],
        registers,
        collect() {
          this.reset();
          for (const s of self.residentProvider?.() ?? []) this.set({ shard: String(s.shard) }, s.value);
        },
      }),
      policyReloadFailuresTotal: new Counter({ name: 'policy_reload_failures_total', help: 'Policy reloads refused (bad or unreadable policy file): the cached policy stayed in force.', registers }),
      keyringReloadFailuresTotal: new Counter({ name: 'keyring_reload_failures_total', help: 'Reloads of keys.json refused (unreadable or invalid): the key ring in force stayed.', registers }),
      storeInfo: new Gauge({
        name: 'store_info',
        help: 'Always 1: which store this process runs on, and for the redis store its mode, instance id, Redis and key prefix (join on instance when several instances share one Redis).',
        labelNames: ['store', 'mode', 'instance', 'redis', 'prefix'],
        registers,
        collect() {
          this.reset();
          const info = self.storeProvider?.();
          if (info) this.set({ store: info.store, mode: info.mode ?? '', instance: info.instance ?? '', redis: info.redis ?? '', prefix: info.prefix ?? '' }, 1);
        },
      }),
      redisUp: new Gauge({
        name: 'redis_up',
        help: 'Redis store only: 1 when the last PING (every second) was answered, else 0.',
        registers,
        collect() {
          this.reset();
          const info = self.storeProvider?.();
          if (info?.store === 'redis') this.set(info.reachable ? 1 : 0);
        },
      }),
      redisPingSeconds: new Gauge({
        name: 'redis_ping_seconds',
        help: 'Redis store only: round trip of the last answered PING.',
        registers,
        collect() {
          this.reset();
          const info = self.storeProvider?.();
          if (info?.latencyMs !== undefined) this.set(info.latencyMs / 1000);
        },
      }),
      chaosActive: new Gauge({ name: 'chaos_active', help: 'Faults injected with `mailbox chaos inject`: 1 while active, 0 otherwise.', labelNames: ['fault'], registers }),
      readinessState: new Gauge({
        name: 'readiness_state',
        help: 'The readiness gate: 1 for the current state (booting, ready, degraded, draining, stopped), 0 for the others.',
        labelNames: ['state'],
        registers,
        collect() {
          // Read at scrape time, so it is the state /readyz would answer now.
          const current = self.readinessProvider?.();
          for (const state of READINESS_STATES) this.set({ state }, state === current ? 1 : 0);
        },
      }),
    };
    this.handles = h;
    for (const fault of CHAOS_FAULTS) h.chaosActive.set({ fault }, 0);

    this.inflightChildren = new Children(this.routes, (route) => h.inflightRequests.labels(route));
    this.requeuedChildren = new Children(this.queues, (queue) => new Map(REQUEUE_REASONS.map((r) => [r, h.requeuedTotal.labels(queue, r)] as const)));
    this.visibilityChildren = new Children(this.queues, (queue) => h.visibilityTimeoutsTotal.labels(queue));
    this.dlqWriteChildren = new Children(this.queues, (queue) => h.dlqWritesTotal.labels(queue));
    this.laggedChildren = new Children(this.busTopics, (topic) => h.busLaggedTotal.labels(topic));
    this.overflowChildren = new Children(this.busTopics, (topic) => h.busOverflowDroppedTotal.labels(topic));
    this.restartChildren = new Children(this.actors, (actor) => h.serviceRestartsTotal.labels(actor));

    for (const reason of REJECT_REASONS) {
      h.rejectedTotal.inc({ reason }, 0);
      this.rejectedChildren.set(reason, h.rejectedTotal.labels(reason));
    }
    for (const kind of RETENTION_KINDS) h.retentionPurgedTotal.inc({ kind }, 0);
    for (const stage of INTEGRITY_STAGES) {
      h.integrityFailTotal.inc({ stage }, 0);
      this.integrityChildren.set(stage, h.integrityFailTotal.labels(stage));
    }
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** `text/plain; version=0.0.4` exposition format. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text for GET /metrics. */
  async render(): Promise<string> {
    this.scrape = this.depthProvider ? [...this.depthProvider()] : [];
    try {
      return await this.registry.metrics();
    } finally {
      this.scrape = undefined;
    }
  }

  /** Registers the function that reports each shard's messages in RAM at scrape time. */
  setResidentProvider(provider: (() => Iterable<{ shard: number; value: number }>) | undefined): void {
    this.residentProvider = provider;
  }

  /** A policy reload was refused (`policy_reload_failures_total`). */
  policyReloadFailed(): void {
    this.handles.policyReloadFailuresTotal.inc();
  }

  /** A reload of keys.json was refused (`keyring_reload_failures_total`). */
  keyringReloadFailed(): void {
    this.handles.keyringReloadFailuresTotal.inc();
  }

  /** Registers the function that describes the store at scrape time (`store_info`, `redis_up`, `redis_ping_seconds`). */
  setStoreProvider(provider: (() => StoreInfo) | undefined): void {
    this.storeProvider = provider;
  }

  /** Registers the function that reports the readiness state at scrape time (`readiness_state`). */
  setReadinessProvider(provider: (() => ReadinessStateLabel) | undefined): void {
    this.readinessProvider = provider;
  }

  /** `chaos_active{fault}`: 1 while an injected fault is active. */
  chaosActive(fault: ChaosFault, active: boolean): void {
    this.handles.chaosActive.set({ fault }, active ? 1 : 0);
  }

  /** Registers the function that reports queue depths at scrape time (the runtime's shards and DLQ). */
  setDepthProvider(provider: DepthProvider | undefined): void {
    this.depthProvider = provider;
  }

  /** Creates zero-valued series for label values known ahead (shards' queues, routes, actors). */
  preinit(known: PreinitOptions): void {
    for (const q of known.queues ?? []) {
      const queue = queueLabel(q);
      for (const child of this.requeuedChildren.get(queue).values()) child.inc(0);
      this.visibilityChildren.get(queue).inc(0);
      this.dlqWriteChildren.get(queue).inc(0);
    }
    for (const { route, method } of known.routes ?? []) {
      const byMethod = this.routeEntry(route);
      const entry = this.methodEntry(byMethod, method);
      this.handles.requestLatencySeconds.zero({ route: byMethod.route, method: entry.method });
      this.handles.requestsTotal.labels(byMethod.route, entry.method, '200').inc(0);
      this.inflightChildren.get(clip(route)).inc(0);
    }
    for (const actor of known.actors ?? []) this.restartChildren.get(clip(actor)).inc(0);
    for (const topic of known.busTopics ?? []) {
      this.laggedChildren.get(clip(topic)).inc(0);
      this.overflowChildren.get(clip(topic)).inc(0);
    }
  }

  /** Counts one answered request and its latency. `route`, `method` and `code` come from code, not from clients. */
  request(route: string, method: string, code: number | string, seconds: number): void {
    this.count(route, method, code).latency.observe(seconds);
  }

  /**
   * Counts a request answered without being dispatched (a frame refused before decoding: too
   * large, malformed, a chunk stream over its bounds or timed out): in requests_total, not in
   * the latency histogram.
   */
  answered(route: string, method: string, code: number | string): void {
    this.count(route, method, code);
  }

  private count(route: string, method: string, code: number | string): MethodEntry {
    const byMethod = this.requestChildren.get(route) ?? this.routeEntry(route);
    const entry = byMethod.methods.get(method) ?? this.methodEntry(byMethod, method);
    const counter = entry.codes.get(code) ?? this.codeEntry(byMethod.route, entry, code);
    counter.inc();
    return entry;
  }

  /** How long one long-poll RECV waited for a message. */
  recvWait(seconds: number): void {
    this.handles.recvWaitSeconds.observe(seconds);
  }

  private routeEntry(route: string): RouteEntry {
    const bounded = this.routes.get(clip(route));
    let entry = this.requestChildren.get(bounded);
    if (entry === undefined) {
      entry = { route: bounded, methods: new Map() };
      this.requestChildren.set(bounded, entry);
    }
    return entry;
  }

  private methodEntry(byMethod: RouteEntry, method: string): MethodEntry {
    const bounded = this.methods.get(clip(method));
    let entry = byMethod.methods.get(bounded);
    if (entry === undefined) {
      entry = { method: bounded, latency: this.handles.requestLatencySeconds.labels(byMethod.route, bounded), codes: new Map() };
      byMethod.methods.set(bounded, entry);
    }
    return entry;
  }

  private codeEntry(route: string, entry: MethodEntry, code: number | string): Inc {
    const bounded = this.codes.get(clip(String(code)));
    const child = this.handles.requestsTotal.labels(route, entry.method, bounded);
    if (bounded === String(code)) entry.codes.set(code, child);
    return child;
  }

  /** +1 when a request starts, -1 when it ends (pass `-1`). */
  inflight(route: string, delta: 1 | -1): void {
    const g = this.inflightChildren.get(clip(route));
    if (delta > 0) g.inc();
    else g.dec();
  }

  rejected(reason: RejectReason): void {
    this.rejectedChildren.get(reason)!.inc();
  }

  requeued(topic: string, reason: RequeueReason): void {
    this.requeuedChildren.get(queueLabel(topic)).get(reason)!.inc();
  }

  visibilityTimeout(topic: string, count = 1): void {
    this.visibilityChildren.get(queueLabel(topic)).inc(count);
  }

  dlqWrite(topic: string, count = 1): void {
    this.dlqWriteChildren.get(queueLabel(topic)).inc(count);
  }

  busLagged(topic: string, count = 1): void {
    this.laggedChildren.get(clip(topic)).inc(count);
  }

  busOverflowDropped(topic: string, count = 1): void {
    this.overflowChildren.get(clip(topic)).inc(count);
  }

  integrityFail(stage: IntegrityStage): void {
    this.integrityChildren.get(stage)!.inc();
  }

  /** `count` records of `kind` purged by retention. */
  retentionPurged(kind: RetentionKind, count: number): void {
    this.handles.retentionPurgedTotal.inc({ kind }, count);
  }

  serviceRestart(actor: string): void {
    this.restartChildren.get(clip(actor)).inc();
  }

  private samples(): Iterable<DepthSample> {
    return this.scrape ?? (this.depthProvider ? this.depthProvider() : []);
  }
}

/** A fresh metrics registry for one mailbox instance. */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  return new Metrics(options);
}
