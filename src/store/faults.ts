/**
 * Write-fault injection shared by every store: tests and chaos drills flip a switch and
 * the next commits reject with `E_UNAVAILABLE` before anything is written, or (`commitDelayMs`)
 * complete that much later, as on a slow disk.
 */
import type { StoreOp } from '../domain/types.ts';
import { MailboxError } from '../errors.ts';

/** `full`: the disk is full; `io`: any other write error. */
export type WriteFault = 'full' | 'io';

/** Decides per commit; return a fault to fail that commit. */
export type WriteFaultFn = (ops: readonly StoreOp[]) => WriteFault | false | undefined;

/**
 * The fault switch a store exposes as `store.faults`.
 *
 * @example
 * store.faults.failWrites = 'full';   // every commit now rejects
 * store.faults.failNext(2, 'io');     // only the next two commits reject
 * store.faults.clear();
 */
export class StoreFaults {
  /** Fail every commit with this fault (or as the function decides) until cleared. */
  failWrites: WriteFault | WriteFaultFn | false = false;
  private remaining = 0;
  private nextFault: WriteFault = 'io';
  /** Commits failed by injection so far. */
  injected = 0;
  /** Every commit completes this many ms later than it would (a slow disk); 0: no delay. */
  commitDelayMs = 0;
  /** Commits being delayed now; the memory store's reads wait for them (read-your-commits). */
  pendingCommits = 0;
  private pending: Promise<void> = Promise.resolve();

  /**
   * Runs `commit` `commitDelayMs` after now and after every commit delayed before it, so
   * commits still complete in order; commits issued together complete together (not one
   * delay each in a row).
   */
  delayed<T>(commit: () => Promise<T>): Promise<T> {
    const at = Date.now() + this.commitDelayMs;
    this.pendingCommits++;
    const done = this.pending.then(() => sleepUntil(at)).then(commit).finally(() => this.pendingCommits--);
    this.pending = done.then(noop, noop);
    return done;
  }

  /** Resolves once every commit delayed so far has completed. */
  settled(): Promise<void> {
    return this.pending;
  }

  /** Fail only the next `count` commits. */
  failNext(count: number, fault: WriteFault = 'io'): void {
    this.remaining = count;
    this.nextFault = fault;
  }

  clear(): void {
    this.failWrites = false;
    this.remaining = 0;
  }

  /** The error a commit of `ops` must reject with, if a fault is armed. Consumes `failNext`. */
  check(ops: readonly StoreOp[]): MailboxError | undefined {
    let fault: WriteFault | false | undefined;
    if (this.remaining > 0) {
      this.remaining--;
      fault = this.nextFault;
    } else if (typeof this.failWrites === 'function') {
      fault = this.failWrites(ops);
    } else {
      fault = this.failWrites;
    }
    if (!fault) return undefined;
    this.injected++;
    return faultError(fault);
  }
}

function sleepUntil(at: number): Promise<void> {
  const ms = at - Date.now();
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

function noop(): void {}

export function faultError(fault: WriteFault, cause?: unknown): MailboxError {
  const message = fault === 'full' ? 'storage: disk full' : 'storage: write failed (injected I/O error)';
  return new MailboxError('E_UNAVAILABLE', message, { cause: cause ?? new Error(`injected fault: ${fault}`) });
}
