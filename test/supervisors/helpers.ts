/**
 * Test doubles for supervision: a scheduler driven by a ManualClock, and children the test
 * crashes or ends by hand.
 */
import { ManualClock } from '../../src/domain/clock.ts';
import type { SupervisionConfig } from '../../src/config/config.ts';
import type { Child, ChildDescription, ChildExit, ChildSpec, RestartType } from '../../supervisors/child.ts';
import type { Scheduler, TimerHandle } from '../../supervisors/scheduler.ts';
import type { TreeNode } from '../../src/runtime/api.ts';

export const supervision: SupervisionConfig = {
  intensity: 100,
  periodMs: 60_000,
  restartBaseMs: 100,
  restartMaxMs: 30_000,
  resetAfterMs: 60_000,
};

interface Timer {
  id: number;
  due: number;
  ms: number;
  fn: () => void;
}

export class FakeScheduler implements Scheduler {
  readonly clock = new ManualClock();
  private timers: Timer[] = [];
  private nextId = 1;
  /** Every delay ever asked for, in order. */
  readonly requested: number[] = [];

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = { id: this.nextId++, due: this.clock.now() + ms, ms, fn };
    this.timers.push(timer);
    this.requested.push(ms);
    return timer.id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  get pending(): number {
    return this.timers.length;
  }

  /** Moves the clock to the earliest timer, fires it, and lets promise chains settle. */
  async runNext(): Promise<number> {
    await settle();
    this.timers.sort((a, b) => a.due - b.due || a.id - b.id);
    const timer = this.timers.shift();
    if (!timer) throw new Error('no timer pending');
    this.clock.advance(Math.max(0, timer.due - this.clock.now()));
    timer.fn();
    await settle();
    return timer.ms;
  }

  async runAll(limit = 1000): Promise<void> {
    for (let i = 0; i < limit; i++) {
      await settle();
      if (this.timers.length === 0) return;
      await this.runNext();
    }
    throw new Error('timers keep coming');
  }
}

export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A child that ends only when the test says so. */
export class FakeChild implements Child {
  private listener: ((exit: ChildExit) => void) | undefined;
  private ended: ChildExit | undefined;
  stopped = false;

  constructor(
    readonly id: string,
    readonly generation: number,
    private readonly log: string[],
  ) {}

  onExit(cb: (exit: ChildExit) => void): void {
    this.listener = cb;
    if (this.ended) cb(this.ended);
  }
  stop(): void {
    this.stopped = true;
    this.log.push(`stop ${this.id}`);
  }
  kill(reason: string): void {
    this.crash(reason);
  }
  describe(): ChildDescription {
    return { state: 'serving', depths: { ready: this.generation, leased: 0, delayed: 0, dlq: 0 } };
  }
  crash(reason = 'boom'): void {
    this.end({ kind: 'crash', reason, error: new Error(reason) });
  }
  exitNormally(): void {
    this.end({ kind: 'normal' });
  }
  private end(exit: ChildExit): void {
    if (this.ended) return;
    this.ended = exit;
    this.listener?.(exit);
  }
}

/** Makes specs whose instances are recorded, newest last, per id. */
export class ChildFactory {
  readonly log: string[] = [];
  readonly instances = new Map<string, FakeChild[]>();

  spec(id: string, restart: RestartType = 'permanent', kind: TreeNode['kind'] = 'worker'): ChildSpec {
    return {
      id,
      kind,
      restart,
      start: () => {
        const list = this.instances.get(id) ?? [];
        const child = new FakeChild(id, list.length + 1, this.log);
        list.push(child);
        this.instances.set(id, list);
        this.log.push(`start ${id}`);
        return child;
      },
    };
  }

  /** The newest instance of `id`. */
  current(id: string): FakeChild {
    const list = this.instances.get(id);
    const child = list?.[list.length - 1];
    if (!child) throw new Error(`no instance of ${id}`);
    return child;
  }

  starts(id: string): number {
    return this.instances.get(id)?.length ?? 0;
  }
}
