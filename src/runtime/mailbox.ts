/**
 * The object `createMailbox` returns: the embedding API over one running supervisor tree.
 * Calls made on the mailbox itself go through a default session, opened on first use and
 * replaced if it ends (a killed session is never restarted; the next call gets a new one).
 */
import { MailboxError } from '../errors.ts';
import { DEFAULT_TENANT, type LeaseId, type MsgId, type TenantId } from '../domain/types.ts';
import type { EventBus } from '../bus/bus.ts';
import type { MailboxEvents } from '../bus/events.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Logger } from '../observability/logger.ts';
import type { FaultableStore } from '../store/open-store.ts';
import type { Supervisor } from '../../supervisors/supervisor.ts';
import type { ChildSpec } from '../../supervisors/child.ts';
import type { DlqListed, DlqRef } from '../../actors/dlq.ts';
import type { RuntimeCore } from './core.ts';
import type {
  DlqApi, DlqListInput, DlqReprocessInput, Mailbox, NackOptions, ReadinessReport, RecvInput, SendInput, SendResult,
  Session, SessionOptions, TreeNode,
} from './api.ts';
import type { MailboxConfig } from '../config/config.ts';
import type { Delivery } from '../domain/types.ts';
import type { SessionHandle } from './session-handle.ts';
import type { PolicyHolder, PolicyReport, ReloadResult } from './policy-holder.ts';

export interface MailboxParts {
  rt: RuntimeCore;
  root: Supervisor;
  bus: EventBus<MailboxEvents>;
  metrics: Metrics;
  logger: Logger;
  dlq: DlqRef;
  openSession(options?: SessionOptions): Session;
  readiness(): ReadinessReport;
  failure(): string | undefined;
  onFailure(listener: (reason: string) => void): void;
  setListener(addr: string | undefined): void;
  closeAllSessions(): Promise<void>;
  shutdown(): Promise<void>;
  policies: PolicyHolder;
}

export class MailboxRuntime implements Mailbox {
  private defaultSession: Session | undefined;
  private stopping: Promise<void> | undefined;
  readonly dlq: DlqApi;

  constructor(private readonly parts: MailboxParts) {
    parts.metrics.setReadinessProvider(() => this.readiness().state);
    const dlq = parts.dlq;
    // Like the mailbox's own calls (its default session), the DLQ acts for the default tenant unless told another.
    this.dlq = {
      list: (input: DlqListInput = {}, tenant: TenantId = DEFAULT_TENANT) =>
        dlq.request<DlqListed[]>((reply) => ({ type: 'list', input, tenant, reply })),
      reprocess: (input: DlqReprocessInput = {}, tenant: TenantId = DEFAULT_TENANT) =>
        dlq.request<number>((reply) => ({ type: 'reprocess', input, tenant, reply })),
      purge: (input: DlqReprocessInput = {}, tenant: TenantId = DEFAULT_TENANT) =>
        dlq.request<number>((reply) => ({ type: 'purge', input, tenant, reply })),
    };
  }

  get config(): MailboxConfig {
    return this.parts.rt.config;
  }
  get bus(): EventBus<MailboxEvents> {
    return this.parts.bus;
  }
  get metrics(): Metrics {
    return this.parts.metrics;
  }
  get logger(): Logger {
    return this.parts.logger;
  }
  /** The store, with its fault-injection switch (`store.faults`) for drills and tests. */
  get store(): FaultableStore {
    return this.parts.rt.store as FaultableStore;
  }

  openSession(options?: SessionOptions): Session {
    if (this.stopping) throw new MailboxError('E_UNAVAILABLE', 'mailbox is stopping');
    return this.parts.openSession(options);
  }

  send(input: SendInput): Promise<SendResult> {
    return this.session().send(input);
  }
  sendBatch(inputs: readonly SendInput[]): Promise<Array<SendResult | MailboxError>> {
    return this.session().sendBatch(inputs);
  }
  recv(input: RecvInput): Promise<Delivery[]> {
    return this.session().recv(input);
  }
  ack(msgId: MsgId, leaseId: LeaseId): Promise<void> {
    return this.session().ack(msgId, leaseId);
  }
  nack(msgId: MsgId, leaseId: LeaseId, options?: NackOptions): Promise<void> {
    return this.session().nack(msgId, leaseId, options);
  }
  extend(msgId: MsgId, leaseId: LeaseId, ms: number): Promise<number> {
    return this.session().extend(msgId, leaseId, ms);
  }

  tree(): TreeNode {
    return this.parts.root.tree();
  }

  async kill(path: string, reason = 'killed by operator'): Promise<void> {
    try {
      this.parts.root.killPath(path, reason);
    } catch (err) {
      throw new MailboxError('E_NOT_FOUND', err instanceof Error ? err.message : String(err));
    }
  }

  readiness(): ReadinessReport {
    return this.parts.readiness();
  }

  /** Reads the policy file again and puts it in force whole, or keeps the cached policy and says why. `by`: who asked (logged). */
  reloadPolicy(by: string): Promise<ReloadResult> {
    return this.parts.policies.reload(by);
  }

  /** The policy in force, its file and the time left on active presets. */
  policyReport(): PolicyReport {
    return this.parts.policies.report();
  }

  /** Why the runtime failed (its root supervisor gave up), or undefined while it runs. */
  get failed(): string | undefined {
    return this.parts.failure();
  }

  /** Called once if the root supervisor gives up: the runtime is finished and should be replaced. */
  onFailure(listener: (reason: string) => void): void {
    this.parts.onFailure(listener);
  }

  /** Adds a child under the root supervisor (the network server's ingress and admin port). */
  async supervise(spec: ChildSpec): Promise<void> {
    await this.parts.root.startChild(spec);
  }

  /** The network server tells readiness about its listener (undefined when it closes). */
  setListener(addr: string | undefined): void {
    this.parts.setListener(addr);
  }

  /** Resolves once `done()` holds, polling briefly; rejects after `timeoutMs`. */
  async waitFor(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) throw new MailboxError('E_UNAVAILABLE', `timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Leases open across all shards right now. */
  openLeases(): number {
    let n = 0;
    for (const ref of this.parts.rt.shards) n += ref.running?.queue.leasedCount ?? 0;
    return n;
  }

  /** Refuse new SENDs, give open leases up to drainTimeoutMs to settle, then stop. */
  async drain(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.parts.bus.publish('DrainRequested');
    this.parts.logger.info({ event: 'drain_started', openLeases: this.openLeases() }, 'draining');
    const settled = (): boolean => this.openLeases() === 0 && this.parts.rt.shards.every((ref) => ref.running?.idle() ?? true);
    await this.waitFor(settled, this.config.drainTimeoutMs, 'leases to settle').catch(() => {
      this.parts.logger.warn({ event: 'drain_timeout', openLeases: this.openLeases() }, 'drain deadline passed with leases open; they will be redelivered');
    });
    // The last ACKs are durable; give their replies a turn to reach the sockets before they close.
    await new Promise((resolve) => setTimeout(resolve, 20));
    return this.stop();
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.parts.closeAllSessions();
      await this.parts.shutdown();
      this.parts.bus.publish('Stopped');
      this.parts.logger.info({ event: 'stopped' }, 'mailbox stopped');
    })();
    return this.stopping;
  }

  private session(): Session {
    if (!this.defaultSession || this.defaultSession.closed) this.defaultSession = this.openSession();
    return this.defaultSession;
  }
}

export type { SessionHandle };
