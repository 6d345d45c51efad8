/**
 * The chaos workload's moving parts, shared by the integration test and the drills:
 * a session keeper that reopens killed sessions, producers that retry until accepted,
 * and consumers that randomly ack / nack / extend / ignore (the kill loop is in kill-loop.ts).
 */
import { MailboxError, type Delivery, type MsgId, type Session, type SessionOptions } from '../src/index.ts';
import type { MailboxRuntime } from '../src/runtime/mailbox.ts';
import type { Rng } from '../src/domain/clock.ts';
import type { Ledger } from './ledger.ts';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * An in-memory mailbox answers within microtasks, so a tight client loop would starve timers
 * (lease expiry, restarts, the kill loop); real clients get turns from socket I/O.
 */
export const yieldTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** How long to wait before retrying a retryable error: its hint, capped so drills keep moving. */
export function backoffFor(err: unknown, capMs = 200): number | undefined {
  if (!(err instanceof MailboxError) || !err.retryable) return undefined;
  return Math.max(1, Math.min(err.retryAfterMs ?? 20, capMs));
}

export function isCode(err: unknown, ...codes: string[]): boolean {
  return err instanceof MailboxError && codes.includes(err.code);
}

/** One logical client: a session that is reopened whenever the runtime ends it. */
export class SessionKeeper {
  private session: Session | undefined;
  reopened = 0;

  constructor(
    private readonly mb: MailboxRuntime,
    private readonly options: SessionOptions = {},
    /** Runs on every fresh session (e.g. subscribe again). */
    private readonly onOpen: (s: Session) => Promise<void> | void = () => {},
  ) {}

  async current(): Promise<Session> {
    for (;;) {
      if (this.session && !this.session.closed) return this.session;
      if (this.session) this.reopened++;
      try {
        const s = this.mb.openSession(this.options);
        this.session = s;
        await this.onOpen(s);
        return s;
      } catch (err) {
        const wait = backoffFor(err);
        if (wait === undefined) throw err;
        this.session = undefined;
        await sleep(wait);
      }
    }
  }

  async close(): Promise<void> {
    await this.session?.close();
  }
}

export interface ProducerOptions {
  /** idemKeys `m-<n>` for n in [from, to). */
  from: number;
  to: number;
  topics: number;
  batch: number;
  payloadBytes?: number;
  stop?: () => boolean;
}

export const topicOf = (n: number, topics: number): string => `chaos:${n % topics}`;

/** Sends its range with sendBatch, retrying retryable refusals with the same idemKeys until accepted. */
export async function produce(keeper: SessionKeeper, ledger: Ledger, o: ProducerOptions): Promise<{ retries: number }> {
  let retries = 0;
  for (let start = o.from; start < o.to; start += o.batch) {
    let pending: number[] = [];
    for (let n = start; n < Math.min(o.to, start + o.batch); n++) pending.push(n);
    while (pending.length > 0) {
      if (o.stop?.()) return { retries };
      const inputs = pending.map((n) => ({
        topic: topicOf(n, o.topics),
        idemKey: `m-${n}`,
        payload: new TextEncoder().encode(`message ${n}`.padEnd(o.payloadBytes ?? 16, '.')),
      }));
      let results: Awaited<ReturnType<Session['sendBatch']>>;
      try {
        results = await (await keeper.current()).sendBatch(inputs);
      } catch (err) {
        const wait = backoffFor(err);
        if (wait === undefined) throw err;
        retries++;
        await sleep(wait);
        continue;
      }
      const again: number[] = [];
      let wait = 0;
      results.forEach((r, i) => {
        if (r instanceof MailboxError) {
          const w = backoffFor(r);
          if (w === undefined) throw r;
          wait = Math.max(wait, w);
          again.push(pending[i]!);
        } else {
          ledger.accepted(inputs[i]!.idemKey, r.msgId);
        }
      });
      if (again.length > 0) {
        retries++;
        await sleep(wait);
      }
      pending = again;
      await yieldTurn();
    }
  }
  return { retries };
}

export interface ConsumerPolicy {
  /** Probabilities; what is left ignores the delivery (its lease expires). */
  ack: number;
  nack: number;
  extend: number;
  visibilityMs: [number, number];
}

export const DEFAULT_POLICY: ConsumerPolicy = { ack: 0.75, nack: 0.1, extend: 0.07, visibilityMs: [200, 500] };

/**
 * A consumer: RECV round robin over the topics (or SUBSCRIBE to all of them), then one random
 * action per delivery. ACK / NACK are retried on retryable errors (on a fresh session if this one
 * was killed) until they get a definitive answer; E_STALE_LEASE is counted, never fatal.
 */
export class Consumer {
  private stopped = false;
  private readonly inflight = new Set<Promise<void>>();
  private readonly keeper: SessionKeeper;
  private loop: Promise<void> | undefined;
  recvs = 0;
  errors = 0;

  constructor(
    mb: MailboxRuntime,
    private readonly ledger: Ledger,
    private readonly rng: Rng,
    private readonly topics: readonly string[],
    private readonly mode: 'recv' | 'subscribe',
    private readonly policy: ConsumerPolicy = DEFAULT_POLICY,
  ) {
    const onDeliver = (_sub: string, ds: Delivery[]): void => this.handleAll(ds);
    this.keeper = new SessionKeeper(mb, { onDeliver }, async (s) => {
      if (this.mode !== 'subscribe') return;
      for (const topic of this.topics) await s.subscribe({ topic, prefetch: 8, visibilityMs: this.visibility() });
    });
  }

  get reopened(): number {
    return this.keeper.reopened;
  }

  start(): this {
    this.loop = this.mode === 'recv' ? this.recvLoop() : this.subscribeLoop();
    return this;
  }

  /** Stops pulling, waits for every pending ACK / NACK / EXTEND, closes the session. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
    await this.keeper.close();
  }

  private visibility(): number {
    const [lo, hi] = this.policy.visibilityMs;
    return Math.floor(lo + this.rng.next() * (hi - lo));
  }

  private async recvLoop(): Promise<void> {
    let i = Math.floor(this.rng.next() * this.topics.length);
    let emptyRun = 0;
    while (!this.stopped) {
      const topic = this.topics[i++ % this.topics.length]!;
      try {
        const s = await this.keeper.current();
        this.recvs++;
        const ds = await s.recv({ topic, maxMessages: 50, visibilityMs: this.visibility(), waitMs: emptyRun > this.topics.length ? 5 : 0 });
        if (ds.length === 0) emptyRun++;
        else emptyRun = 0;
        this.handleAll(ds);
      } catch (err) {
        this.errors++;
        const wait = backoffFor(err, 50);
        if (wait === undefined) throw err;
        await sleep(wait);
      }
      // Keep the pending actions bounded, and let timers run.
      await yieldTurn();
      if (this.inflight.size > 500) await Promise.race(this.inflight);
      if (emptyRun > 0 && emptyRun % this.topics.length === 0) await sleep(5);
    }
  }

  /** Pushes arrive through onDeliver; this loop only keeps a live, subscribed session. */
  private async subscribeLoop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.keeper.current();
      } catch (err) {
        if (backoffFor(err) === undefined) throw err;
      }
      await sleep(20);
    }
  }

  private handleAll(ds: Delivery[]): void {
    for (const d of ds) {
      this.ledger.delivery(d);
      const p = this.act(d).finally(() => this.inflight.delete(p));
      this.inflight.add(p);
    }
  }

  private async act(d: Delivery): Promise<void> {
    const r = this.rng.next();
    const { ack, nack, extend } = this.policy;
    if (r < ack) return this.settle(d, 'ack');
    if (r < ack + nack) return this.settle(d, 'nack');
    if (r < ack + nack + extend) {
      const ok = await this.retrying(() => this.keeper.current().then((s) => s.extend(d.msgId, d.leaseId, 600)));
      if (!ok) return;
      await sleep(Math.floor(this.rng.next() * 300));
      return this.settle(d, 'ack');
    }
    // Ignore: the lease expires and the message comes back with the next attempt.
  }

  private async settle(d: Delivery, how: 'ack' | 'nack'): Promise<void> {
    let tries = 0;
    const ok = await this.retrying(async () => {
      const s = await this.keeper.current();
      if (how === 'ack') {
        try {
          await s.ack(d.msgId, d.leaseId);
        } catch (err) {
          // A retried ACK finding nothing: an earlier try (whose answer was lost) or a later
          // lease's consumer acknowledged it; the server keeps nothing of acked messages.
          if (tries++ > 0 && isCode(err, 'E_NOT_FOUND')) return;
          throw err;
        }
        return;
      }
      await s.nack(d.msgId, d.leaseId, this.rng.next() < 0.5 ? { delayMs: Math.floor(this.rng.next() * 30), reason: 'chaos' } : {});
    });
    if (ok && how === 'ack') this.ledger.ackSucceeded(d.msgId as MsgId, d.leaseId);
  }

  /** True once `op` succeeded; false on a lost lease; retries retryable errors forever. */
  private async retrying(op: () => Promise<unknown>): Promise<boolean> {
    for (;;) {
      try {
        await op();
        return true;
      } catch (err) {
        if (isCode(err, 'E_STALE_LEASE', 'E_NOT_FOUND')) {
          this.ledger.staleLeases++;
          return false;
        }
        const wait = backoffFor(err, 50);
        if (wait === undefined) throw err;
        await sleep(wait);
      }
    }
  }
}
