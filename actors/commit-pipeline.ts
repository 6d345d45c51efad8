/**
 * A shard's group commit: the store ops of every step go into the batch now filling; one
 * batch is in flight at a time and whatever arrives meanwhile waits for the next. Callers are
 * answered once the batch holding their step is durable — even a step that wrote nothing
 * waits for the batch open when it ran, so a reply never overtakes an earlier write.
 */
import type { MailboxError } from '../src/errors.ts';
import type { StoreOp } from '../src/domain/types.ts';
import { LatencyWindow } from '../src/domain/overload.ts';

/**
 * Every shard's batch latency, write to durable (or refused), in this process: the overload
 * monitor reads its p99 once a second against `overloadCommitMs`, so a slow disk sheds writes.
 */
export const commitLatency = new LatencyWindow();

interface Batch {
  id: number;
  ops: StoreOp[];
  done: Array<() => void>;
  failed: Array<(error: MailboxError) => void>;
}

export class CommitPipeline {
  private seq = 0;
  private open: Batch = this.newBatch();
  private inflight: Batch | undefined;

  constructor(
    private readonly commit: (ops: StoreOp[]) => Promise<void>,
    /** Told (as an actor event, so the shard handles it in its own turn) how the batch ended. */
    private readonly settled: (batch: number, error?: unknown) => void,
    private readonly latency: LatencyWindow = commitLatency,
  ) {}

  /** The ops of the batch now filling: domain steps append here. */
  get ops(): StoreOp[] {
    return this.open.ops;
  }

  /** A batch is being written. */
  get busy(): boolean {
    return this.inflight !== undefined;
  }

  /** Nothing waits for the store: no batch in flight and none filling. */
  idle(): boolean {
    return this.inflight === undefined && this.open.ops.length === 0 && this.open.done.length === 0;
  }

  /** Runs `done` once the batch now filling is durable (at once when nothing is pending). */
  whenDurable(done: () => void, fail?: (error: MailboxError) => void): void {
    if (!this.inflight && this.open.ops.length === 0) return done();
    this.open.done.push(done);
    if (fail) this.open.failed.push(fail);
  }

  /** Starts writing the filling batch unless one is in flight. */
  flush(): void {
    if (this.inflight || (this.open.ops.length === 0 && this.open.done.length === 0)) return;
    const batch = this.open;
    this.open = this.newBatch();
    if (batch.ops.length === 0) {
      for (const done of batch.done) done();
      return;
    }
    this.inflight = batch;
    const t0 = performance.now();
    this.commit(batch.ops).then(
      () => {
        this.latency.record(performance.now() - t0);
        this.settled(batch.id);
      },
      (error: unknown) => {
        this.latency.record(performance.now() - t0);
        this.settled(batch.id, error ?? new Error('commit failed'));
      },
    );
  }

  /** The batch `id` is durable: answer its callers. False when it is not the batch in flight. */
  committed(id: number): boolean {
    const batch = this.inflight;
    if (!batch || batch.id !== id) return false;
    this.inflight = undefined;
    for (const done of batch.done) done();
    return true;
  }

  /**
   * The store refused batch `id`: every caller of it and of the batch filling behind it gets
   * `refusal` (their steps live only in memory, which the shard now rebuilds). Returns how many
   * were refused, or undefined when `id` is not the batch in flight.
   */
  failed(id: number, refusal: MailboxError): number | undefined {
    if (this.inflight?.id !== id) return undefined;
    let refused = 0;
    for (const batch of [this.inflight, this.open]) for (const fail of batch.failed) (fail(refusal), refused++);
    this.inflight = undefined;
    this.open = this.newBatch();
    return refused;
  }

  private newBatch(): Batch {
    return { id: ++this.seq, ops: [], done: [], failed: [] };
  }
}
