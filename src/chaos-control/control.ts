/**
 * Fault injection into the running server (`mailbox chaos inject`, POST /admin/chaos): at most
 * one fault of each kind at a time, each ending by itself after its duration or early on
 * clear. Every start and end is a warn log line naming the admin token (`<id>@<KID>`, never
 * the token), `chaos_active{fault}` follows it, and the `/root/chaos` node of the tree shows
 * what is active and the time left.
 */
import type { Logger } from '../observability/logger.ts';
import type { MailboxRuntime } from '../runtime/mailbox.ts';
import { MailboxError } from '../errors.ts';
import { CHAOS_FAULTS, type ChaosFault, type ChaosSpec } from './spec.ts';
import { socketWrites } from './socket-delay.ts';

/** The CPU burn works in slices this long: busy for `percent` of it, then yields the rest. */
const CPU_SLICE_MS = 100;

export interface ActiveFault extends ChaosSpec {
  /** The admin token that injected it, as `<tokenId>@<KID>`. */
  by: string;
  startedAt: string;
  endsAt: string;
  remainingMs: number;
  /** kill-actor: kills so far (and kills that found the actor already gone, restarting). */
  kills?: number;
  missed?: number;
}

interface Running {
  spec: ChaosSpec;
  by: string;
  startedAt: number;
  timer: NodeJS.Timeout;
  counts: { kills: number; missed: number };
  undo(): void;
}

export type EndReason = 'expired' | 'cleared' | 'replaced' | 'stopping';

export class ChaosControl {
  private readonly running = new Map<ChaosFault, Running>();

  constructor(
    private readonly mailbox: MailboxRuntime,
    private readonly logger: Logger,
  ) {}

  /** Starts `spec` (replacing an active fault of the same kind). A kill-actor of an unknown path is E_NOT_FOUND. */
  async inject(spec: ChaosSpec, by: string): Promise<ActiveFault> {
    const counts = { kills: 0, missed: 0 };
    if (spec.fault === 'kill-actor') {
      // The first kill now, so an unknown path is refused before anything is armed.
      await this.mailbox.kill(spec.target!, `chaos inject by ${by}`);
      counts.kills++;
    }
    this.end(spec.fault, 'replaced', by);
    const startedAt = Date.now();
    this.logger.warn(
      { event: 'chaos_injected', ...spec, by },
      `chaos: ${describeSpec(spec)} injected by ${by}${spec.durationMs > 0 ? ` for ${spec.durationMs} ms` : ''}`,
    );
    if (spec.durationMs === 0) {
      // A one-shot kill: done already, nothing stays armed.
      this.logger.warn({ event: 'chaos_ended', fault: spec.fault, reason: 'expired', by }, `chaos: ${spec.fault} ended (one-shot)`);
      return this.view({ spec, by, startedAt, counts });
    }
    const undo = this.arm(spec, by, counts);
    const timer = setTimeout(() => this.end(spec.fault, 'expired', by), spec.durationMs);
    timer.unref();
    const entry: Running = { spec, by, startedAt, timer, counts, undo };
    this.running.set(spec.fault, entry);
    this.mailbox.metrics.chaosActive(spec.fault, true);
    return this.view(entry);
  }

  /** Ends one fault (or every one) early; returns what was active. */
  clear(fault: ChaosFault | undefined, by: string): ActiveFault[] {
    const ended: ActiveFault[] = [];
    for (const f of fault ? [fault] : [...CHAOS_FAULTS]) {
      const entry = this.running.get(f);
      if (entry && this.end(f, 'cleared', by)) ended.push(this.view(entry));
    }
    return ended;
  }

  list(): ActiveFault[] {
    return [...this.running.values()].map((e) => this.view(e));
  }

  /** Ends everything (the server is stopping): no fault outlives it. */
  stopAll(): void {
    for (const f of [...this.running.keys()]) this.end(f, 'stopping', 'server');
  }

  /** The state line of the tree's /root/chaos node. */
  describe(): string {
    const active = this.list();
    if (active.length === 0) return 'enabled, no fault active';
    return active.map((a) => `${describeSpec(a)} (${Math.ceil(a.remainingMs / 1000)} s left)`).join('; ');
  }

  private end(fault: ChaosFault, reason: EndReason, by: string): boolean {
    const entry = this.running.get(fault);
    if (!entry) return false;
    this.running.delete(fault);
    clearTimeout(entry.timer);
    entry.undo();
    this.mailbox.metrics.chaosActive(fault, false);
    this.logger.warn(
      { event: 'chaos_ended', fault, reason, by, injectedBy: entry.by, ...(fault === 'kill-actor' ? entry.counts : {}) },
      `chaos: ${fault} ended (${reason}${reason === 'cleared' ? ` by ${by}` : ''})`,
    );
    return true;
  }

  /** Switches the fault on; returns what switches it off. */
  private arm(spec: ChaosSpec, by: string, counts: Running['counts']): () => void {
    const { store, bus } = this.mailbox;
    switch (spec.fault) {
      case 'latency':
        if (spec.target === 'socket') {
          socketWrites.delayMs = spec.delayMs!;
          return () => {
            socketWrites.delayMs = 0;
          };
        }
        store.faults.commitDelayMs = spec.delayMs!;
        return () => {
          store.faults.commitDelayMs = 0;
        };
      case 'storage-full':
        store.faults.failWrites = 'full';
        return () => {
          if (store.faults.failWrites === 'full') store.faults.failWrites = false;
        };
      case 'bus-drop':
        bus.faults.dropAll = true;
        return () => {
          bus.faults.dropAll = false;
        };
      case 'cpu':
        return burnCpu(spec.percent!);
      case 'kill-actor': {
        if (spec.everyMs === undefined) return () => {};
        const every = setInterval(() => {
          this.mailbox.kill(spec.target!, `chaos inject by ${by}`).then(
            () => counts.kills++,
            (err: unknown) => {
              // Between a kill and its restart the path is briefly unknown: counted, not fatal.
              if (err instanceof MailboxError && err.code === 'E_NOT_FOUND') counts.missed++;
              else this.logger.error({ event: 'chaos_kill_failed', target: spec.target, err }, 'chaos: kill failed');
            },
          );
        }, spec.everyMs);
        every.unref();
        return () => clearInterval(every);
      }
    }
  }

  private view(e: Pick<Running, 'spec' | 'by' | 'startedAt' | 'counts'>): ActiveFault {
    const endsAt = e.startedAt + e.spec.durationMs;
    return {
      ...e.spec,
      by: e.by,
      startedAt: new Date(e.startedAt).toISOString(),
      endsAt: new Date(endsAt).toISOString(),
      remainingMs: Math.max(0, endsAt - Date.now()),
      ...(e.spec.fault === 'kill-actor' ? e.counts : {}),
    };
  }
}

function describeSpec(s: ChaosSpec): string {
  switch (s.fault) {
    case 'latency':
      return s.target === 'socket' ? `latency +${s.delayMs} ms per socket write` : `latency +${s.delayMs} ms per store commit`;
    case 'cpu':
      return `cpu ${s.percent}% of a core`;
    case 'kill-actor':
      return `kill-actor ${s.target}${s.everyMs ? ` every ${s.everyMs} ms` : ''}`;
    default:
      return s.fault;
  }
}

/**
 * Burns `percent` of one core on this (the main) thread: busy for that share of each slice,
 * then back to the event loop, so the server's own work feels it as event-loop delay.
 */
function burnCpu(percent: number): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const busyMs = (CPU_SLICE_MS * percent) / 100;
  const slice = (): void => {
    if (stopped) return;
    const until = performance.now() + busyMs;
    while (performance.now() < until) {
      // busy on purpose
    }
    timer = setTimeout(slice, CPU_SLICE_MS - busyMs);
    timer.unref();
  };
  timer = setTimeout(slice, 0);
  timer.unref();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
