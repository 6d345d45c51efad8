/**
 * Supervision is ours: XState reports a child's failure but does not restart it.
 *
 * A `Supervisor` watches its children (`Child`), restarts crashed ones by its strategy after a
 * jittered back-off, and escalates (stops everything and crashes itself) when more than
 * `intensity` restarts happen within `periodMs`, so its own parent applies its strategy. It is
 * a plain class, not a machine, and keeps children in a Map: thousands of sessions cost one
 * record each, with nothing copied per spawn. A supervisor is a `Child` itself, so trees nest.
 */
import type { SupervisionConfig } from '../src/config/config.ts';
import { restartDelay } from '../src/domain/backoff.ts';
import { mathRng, systemClock, type Clock, type Rng } from '../src/domain/clock.ts';
import { MailboxError } from '../src/errors.ts';
import type { TreeNode } from '../src/runtime/api.ts';
import { isPromiseLike, type Child, type ChildDescription, type ChildExit, type ChildSpec } from './child.ts';
import type { EscalationEvent, SupervisorEvent } from './events.ts';
import { systemScheduler, type Scheduler, type TimerHandle } from './scheduler.ts';
import { rebase } from './tree.ts';

/**
 * - `one_for_one`: restart only the crashed child.
 * - `rest_for_one`: stop the children started after the crashed one (in reverse order), then
 *   restart the crashed child and those after it, in order.
 */
export type Strategy = 'one_for_one' | 'rest_for_one';

export type SupervisorStatus = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped' | 'crashed';

export interface SupervisorOptions {
  /** This supervisor's id; the root is "root". */
  id: string;
  /** Full path, for events and `killPath`; default `/${id}`. Nested: e.g. "/root/shards". */
  path?: string;
  strategy: Strategy;
  supervision: SupervisionConfig;
  /** Started in order by `start()`. */
  children?: readonly ChildSpec[];
  clock?: Clock;
  rng?: Rng;
  scheduler?: Scheduler;
  onEvent?: (event: SupervisorEvent) => void;
  /** Called once the supervisor has escalated and stopped its children (for the root: the runtime failed). */
  onEscalate?: (event: EscalationEvent) => void;
}

type RecordStatus = 'starting' | 'running' | 'restarting' | 'exited' | 'stopped';

interface ChildRecord {
  spec: ChildSpec;
  status: RecordStatus;
  instance: Child | undefined;
  /** Monotonic ms of the last successful start. */
  startedAt: number;
  /** Total restarts. */
  restarts: number;
  /** Consecutive restarts: the exponent of the back-off. */
  backoffN: number;
  lastCrash: { reason: string; at: number } | undefined;
  pending: RestartGroup | undefined;
  /** Bumped whenever the current instance (or start in flight) stops counting. */
  epoch: number;
}

/** Children restarted together after one delay. */
interface RestartGroup {
  records: ChildRecord[];
  timer: TimerHandle | undefined;
}

/** A start that finished after its record moved on; the instance was stopped. */
class StaleStart extends Error {}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class Supervisor implements Child {
  readonly id: string;
  readonly path: string;
  private readonly options: SupervisorOptions;
  private readonly clock: Clock;
  private readonly rng: Rng;
  private readonly scheduler: Scheduler;
  private readonly records = new Map<string, ChildRecord>();
  private readonly groups = new Set<RestartGroup>();
  private readonly listeners = new Set<(event: SupervisorEvent) => void>();
  private restartLog: Array<{ at: number; id: string }> = [];
  private state: SupervisorStatus = 'idle';
  private startedAt = 0;
  private exit: ChildExit | undefined;
  private exitListener: ((exit: ChildExit) => void) | undefined;
  private shutdownPromise: Promise<void> | undefined;
  private ownCrash: { reason: string; at: number } | undefined;

  constructor(options: SupervisorOptions) {
    this.options = options;
    this.id = options.id;
    this.path = options.path ?? `/${options.id}`;
    this.clock = options.clock ?? systemClock;
    this.rng = options.rng ?? mathRng;
    this.scheduler = options.scheduler ?? systemScheduler;
    if (options.onEvent) this.listeners.add(options.onEvent);
  }

  get status(): SupervisorStatus {
    return this.state;
  }

  /** Number of children, including ones waiting for a restart. */
  get size(): number {
    return this.records.size;
  }

  /** The running instance of a child, if any. */
  child(id: string): Child | undefined {
    return this.records.get(id)?.instance;
  }

  on(listener: (event: SupervisorEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Starts the initial children in order. If one fails to start, the ones already started are
   * stopped in reverse order and the returned promise rejects.
   */
  async start(): Promise<this> {
    if (this.state !== 'idle') throw new Error(`supervisor ${this.path} was already started (${this.state})`);
    this.state = 'starting';
    this.startedAt = this.clock.now();
    for (const spec of this.options.children ?? []) {
      const record = this.addRecord(spec);
      try {
        await this.launch(record);
      } catch (error) {
        // A crash during start made this start stale; the restart group will start it.
        if (error instanceof StaleStart && this.active) continue;
        if (this.active) {
          await this.shutdown();
          this.state = 'stopped';
        }
        throw new Error(`supervisor ${this.path} could not start child ${spec.id}: ${messageOf(error)}`, { cause: error });
      }
    }
    if (this.state !== 'starting') throw new Error(`supervisor ${this.path} ${this.state} while starting`);
    this.state = 'running';
    return this;
  }

  /** Adds and starts a child (e.g. a session). Rejects if the id is taken or the start fails. */
  async startChild(spec: ChildSpec): Promise<Child> {
    if (!this.active) throw new Error(`supervisor ${this.path} is ${this.state}; cannot start child ${spec.id}`);
    const existing = this.records.get(spec.id);
    if (existing && existing.status !== 'exited' && existing.status !== 'stopped') {
      throw new Error(`supervisor ${this.path} already has a child ${spec.id}`);
    }
    const record = existing ?? this.addRecord(spec);
    record.spec = spec;
    try {
      return await this.launch(record);
    } catch (error) {
      if (this.records.get(spec.id) === record && record.status === 'starting') this.records.delete(spec.id);
      if (error instanceof StaleStart) throw new Error(`supervisor ${this.path} stopped before child ${spec.id} started`);
      throw error;
    }
  }

  /** Stops a child and forgets it. Returns false when there is no such child. */
  async terminateChild(id: string): Promise<boolean> {
    const record = this.records.get(id);
    if (!record) return false;
    this.records.delete(id);
    await this.stopRecord(record);
    return true;
  }

  /** Stops all children in reverse start order; reports a normal exit to a parent. */
  async stop(): Promise<void> {
    if (this.state === 'idle') this.state = 'stopped';
    if (this.state === 'stopped' || this.state === 'crashed') return;
    if (this.state === 'stopping') return this.shutdownPromise;
    this.state = 'stopping';
    await this.shutdown();
    this.state = 'stopped';
    this.report({ kind: 'normal' });
  }

  /** Crashes this supervisor: its children are stopped and its parent sees a crash. */
  kill(reason: string): void {
    this.crash(reason, false);
  }

  /**
   * Crashes the node at `path` (as in the dump, e.g. "/root/shards/shard-3") as a real
   * failure would. Throws `E_NOT_FOUND` when no running node is there.
   */
  killPath(path: string, reason = 'killed'): void {
    const own = this.path.split('/').filter(Boolean);
    const segments = path.split('/').filter(Boolean);
    if (!own.every((segment, i) => segments[i] === segment)) {
      throw new MailboxError('E_NOT_FOUND', `no node at ${path}: not under ${this.path}`);
    }
    this.killAt(segments.slice(own.length), reason, path);
  }

  killAt(path: readonly string[], reason: string, fullPath = path.join('/')): void {
    const [head, ...rest] = path;
    if (head === undefined) return this.kill(reason);
    const instance = this.records.get(head)?.instance;
    if (!instance) throw new MailboxError('E_NOT_FOUND', `no running node at ${fullPath}`);
    if (rest.length === 0) return instance.kill(reason);
    if (!instance.killAt) throw new MailboxError('E_NOT_FOUND', `no node at ${fullPath}: ${head} has no children`);
    instance.killAt(rest, reason);
  }

  onExit(cb: (exit: ChildExit) => void): void {
    this.exitListener = cb;
    if (this.exit) cb(this.exit);
  }

  /** Children's paths are relative to this supervisor ("/shard-3"). */
  describe(): ChildDescription {
    return { state: this.state, children: this.nodes('') };
  }

  /** The state dump from this supervisor down, with full paths. */
  tree(): TreeNode {
    const node: TreeNode = {
      path: this.path,
      kind: 'supervisor',
      state: this.state,
      restarts: 0,
      uptimeMs: this.active ? this.clock.now() - this.startedAt : 0,
      children: this.nodes(this.path),
    };
    if (this.ownCrash) node.lastCrash = { ...this.ownCrash };
    return node;
  }

  private get active(): boolean {
    return this.state === 'starting' || this.state === 'running';
  }

  private addRecord(spec: ChildSpec): ChildRecord {
    const record: ChildRecord = {
      spec,
      status: 'starting',
      instance: undefined,
      startedAt: 0,
      restarts: 0,
      backoffN: 0,
      lastCrash: undefined,
      pending: undefined,
      epoch: 0,
    };
    this.records.set(spec.id, record);
    return record;
  }

  private childPath(record: ChildRecord): string {
    return `${this.path}/${record.spec.id}`;
  }

  private emit(event: SupervisorEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A failing listener (metrics, bus) must not stop supervision.
      }
    }
  }

  private base(record: ChildRecord) {
    return { supervisor: this.path, path: this.childPath(record), id: record.spec.id, kind: record.spec.kind };
  }

  /** Starts an instance; synchronous when `spec.start` is, so 8,000 sessions need no awaits. */
  private launch(record: ChildRecord): Child | Promise<Child> {
    const epoch = ++record.epoch;
    record.status = 'starting';
    const result = record.spec.start();
    return isPromiseLike(result) ? result.then((child) => this.attach(record, epoch, child)) : this.attach(record, epoch, result);
  }

  private attach(record: ChildRecord, epoch: number, child: Child): Child {
    if (record.epoch !== epoch || !this.active || this.records.get(record.spec.id) !== record) {
      void this.safeStop(record, child);
      throw new StaleStart();
    }
    record.instance = child;
    record.status = 'running';
    record.startedAt = this.clock.now();
    this.emit({ type: 'childStarted', ...this.base(record), restarts: record.restarts });
    child.onExit((exit) => this.childExited(record, epoch, exit));
    return child;
  }

  private childExited(record: ChildRecord, epoch: number, exit: ChildExit): void {
    // Exits of instances we are stopping (or replaced) are expected, not news.
    if (record.epoch !== epoch || record.status !== 'running' || !this.active) return;
    const uptimeMs = this.clock.now() - record.startedAt;
    record.instance = undefined;
    record.status = 'exited';
    if (exit.kind === 'normal') {
      if (record.spec.restart === 'temporary') this.records.delete(record.spec.id);
      this.emit({ type: 'childExited', ...this.base(record) });
      return;
    }
    this.crashed(record, exit.reason, exit.error, uptimeMs);
  }

  private crashed(record: ChildRecord, reason: string, error: unknown, uptimeMs: number): void {
    record.lastCrash = { reason, at: this.clock.wall() };
    const crash = { type: 'childCrashed' as const, ...this.base(record), reason, error, restarts: record.restarts };
    if (record.spec.restart === 'temporary') {
      this.records.delete(record.spec.id);
      this.emit({ ...crash, willRestart: false });
      return;
    }
    const { intensity, periodMs, resetAfterMs, restartBaseMs, restartMaxMs } = this.options.supervision;
    const now = this.clock.now();
    this.restartLog = this.restartLog.filter((entry) => entry.at > now - periodMs);
    this.restartLog.push({ at: now, id: record.spec.id });
    if (this.restartLog.length > intensity) {
      this.emit({ ...crash, willRestart: false });
      this.crash(this.escalationReason(record.spec.id, reason), true);
      return;
    }
    if (uptimeMs >= resetAfterMs) record.backoffN = 0;
    const delayMs = restartDelay({ baseMs: restartBaseMs, maxMs: restartMaxMs }, record.backoffN, this.rng);
    record.backoffN += 1;
    this.emit({ ...crash, willRestart: true, delayMs });
    this.schedule(this.restartSet(record), delayMs);
  }

  private escalationReason(id: string, reason: string): string {
    const { periodMs } = this.options.supervision;
    const count = this.restartLog.length;
    if (this.restartLog.every((entry) => entry.id === id)) {
      return `escalated: child ${id} crashed ${count} ${count === 1 ? 'time' : 'times'} in ${periodMs} ms: ${reason}`;
    }
    return `escalated: ${count} crashes in ${periodMs} ms, last child ${id}: ${reason}`;
  }

  /** The crashed child, plus (rest_for_one) every live child started after it, in start order. */
  private restartSet(record: ChildRecord): ChildRecord[] {
    if (this.options.strategy === 'one_for_one') return [record];
    const set: ChildRecord[] = [];
    let after = false;
    for (const candidate of this.records.values()) {
      if (candidate === record) after = true;
      else if (!after || candidate.status === 'exited' || candidate.status === 'stopped') continue;
      set.push(candidate);
    }
    return set;
  }

  /** `records[0]` crashed; the rest (rest_for_one) are stopped, in reverse order, and restarted with it. */
  private schedule(records: ChildRecord[], delayMs: number): void {
    const group: RestartGroup = { records: [], timer: undefined };
    const toStop: Array<[ChildRecord, Child]> = [];
    for (const record of records) {
      this.detach(record);
      if (record.instance) toStop.push([record, record.instance]);
      record.instance = undefined;
      record.epoch += 1;
      if (record !== records[0] && record.spec.restart === 'temporary') {
        // Stopped with the rest, but temporary children are never started again.
        record.status = 'stopped';
        this.records.delete(record.spec.id);
        continue;
      }
      record.status = 'restarting';
      record.pending = group;
      group.records.push(record);
    }
    const stopped = this.stopInOrder(toStop.reverse());
    this.groups.add(group);
    group.timer = this.scheduler.setTimeout(() => {
      group.timer = undefined;
      void stopped.then(() => this.runGroup(group));
    }, delayMs);
  }

  private async runGroup(group: RestartGroup): Promise<void> {
    this.groups.delete(group);
    for (const record of [...group.records]) {
      // Skipped when a later crash took the record into another group, or we stopped.
      if (record.pending !== group || !this.active) continue;
      record.pending = undefined;
      record.restarts += 1;
      try {
        await this.launch(record);
        this.emit({ type: 'childRestarted', ...this.base(record), restarts: record.restarts });
      } catch (error) {
        if (error instanceof StaleStart) continue;
        if (record.status === 'starting' && this.records.get(record.spec.id) === record) {
          this.crashed(record, `start failed: ${messageOf(error)}`, error, 0);
        }
      }
    }
  }

  /** Takes a record out of the restart group it waits in. */
  private detach(record: ChildRecord): void {
    const group = record.pending;
    if (!group) return;
    record.pending = undefined;
    group.records = group.records.filter((r) => r !== record);
    if (group.records.length === 0) {
      if (group.timer !== undefined) this.scheduler.clearTimeout(group.timer);
      this.groups.delete(group);
    }
  }

  private crash(reason: string, escalated: boolean): void {
    if (!this.active) return;
    this.state = 'stopping';
    this.ownCrash = { reason, at: this.clock.wall() };
    if (escalated) this.emit({ type: 'escalated', supervisor: this.path, reason });
    void this.shutdown().then(() => {
      this.state = 'crashed';
      if (escalated) this.options.onEscalate?.({ path: this.path, reason });
      this.report({ kind: 'crash', reason });
    });
  }

  private shutdown(): Promise<void> {
    this.shutdownPromise ??= (async () => {
      for (const group of this.groups) {
        if (group.timer !== undefined) this.scheduler.clearTimeout(group.timer);
      }
      this.groups.clear();
      for (const record of [...this.records.values()].reverse()) await this.stopRecord(record);
    })();
    return this.shutdownPromise;
  }

  private async stopRecord(record: ChildRecord): Promise<void> {
    this.detach(record);
    const instance = record.instance;
    record.instance = undefined;
    record.epoch += 1;
    record.status = 'stopped';
    if (instance) await this.safeStop(record, instance);
  }

  private async stopInOrder(entries: Array<[ChildRecord, Child]>): Promise<void> {
    for (const [record, child] of entries) await this.safeStop(record, child);
  }

  private async safeStop(record: ChildRecord, child: Child): Promise<void> {
    try {
      await child.stop();
    } catch (error) {
      this.emit({ type: 'childStopFailed', ...this.base(record), error });
    }
  }

  private report(exit: ChildExit): void {
    if (this.exit) return;
    this.exit = exit;
    this.exitListener?.(exit);
  }

  private nodes(prefix: string): TreeNode[] {
    const now = this.clock.now();
    const nodes: TreeNode[] = [];
    for (const record of this.records.values()) nodes.push(this.node(record, prefix, now));
    return nodes;
  }

  private node(record: ChildRecord, prefix: string, now: number): TreeNode {
    const path = `${prefix}/${record.spec.id}`;
    let description: ChildDescription | undefined;
    if (record.status === 'running' && record.instance) {
      try {
        description = record.instance.describe();
      } catch (error) {
        description = { state: `describe failed: ${messageOf(error)}` };
      }
    }
    const own = description?.state;
    const node: TreeNode = {
      path,
      kind: record.spec.kind,
      state: own && own !== record.status ? `${record.status}:${own}` : record.status,
      restarts: record.restarts,
      uptimeMs: record.status === 'running' ? now - record.startedAt : 0,
    };
    if (record.lastCrash) node.lastCrash = { ...record.lastCrash };
    if (description?.depths) node.depths = { ...description.depths };
    if (description?.info) node.info = { ...description.info };
    if (description?.children) node.children = rebase(description.children, path);
    return node;
  }
}
