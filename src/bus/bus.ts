/**
 * The typed in-process event bus. Publishing never blocks and never grows without bound:
 * each subscriber owns a bounded queue, drained asynchronously in batches (one microtask per
 * burst). When a queue is full the oldest event is dropped and counted (`overflowDropped`);
 * a subscriber that falls more than half its capacity behind counts once as `lagged` per lag
 * episode (an episode ends when its queue empties).
 */

export type BusCounter = 'lagged' | 'overflow_dropped';

export interface EventBusOptions {
  /** Queue capacity of subscribers that name none; default 1024. */
  defaultCapacity?: number;
  /** Called on each counter increment: wire to `bus_lagged_total{topic}` / `bus_overflow_dropped_total{topic}`. */
  onCounter?: (counter: BusCounter, topic: string) => void;
  /** Called when a handler throws; the event still counts as delivered and the others go on. */
  onHandlerError?: (error: unknown, topic: string) => void;
}

export interface SubscribeOptions {
  /** At most this many undelivered events are held for this subscriber; default the bus's. */
  capacity?: number;
}

export interface BusStats {
  published: number;
  lagged: Record<string, number>;
  overflowDropped: Record<string, number>;
  handlerErrors: number;
}

/** Topics whose payload may be undefined can be published without one. */
export type PayloadArgs<T> = undefined extends T ? [payload?: T] : [payload: T];

export const DEFAULT_BUS_CAPACITY = 1024;

/**
 * Fault injection for chaos drills (like the store's `faults`): while `dropAll` is set the bus is
 * partitioned: publish() queues nothing and counts each event a subscriber misses as
 * `overflow_dropped`, so a partition shows on `bus_overflow_dropped_total` like a full queue.
 *
 * @example
 * bus.faults.dropAll = true;   // every event from now on is dropped (and counted)
 * bus.faults.clear();          // events flow again; what was dropped stays dropped
 */
export class BusFaults {
  dropAll = false;
  /** Events dropped by injection so far (one per subscriber that missed one). */
  dropped = 0;

  clear(): void {
    this.dropAll = false;
  }
}

class Subscriber<T> {
  private readonly items: Array<T | undefined>;
  private head = 0;
  private size = 0;
  private scheduled = false;
  private lagging = false;
  active = true;

  constructor(
    private readonly bus: EventBus<Record<string, unknown>>,
    readonly topic: string,
    private readonly handler: (payload: T) => void,
    readonly capacity: number,
  ) {
    this.items = new Array<T | undefined>(capacity);
  }

  push(payload: T): void {
    if (this.size === this.capacity) {
      this.items[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.size -= 1;
      this.bus.count('overflow_dropped', this.topic);
    }
    this.items[(this.head + this.size) % this.capacity] = payload;
    this.size += 1;
    if (!this.lagging && this.size > this.capacity / 2) {
      this.lagging = true;
      this.bus.count('lagged', this.topic);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.drain());
    }
  }

  clear(): void {
    this.items.fill(undefined);
    this.size = 0;
  }

  private drain(): void {
    this.scheduled = false;
    // Only what was queued when the batch began: a handler that publishes to its own topic
    // gets its events in the next batch rather than looping here forever.
    let batch = this.size;
    while (batch > 0 && this.active) {
      batch -= 1;
      const payload = this.items[this.head] as T;
      this.items[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.size -= 1;
      try {
        this.handler(payload);
      } catch (error) {
        this.bus.handlerFailed(error, this.topic);
      }
    }
    if (this.size === 0) this.lagging = false;
    else if (this.active && !this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.drain());
    }
  }
}

/**
 * @example
 * ```ts
 * const bus = new EventBus<MailboxEvents>();
 * const off = bus.subscribe('ShardCrashed', ({ shard, reason }) => log.warn({ shard, reason }));
 * bus.publish('ShardCrashed', { shard: 3, reason: 'index corrupted' });
 * bus.publish('Stopped');
 * off();
 * ```
 */
export class EventBus<Events extends Record<string, unknown>> {
  private readonly subscribers = new Map<string, Set<Subscriber<unknown>>>();
  private readonly defaultCapacity: number;
  private published = 0;
  private handlerErrors = 0;
  private readonly lagged: Record<string, number> = {};
  private readonly overflowDropped: Record<string, number> = {};
  readonly faults = new BusFaults();
  /** Counter hook; may be set after construction, when the metrics registry exists. */
  onCounter: ((counter: BusCounter, topic: string) => void) | undefined;
  private readonly onHandlerError: ((error: unknown, topic: string) => void) | undefined;

  constructor(options: EventBusOptions = {}) {
    this.defaultCapacity = options.defaultCapacity ?? DEFAULT_BUS_CAPACITY;
    if (!Number.isInteger(this.defaultCapacity) || this.defaultCapacity < 1) {
      throw new RangeError(`bus capacity must be a positive integer, got ${this.defaultCapacity}`);
    }
    this.onCounter = options.onCounter;
    this.onHandlerError = options.onHandlerError;
  }

  /** Queues `payload` for every current subscriber of `topic`; returns at once. */
  publish<K extends keyof Events & string>(topic: K, ...[payload]: PayloadArgs<Events[K]>): void {
    this.published += 1;
    const subscribers = this.subscribers.get(topic);
    if (!subscribers) return;
    if (this.faults.dropAll) {
      for (const _ of subscribers) {
        this.faults.dropped += 1;
        this.count('overflow_dropped', topic);
      }
      return;
    }
    for (const subscriber of subscribers) subscriber.push(payload);
  }

  /**
   * Delivers each later `topic` event to `handler`, in publish order, asynchronously.
   * Returns the unsubscribe function; events still queued for this subscriber are discarded.
   */
  subscribe<K extends keyof Events & string>(
    topic: K,
    handler: (payload: Events[K]) => void,
    options: SubscribeOptions = {},
  ): () => void {
    const capacity = options.capacity ?? this.defaultCapacity;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`subscriber capacity must be a positive integer, got ${capacity}`);
    }
    const subscriber = new Subscriber<Events[K]>(this as EventBus<Record<string, unknown>>, topic, handler, capacity);
    let set = this.subscribers.get(topic);
    if (!set) {
      set = new Set();
      this.subscribers.set(topic, set);
    }
    set.add(subscriber as Subscriber<unknown>);
    return () => {
      if (!subscriber.active) return;
      subscriber.active = false;
      subscriber.clear();
      set.delete(subscriber as Subscriber<unknown>);
      if (set.size === 0 && this.subscribers.get(topic) === set) this.subscribers.delete(topic);
    };
  }

  stats(): BusStats {
    return {
      published: this.published,
      lagged: { ...this.lagged },
      overflowDropped: { ...this.overflowDropped },
      handlerErrors: this.handlerErrors,
    };
  }

  /** @internal Used by subscribers. */
  count(counter: BusCounter, topic: string): void {
    const table = counter === 'lagged' ? this.lagged : this.overflowDropped;
    table[topic] = (table[topic] ?? 0) + 1;
    this.onCounter?.(counter, topic);
  }

  /** @internal Used by subscribers. */
  handlerFailed(error: unknown, topic: string): void {
    this.handlerErrors += 1;
    this.onHandlerError?.(error, topic);
  }
}
