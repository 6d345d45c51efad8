/**
 * The dead-letter actor: answers list / reprocess / purge over every shard's DLQ. It holds
 * nothing the store does not (entries are read from the store each time) except the
 * reprocess rate limiter; jobs run one at a time, in arrival order. Reprocess and purge go
 * through the owning shard, so each move is one atomic commit there. Every job acts for one
 * tenant and sees only that tenant's entries (tenants never see each other's messages).
 */
import { createActor, fromTransition } from 'xstate';
import { MailboxError, toMailboxError } from '../src/errors.ts';
import { TokenBucket } from '../src/domain/token-bucket.ts';
import { retentionCutoff, retentionIntervalMs, selectExpiredDlq } from '../src/domain/retention.ts';
import type { DlqEntry, MsgId, ShardIndex, TenantId } from '../src/domain/types.ts';
import type { RuntimeCore } from '../src/runtime/core.ts';
import type { DlqListInput, DlqReprocessInput } from '../src/runtime/api.ts';
import { actorChild, crashable } from '../supervisors/actor-child.ts';
import type { Child } from '../supervisors/child.ts';
import type { Reply } from './shard-events.ts';

export type DlqListed = DlqEntry & { payload?: Uint8Array };

export type DlqRequest =
  | { type: 'list'; input: DlqListInput; tenant: TenantId; reply: Reply<DlqListed[]> }
  | { type: 'reprocess'; input: DlqReprocessInput; tenant: TenantId; reply: Reply<number> }
  | { type: 'purge'; input: DlqReprocessInput; tenant: TenantId; reply: Reply<number> };

/** What the DLQ actor reports of its background retention passes. */
export interface DlqHooks {
  /** Entries of `shard` past `retention.dlqMs` were purged (durably). */
  retentionPurged?(shard: ShardIndex, count: number): void;
  retentionFailed?(error: MailboxError): void;
}

type RetentionJob = { type: 'retention' };
type DlqJob = DlqRequest | RetentionJob;
type DlqEvent = DlqJob | { type: 'jobDone' } | { type: '$crash'; reason: string };

const PAGE = 500;
/** Events that are jobs (anything else, such as XState's own lifecycle events, is not). */
const JOB_TYPES = new Set<string>(['list', 'reprocess', 'purge', 'retention']);

class DlqCore {
  private readonly jobs: DlqJob[] = [];
  private running = false;
  private dead = false;
  private readonly bucket: TokenBucket;
  private retentionTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly rt: RuntimeCore,
    private readonly send: (e: DlqEvent) => void,
    private readonly hooks: DlqHooks = {},
  ) {
    const rate = rt.config.queue.reprocessPerSecond;
    this.bucket = new TokenBucket(rate, rate, rt.clock.now());
    this.armRetention();
  }

  handle(event: DlqEvent): void {
    if (event.type === 'jobDone') this.running = false;
    else if (JOB_TYPES.has(event.type)) this.jobs.push(event as DlqJob);
    if (!this.running) this.next();
  }

  dispose(reason: string): void {
    this.dead = true;
    if (this.retentionTimer) clearTimeout(this.retentionTimer);
    const error = new MailboxError('E_UNAVAILABLE', `dlq restarting: ${reason}`, { retryAfterMs: 200 });
    for (const job of this.jobs.splice(0)) if (job.type !== 'retention') job.reply.reject(error);
  }

  private armRetention(): void {
    if (this.dead || this.retentionTimer) return;
    this.retentionTimer = setTimeout(() => {
      this.retentionTimer = undefined;
      if (!this.dead) this.send({ type: 'retention' });
    }, retentionIntervalMs(this.rt.config.retention.dlqMs));
    this.retentionTimer.unref?.();
  }

  /** Drops the DLQ entries past `retention.dlqMs`, shard by shard, through the owning shard (forgetDead). */
  private async purgeExpired(): Promise<number> {
    const before = retentionCutoff(this.rt.clock.wall(), this.rt.config.retention.dlqMs);
    let total = 0;
    for (const ref of this.rt.shards) {
      let after: MsgId | undefined;
      for (;;) {
        const page = await this.rt.store.listDlq(ref.index, { limit: PAGE, ...(after === undefined ? {} : { after }) });
        const expired = selectExpiredDlq(page, before);
        if (expired.length > 0) {
          const n = await ref.request<number>((reply) => ({ type: 'forgetDead', msgIds: expired, reply }));
          total += n;
          this.hooks.retentionPurged?.(ref.index, n);
        }
        if (page.length < PAGE) break;
        after = page[page.length - 1]!.meta.msgId;
      }
    }
    return total;
  }

  private next(): void {
    const job = this.jobs.shift();
    if (!job) return;
    this.running = true;
    if (job.type === 'retention') {
      this.purgeExpired().catch((err: unknown) => this.hooks.retentionFailed?.(toMailboxError(err))).finally(() => {
        this.armRetention();
        if (!this.dead) this.send({ type: 'jobDone' });
      });
      return;
    }
    this.run(job).then(
      (value) => (job.reply as Reply<unknown>).resolve(value),
      (err: unknown) => job.reply.reject(toMailboxError(err)),
    ).finally(() => {
      if (!this.dead) this.send({ type: 'jobDone' });
    });
  }

  private run(job: DlqRequest): Promise<unknown> {
    switch (job.type) {
      case 'list':
        return this.list(job.input, job.tenant);
      case 'reprocess':
        return this.move(job.input, job.tenant, 'reprocess');
      case 'purge':
        return this.move(job.input, job.tenant, 'purge');
    }
  }

  /** Entries of every shard in msgId order (paged with `after`), payloads included. */
  private async list(input: DlqListInput, tenant: TenantId): Promise<DlqListed[]> {
    const limit = Math.min(input.limit ?? 100, 1000);
    const all: Array<{ shard: ShardIndex; entry: DlqEntry }> = [];
    for (const ref of this.rt.shards) {
      const entries = await this.matching(ref.index, input, tenant, limit);
      for (const entry of entries) all.push({ shard: ref.index, entry });
    }
    all.sort((a, b) => (a.entry.meta.msgId < b.entry.meta.msgId ? -1 : 1));
    const page = all.slice(0, limit);
    return Promise.all(
      page.map(async ({ shard, entry }) => {
        const payload = await this.rt.store.getDlqPayload(shard, entry.meta.msgId);
        return payload ? { ...entry, payload } : { ...entry };
      }),
    );
  }

  /** Reprocess (back to ready, rate-limited) or purge every matching entry, shard by shard. */
  private async move(input: DlqReprocessInput, tenant: TenantId, how: 'reprocess' | 'purge'): Promise<number> {
    let remaining = input.limit ?? Number.POSITIVE_INFINITY;
    let moved = 0;
    for (const ref of this.rt.shards) {
      while (remaining > 0) {
        const entries = await this.matching(ref.index, input, tenant, Math.min(PAGE, remaining));
        if (entries.length === 0) break;
        if (how === 'purge') {
          moved += await ref.request<number>((reply) => ({ type: 'forgetDead', msgIds: entries.map((e) => e.meta.msgId as MsgId), reply }));
        } else {
          await this.throttle(entries.length);
          const withPayloads = await Promise.all(
            entries.map(async (entry) => ({ entry, payload: (await this.rt.store.getDlqPayload(ref.index, entry.meta.msgId)) ?? new Uint8Array(0) })),
          );
          moved += await ref.request<number>((reply) => ({ type: 'revive', tenant, entries: withPayloads, reply }));
        }
        remaining -= entries.length;
      }
    }
    return moved;
  }

  private async matching(shard: ShardIndex, input: DlqListInput, tenant: TenantId, limit: number): Promise<DlqEntry[]> {
    const out: DlqEntry[] = [];
    let after = input.after;
    for (;;) {
      const page = await this.rt.store.listDlq(shard, {
        limit: PAGE,
        ...(input.topic === undefined ? {} : { topic: input.topic }),
        ...(input.reason === undefined ? {} : { reason: input.reason }),
        ...(after === undefined ? {} : { after }),
      });
      for (const e of page) if (e.meta.tenant === tenant) out.push(e);
      if (out.length >= limit || page.length < PAGE) return out.slice(0, limit);
      after = page[page.length - 1]!.meta.msgId;
    }
  }

  private async throttle(n: number): Promise<void> {
    for (let left = n; left > 0; ) {
      const take = Math.min(left, this.rt.config.queue.reprocessPerSecond);
      const wait = this.bucket.waitMs(take, this.rt.clock.now());
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (this.bucket.tryTake(take, this.rt.clock.now())) left -= take;
    }
  }
}

const dlqLogic = crashable(
  fromTransition(
    (core: DlqCore, event: DlqEvent) => {
      core.handle(event);
      return core;
    },
    ({ input }: { input: DlqCore }) => input,
  ),
);

/** The DLQ actor's stable address; the instance behind it is replaced on restart. */
export class DlqRef {
  private send: ((e: DlqEvent) => void) | undefined;

  start(rt: RuntimeCore, hooks: DlqHooks = {}): Child {
    let send: (e: DlqEvent) => void = () => {};
    const core = new DlqCore(rt, (e) => send(e), hooks);
    const actor = createActor(dlqLogic, { input: core });
    send = (e) => actor.send(e);
    const detach = (reason: string): void => {
      core.dispose(reason);
      if (this.send === send) this.send = undefined;
    };
    actor.subscribe({ error: (e: unknown) => detach(e instanceof Error ? e.message : String(e)), complete: () => detach('stopped') });
    const child = actorChild(actor, { describe: () => ({ state: 'serving' }) });
    this.send = send;
    return child;
  }

  request<T>(make: (reply: Reply<T>) => DlqRequest): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.send) return reject(new MailboxError('E_UNAVAILABLE', 'dlq is restarting', { retryAfterMs: 200 }));
      this.send(make({ resolve, reject }));
    });
  }
}
