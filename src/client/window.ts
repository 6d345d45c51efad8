/**
 * The in-flight window: at most `max` calls await their results at once; further calls
 * wait, first come first served. Bounds the client's memory when a producer outruns the
 * server instead of letting the pending table grow without limit.
 */
export class InflightWindow {
  private active = 0;
  private waiters: Array<() => void> = [];
  private head = 0;

  constructor(private readonly max: number) {}

  get inflight(): number {
    return this.active;
  }

  get waiting(): number {
    return this.waiters.length - this.head;
  }

  /** Takes a slot: undefined when one was free (the fast path), else a promise of one. */
  acquire(): Promise<void> | undefined {
    if (this.active < this.max) {
      this.active++;
      return undefined;
    }
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Gives a slot back; the oldest waiter, if any, takes it over. */
  release(): void {
    if (this.head < this.waiters.length) {
      const next = this.waiters[this.head]!;
      this.waiters[this.head++] = noop;
      if (this.head > 1024 && this.head * 2 > this.waiters.length) {
        this.waiters = this.waiters.slice(this.head);
        this.head = 0;
      }
      next();
      return;
    }
    if (this.active > 0) this.active--;
  }

  /** Lets every waiter through (the client is closing: their calls will fail fast). */
  releaseAll(): void {
    const waiters = this.waiters.slice(this.head);
    this.waiters = [];
    this.head = 0;
    this.active += waiters.length;
    for (const w of waiters) w();
  }
}

function noop(): void {}
