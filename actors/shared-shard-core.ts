/**
 * The shard of a shared-mode mailbox (`store: 'redis'`, `redis.shared: true`): Redis holds the
 * queue (src/store/redis-shared.ts), so every instance of the deployment serves every shard.
 * This core keeps only what belongs to its own process: consumers waiting here (RECV waiters,
 * push subscriptions with their credit), the leases its own sessions hold (for credit and the
 * in-flight bound) and a cached depth. Everything it keeps can be lost: a restarted core asks
 * Redis again, and leases of a process that died expire by their deadline.
 *
 * Each step is one script call; its answer continues the step in the actor's own turn (a
 * `continue` event), so the core's state changes only inside actor turns, as for ShardCore.
 * Consumers are woken by the pub/sub message a script publishes when a topic gets ready
 * messages (from any instance), and a slow sweep (SWEEP_MS) covers wake-ups lost with a
 * connection.
 */
import { dedupKey } from '../src/domain/dedup-window.ts';
import { sha256Hex } from '../src/domain/payload-hash.ts';
import type { Rng } from '../src/domain/clock.ts';
import type { IdGenerator } from '../src/domain/ids.ts';
import type { EnqueueInput, LeaseRequest } from '../src/domain/shard-queue.ts';
import type { AttemptOutcome, Delivery, MessageMeta, MsgId, SessionId, ShardIndex } from '../src/domain/types.ts';
import { MailboxError, toMailboxError } from '../src/errors.ts';
import { sharedTopicKey, type LeaseRefusal, type SharedEnqueueItem, type SharedQueue, type SharedSettlement } from '../src/store/redis-shared.ts';
import { PUSH_CHUNK, type ShardHooks } from './shard-core.ts';
import type { ShardView } from './shard-ref.ts';
import type { AckOutcome, Reply, SendOutcome, ShardEvent, ShardRequest, ShardSubscription } from './shard-events.ts';

export interface SharedShardDeps {
  shard: ShardIndex;
  queue: SharedQueue;
  ids: IdGenerator;
  rng: Rng;
  /** Wall-clock ms: message timestamps (deadlines come from Redis's clock). */
  now(): number;
  maxVisibilityMs: number;
  /** Subscribes to the shard's wake channel; returns the unsubscribe. */
  onWake(listener: (topicKey: string) => void): () => void;
  /** The runtime has started: a failed first load is retried instead of a crash. */
  serving?: () => boolean;
  /** This process's name in lease owners, so a lease says which instance's session holds it. */
  instance: string;
  inflightAvailable(): number;
  hooks: ShardHooks;
  send(event: ShardEvent): void;
}

interface Waiter {
  req: LeaseRequest;
  reply: Reply<Delivery[]>;
  timer: NodeJS.Timeout;
  parkedAt: number;
  waited: ((ms: number) => void) | undefined;
  /** A lease call for it is out: its answer (messages or none) settles the waiter, even past its deadline. */
  leasing?: boolean;
  /** Its wait ended while that call was out. */
  expired?: boolean;
}

/** A lease one of this process's sessions holds. */
interface LocalLease {
  owner: SessionId;
  key: string;
  /** Wall-clock ms; past it (and a margin) the lease is forgotten here: some instance's tick ended it. */
  deadline: number;
}

/** Clocks of instances differ a little; a local lease is forgotten this long after its deadline. */
const FORGET_AFTER_MS = 2_000;

/** Expired leases and due delayed messages settled per tick call at most. */
const TICK_LIMIT = 500;
/** Longest pause between ticks (expiry is also due when another instance's lease ends). */
const TICK_MAX_MS = 250;
/** Every topic with a consumer here is looked at this often, in case a wake-up was lost. */
const SWEEP_MS = 2_000;
const RELOAD_MS = 250;
const EMPTY = new Uint8Array(0);

export class SharedShardCore {
  status: 'loading' | 'running' | 'dead' = 'loading';
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly subs = new Map<string, ShardSubscription[]>();
  private readonly leases = new Map<MsgId, LocalLease>();
  /** Open leases per owner per topic key: a subscription's outstanding count. */
  private readonly byOwner = new Map<SessionId, Map<string, number>>();
  /** Topics with a lease call in flight, and those to look at again when it returns. */
  private readonly leasing = new Set<string>();
  private readonly again = new Set<string>();
  private cached = { ready: 0, delayed: 0, leased: 0, dlq: 0 };
  private calls = 0;
  private storageBroken = false;
  private tickTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private unsubscribe: () => void = () => {};

  constructor(private readonly deps: SharedShardDeps) {}

  /** What the runtime reads of a shard (metrics, the tree, the in-flight bound). */
  readonly queue: ShardView & { leasedCount: number } = {
    leasedCount: 0,
    depths: () => ({ ...this.cached }),
    depthsByClass: () => new Map([['all', { ready: this.cached.ready + this.cached.delayed, leased: this.cached.leased }]]),
    residentMessages: 0,
  };

  idle(): boolean {
    return this.calls === 0;
  }

  load(): void {
    this.call(() => this.deps.queue.depths(), (depths) => {
      this.cached = depths;
      this.status = 'running';
      this.unsubscribe = this.deps.onWake((key) => this.deps.send({ type: 'continue', run: () => this.wake(key) }));
      this.deps.hooks.up();
      this.scheduleTick(0);
      this.sweepTimer = setInterval(() => this.deps.send({ type: 'continue', run: () => this.sweep() }), SWEEP_MS);
      this.sweepTimer.unref();
      // Consumers that came while it loaded (a restart's re-subscriptions) are served now, not at the first sweep.
      for (const key of new Set([...this.waiters.keys(), ...this.subs.keys()])) this.pump(key);
    }, (error) => {
      if (error.code === 'E_UNAVAILABLE' && this.deps.serving?.() === true) {
        this.noteStorage(error);
        setTimeout(() => this.deps.send({ type: 'continue', run: () => this.load() }), RELOAD_MS).unref();
        return;
      }
      throw new Error(`shard ${this.deps.shard} could not load: ${error.message}`);
    });
  }

  handle(event: ShardEvent): void {
    if (this.status === 'dead') return;
    switch (event.type) {
      case '$crash':
        throw new Error(event.reason);
      case 'continue':
        return event.run();
      case 'send': return this.onSend(event);
      case 'recv': return this.onRecv(event);
      case 'ack': return this.onAck(event);
      case 'nack': {
        const { tenant, msgId, leaseId, delayMs, reason, reply } = event;
        return this.call(() => this.deps.queue.nack(tenant, msgId, leaseId, delayMs, reason, this.deps.rng.next()), (r) => {
          if (typeof r === 'string') return reply.reject(this.refusal(r, msgId, leaseId));
          this.forgetLease(msgId);
          this.settled(r, 'nacked');
          reply.resolve(undefined);
        }, (e) => reply.reject(e));
      }
      case 'extend': {
        const { tenant, msgId, leaseId, reply } = event;
        return this.call(() => this.deps.queue.extend(tenant, msgId, leaseId, Math.min(event.ms, this.deps.maxVisibilityMs)), (r) => {
          if (typeof r === 'string') return reply.reject(this.refusal(r, msgId, leaseId));
          const lease = this.leases.get(msgId);
          if (lease) lease.deadline = r;
          reply.resolve(r);
        }, (e) => reply.reject(e));
      }
      case 'revive': {
        const ids = event.entries.filter((e) => e.entry.meta.tenant === event.tenant).map((e) => e.entry.meta.msgId);
        return this.call(() => this.deps.queue.revive(event.tenant, ids), (n) => event.reply.resolve(n), (e) => event.reply.reject(e));
      }
      case 'forgetDead':
        return this.call(() => this.deps.queue.forgetDead(event.msgIds), () => event.reply.resolve(event.msgIds.length), (e) => event.reply.reject(e));
      case 'release': return this.onRelease(event.owner);
      case 'subscribe': {
        const key = sharedTopicKey(event.sub.tenant, event.sub.topic);
        const list = (this.subs.get(key) ?? []).filter((s) => !(s.owner === event.sub.owner && s.subId === event.sub.subId));
        list.push(event.sub);
        this.subs.set(key, list);
        return this.pump(key);
      }
      case 'unsubscribe':
        for (const [key, list] of this.subs) {
          const keep = list.filter((s) => !(s.owner === event.owner && s.subId === event.subId));
          if (keep.length) this.subs.set(key, keep);
          else this.subs.delete(key);
        }
        return;
      case 'credit':
        for (const [key, list] of this.subs) {
          for (const s of list) if (s.owner === event.owner && s.subId === event.subId) (s.prefetch = event.prefetch), this.pump(key);
        }
        return;
      default:
        return;
    }
  }

  dispose(reason: string): void {
    this.status = 'dead';
    clearTimeout(this.tickTimer);
    clearInterval(this.sweepTimer);
    this.unsubscribe();
    const error = new MailboxError('E_UNAVAILABLE', `shard ${this.deps.shard} restarting: ${reason}`, { retryAfterMs: 100 });
    for (const list of this.waiters.values()) for (const w of list) (clearTimeout(w.timer), w.reply.reject(error));
    this.waiters.clear();
  }

  private onSend(event: Extract<ShardRequest, { type: 'send' }>): void {
    const now = this.deps.now();
    const items: SharedEnqueueItem[] = event.items.map((item: EnqueueInput) => {
      const delay = item.delayMs ?? 0;
      const meta: MessageMeta = {
        msgId: this.deps.ids.next(now) as MsgId, tenant: item.tenant, topic: item.topic, idemKey: item.idemKey, payloadHash: item.payloadHash,
        size: item.payload.byteLength, enqueuedAt: now, attempt: 0, state: delay > 0 ? 'delayed' : 'ready', dueAt: delay > 0 ? now + delay : 0, history: [],
      };
      if (item.attrs !== undefined) meta.attrs = item.attrs;
      return { meta, payload: item.payload, dedupKey: dedupKey(item.tenant, item.topic, item.idemKey) };
    });
    this.call(() => this.deps.queue.enqueue(items), (outcomes) => {
      const results: SendOutcome[] = outcomes.map((o, i) => {
        const item = items[i]!;
        switch (o.kind) {
          case 'accepted':
            return { msgId: item.meta.msgId, duplicate: false };
          case 'duplicate':
            return { msgId: o.msgId, duplicate: true };
          case 'conflict':
            return new MailboxError('E_IDEM_CONFLICT', `idempotency key ${item.meta.idemKey} was used for another payload (message ${o.msgId})`);
          default:
            return new MailboxError('E_SATURATED', `shard ${this.deps.shard} is full`, { retryAfterMs: 1_000 });
        }
      });
      event.reply.resolve(results);
    }, (e) => event.reply.reject(e));
  }

  private onRecv(event: Extract<ShardRequest, { type: 'recv' }>): void {
    const req = this.bound(event.req);
    if (req.maxMessages <= 0) {
      event.reply.reject(new MailboxError('E_SATURATED', 'too many open leases in the mailbox', { retryAfterMs: 500 }));
      return;
    }
    const key = sharedTopicKey(req.tenant, req.topic);
    if (event.waitMs <= 0) return this.leaseFor(key, req, (d) => event.reply.resolve(d), (e) => event.reply.reject(e), false);
    // Parked before the first look: a wake-up that arrives while that look is out is not lost
    // (the pump looks again when its call returns).
    const parkedAt = this.deps.now();
    const waiter: Waiter = {
      req, reply: event.reply, parkedAt, waited: event.waited,
      timer: setTimeout(() => this.deps.send({ type: 'continue', run: () => this.expireWaiter(key, waiter) }), event.waitMs),
    };
    const list = this.waiters.get(key) ?? [];
    list.push(waiter);
    this.waiters.set(key, list);
    this.pump(key);
  }

  private expireWaiter(key: string, waiter: Waiter): void {
    const list = this.waiters.get(key);
    const at = list?.indexOf(waiter) ?? -1;
    if (at < 0) return;
    list!.splice(at, 1);
    if (list!.length === 0) this.waiters.delete(key);
    // Messages leased for it now must reach it: the call's answer settles it instead.
    if (waiter.leasing) return void (waiter.expired = true);
    waiter.waited?.(this.deps.now() - waiter.parkedAt);
    waiter.reply.resolve([]);
  }

  private onAck(event: Extract<ShardRequest, { type: 'ack' }>): void {
    this.call(() => this.deps.queue.ack(event.tenant, event.items), (outcomes) => {
      let foreign = 0;
      const results: AckOutcome[] = outcomes.map((o, i) => {
        const { msgId, leaseId } = event.items[i]!;
        if (typeof o !== 'string') {
          this.forgetLease(msgId);
          if (this.subs.has(o.topicKey)) this.pump(o.topicKey);
          return null;
        }
        if (o === 'F') foreign++;
        return this.refusal(o, msgId, leaseId);
      });
      if (foreign > 0) this.deps.hooks.foreignRefused(foreign);
      event.reply.resolve(results);
    }, (e) => event.reply.reject(e));
  }

  private onRelease(owner: SessionId): void {
    for (const [key, list] of this.waiters) {
      const keep = list.filter((w) => w.req.owner !== owner || (clearTimeout(w.timer), w.reply.resolve([]), false));
      if (keep.length) this.waiters.set(key, keep);
      else this.waiters.delete(key);
    }
    for (const [key, list] of this.subs) {
      const keep = list.filter((s) => s.owner !== owner);
      if (keep.length) this.subs.set(key, keep);
      else this.subs.delete(key);
    }
    const mine = [...this.leases].filter(([, l]) => l.owner === owner).map(([id]) => id);
    for (const id of mine) this.forgetLease(id);
    if (mine.length === 0) return;
    this.call(() => this.deps.queue.release(this.ownerName(owner), mine), (settled) => {
      for (const s of settled) this.settled(s, 'session_lost');
    }, () => {
      // Redis away: those leases end at their deadline instead.
    });
  }

  /** A topic got ready messages (here or on another instance). */
  private wake(key: string): void {
    // '*': the wake channel was lost and made again; what it carried meanwhile is gone.
    if (key === '*') return this.sweep();
    if (this.waiters.has(key) || this.subs.has(key)) this.pump(key);
  }

  private sweep(): void {
    const stale = this.deps.now() - FORGET_AFTER_MS;
    for (const [id, lease] of this.leases) if (lease.deadline < stale) this.forgetLease(id);
    for (const key of new Set([...this.waiters.keys(), ...this.subs.keys()])) this.pump(key);
    this.call(() => this.deps.queue.depths(), (d) => (this.cached = d), () => {});
  }

  /** Leases for the next consumer of `key` with room (a waiter first, then subscriptions in turn); one call per topic at a time. */
  private pump(key: string): void {
    if (this.status !== 'running') return;
    if (this.leasing.has(key)) {
      this.again.add(key);
      return;
    }
    const waiting = this.waiters.get(key);
    if (waiting?.length) {
      const w = waiting[0]!;
      const req = this.bound(w.req);
      if (req.maxMessages <= 0) return;
      w.leasing = true;
      return this.leaseFor(key, req, (deliveries) => {
        w.leasing = false;
        if (deliveries.length === 0 && !w.expired) return;
        const at = waiting.indexOf(w);
        if (at >= 0) waiting.splice(at, 1);
        if (waiting.length === 0 && this.waiters.get(key) === waiting) this.waiters.delete(key);
        clearTimeout(w.timer);
        w.waited?.(this.deps.now() - w.parkedAt);
        w.reply.resolve(deliveries);
        this.pump(key);
      }, () => {
        w.leasing = false;
        if (w.expired) w.reply.resolve([]);
      });
    }
    const subs = this.subs.get(key);
    if (!subs) return;
    for (let n = 0; n < subs.length; n++) {
      const sub = subs[0]!;
      // Round robin: the next pump starts with the next subscriber.
      if (subs.length > 1) subs.push(subs.shift()!);
      const room = Math.min(PUSH_CHUNK, sub.prefetch - (this.byOwner.get(sub.owner)?.get(key) ?? 0));
      if (room <= 0) continue;
      const req = this.bound({ tenant: sub.tenant, topic: sub.topic, visibilityMs: sub.visibilityMs, maxMessages: room, owner: sub.owner });
      if (req.maxMessages <= 0) return;
      return this.leaseFor(key, req, (deliveries) => {
        if (deliveries.length === 0) return;
        if (this.subs.get(key)?.includes(sub)) sub.deliver(deliveries);
        this.pump(key);
      }, () => {});
    }
  }

  /** `pumping`: the pump's own call, the one per topic at a time (a RECV's call runs beside it). */
  private leaseFor(key: string, req: LeaseRequest, done: (deliveries: Delivery[]) => void, failed: (error: MailboxError) => void, pumping = true): void {
    if (pumping) this.leasing.add(key);
    this.call(() => this.deps.queue.lease(key, req.maxMessages, req.maxBytes ?? 0, Math.min(req.visibilityMs, this.deps.maxVisibilityMs), this.ownerName(req.owner)), (leased) => {
      this.leasing.delete(key);
      const deliveries = leased.map(({ meta, payload }) => {
        this.leases.set(meta.msgId, { owner: req.owner, key, deadline: meta.dueAt });
        this.queue.leasedCount = this.leases.size;
        const counts = this.byOwner.get(req.owner) ?? new Map<string, number>();
        counts.set(key, (counts.get(key) ?? 0) + 1);
        this.byOwner.set(req.owner, counts);
        const d: Delivery = {
          msgId: meta.msgId, tenant: meta.tenant, topic: meta.topic, attempt: meta.attempt, leaseId: meta.leaseId!,
          enqueuedAt: meta.enqueuedAt, leaseDeadline: meta.dueAt, payload: payload.byteLength > 0 ? payload : EMPTY, payloadHash: meta.payloadHash,
        };
        if (meta.attrs) d.attrs = meta.attrs;
        // Egress check: the bytes came back from Redis; the consumer checks the same hash too.
        if (sha256Hex(d.payload) !== d.payloadHash) this.deps.hooks.integrityFailed(d.msgId);
        return d;
      });
      done(deliveries);
      if (pumping && this.again.delete(key)) this.pump(key);
    }, (error) => {
      if (pumping) {
        this.leasing.delete(key);
        this.again.delete(key);
      }
      failed(error);
    });
  }

  private scheduleTick(ms: number): void {
    if (this.status !== 'running') return;
    clearTimeout(this.tickTimer);
    this.tickTimer = setTimeout(() => this.deps.send({ type: 'continue', run: () => this.tick() }), Math.max(5, Math.min(ms, TICK_MAX_MS)));
    this.tickTimer.unref();
  }

  private tick(): void {
    this.tickTimer = undefined;
    this.call(() => this.deps.queue.tick(TICK_LIMIT, () => this.deps.rng.next()), ({ nextDueMs, settled }) => {
      for (const s of settled) {
        const id = s.kind === 'dead' ? s.entry.meta.msgId : s.meta.msgId;
        this.forgetLease(id);
        this.settled(s, 'expired');
      }
      this.scheduleTick(settled.length >= TICK_LIMIT ? 0 : nextDueMs < 0 ? TICK_MAX_MS : nextDueMs);
    }, () => this.scheduleTick(TICK_MAX_MS));
  }

  private settled(s: SharedSettlement, outcome: AttemptOutcome): void {
    this.deps.hooks.settled(s.kind === 'dead' ? s : { kind: 'requeued', meta: s.meta, outcome });
  }

  private forgetLease(msgId: MsgId): void {
    const lease = this.leases.get(msgId);
    if (!lease) return;
    this.leases.delete(msgId);
    this.queue.leasedCount = this.leases.size;
    const counts = this.byOwner.get(lease.owner);
    const n = (counts?.get(lease.key) ?? 1) - 1;
    if (n > 0) counts!.set(lease.key, n);
    else counts?.delete(lease.key);
    if (counts?.size === 0) this.byOwner.delete(lease.owner);
    if (this.subs.has(lease.key)) this.pump(lease.key);
  }

  /** One script call; its answer continues in the actor's turn. Storage trouble marks readiness (once) and clears with the next success. */
  private call<T>(run: () => Promise<T>, ok: (value: T) => void, fail: (error: MailboxError) => void): void {
    this.calls++;
    Promise.resolve().then(run).then(
      (value) => this.deps.send({ type: 'continue', run: () => {
        this.calls--;
        if (this.storageBroken) {
          this.storageBroken = false;
          this.deps.hooks.storageRecovered();
        }
        ok(value);
      } }),
      (err: unknown) => this.deps.send({ type: 'continue', run: () => {
        this.calls--;
        const error = toMailboxError(err);
        const refusal = error.code === 'E_UNAVAILABLE' ? error : new MailboxError('E_UNAVAILABLE', `storage: ${error.message}`, { cause: err, retryAfterMs: 1_000 });
        this.noteStorage(refusal);
        fail(refusal);
      } }),
    );
  }

  private noteStorage(error: MailboxError): void {
    if (this.storageBroken) return;
    this.storageBroken = true;
    this.deps.hooks.storageFailed(error, 1);
  }

  private refusal(code: LeaseRefusal, msgId: MsgId, leaseId: string): MailboxError {
    switch (code) {
      case 'S':
        return new MailboxError('E_STALE_LEASE', `lease ${leaseId} ended: message ${msgId} is queued again`);
      case 'D':
        return new MailboxError('E_STALE_LEASE', `lease ${leaseId} ended: message ${msgId} was dead-lettered`);
      case 'E':
        return new MailboxError('E_STALE_LEASE', `lease ${leaseId} has expired`);
      default:
        return new MailboxError('E_NOT_FOUND', `message ${msgId} is not leased (already acknowledged or unknown)`);
    }
  }

  private bound(req: LeaseRequest): LeaseRequest {
    const available = this.deps.inflightAvailable();
    return available >= req.maxMessages ? req : { ...req, maxMessages: Math.max(0, available) };
  }

  /** Lease owners name the instance too: session ids are only unique within one process. */
  private ownerName(owner: SessionId): string {
    return `${this.deps.instance}/${owner}`;
  }
}

