/**
 * Group commit: callers submit work one at a time; the committer writes everything that
 * queued up as one batch, with at most one batch in flight. Whatever arrives while a batch
 * is being written goes into the next one, so under load the batch size grows by itself
 * and the number of (synced) writes stays low. Each submission settles when the batch
 * holding it did, in submission order.
 */

export interface GroupCommitStats {
  /** Batches written (successful or not). */
  batches: number;
  /** Items (commits) in those batches. */
  items: number;
  /** Items in the most recent batch. */
  lastBatchItems: number;
  /** Largest batch so far. */
  maxBatchItems: number;
  /** Batches that failed. */
  failedBatches: number;
}

interface Pending<T> {
  item: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class GroupCommitter<T> {
  private queue: Array<Pending<T>> = [];
  private busy = false;
  /** Settles after the latest submission settled. */
  private tail: Promise<void> = Promise.resolve();
  private readonly counters: GroupCommitStats = { batches: 0, items: 0, lastBatchItems: 0, maxBatchItems: 0, failedBatches: 0 };

  /**
   * @param write writes all items as one atomic batch; its rejection fails every item.
   * @param mapError turns a write failure into what each submitter sees.
   * @param limit caps one batch at `max` total `weigh(item)` (at least one item per batch):
   *   a huge LevelDB batch stalls on memtable flushes, so a burst is better written as
   *   several back-to-back batches.
   */
  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    private readonly mapError: (err: unknown) => unknown = (err) => err,
    private readonly limit: { max: number; weigh: (item: T) => number } = { max: Infinity, weigh: () => 1 },
  ) {}

  submit(item: T): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.busy) {
        this.busy = true;
        // The first batch after a quiet spell waits for the rest of this event-loop turn,
        // so commits made by every frame read in the same I/O phase share one write.
        setImmediate(() => void this.drain());
      }
    });
    this.tail = done.then(noop, noop);
    return done;
  }

  /**
   * Settles (never rejects) once everything submitted before the call has been written or
   * has failed; later submissions do not hold it up.
   */
  flushed(): Promise<void> {
    return this.tail;
  }

  get pending(): number {
    return this.queue.length;
  }

  stats(): GroupCommitStats {
    return { ...this.counters };
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.take();
      this.counters.batches++;
      this.counters.items += batch.length;
      this.counters.lastBatchItems = batch.length;
      if (batch.length > this.counters.maxBatchItems) this.counters.maxBatchItems = batch.length;
      let failure: { err: unknown } | undefined;
      try {
        await this.write(batch.map((p) => p.item));
      } catch (err) {
        failure = { err: this.mapError(err) };
        this.counters.failedBatches++;
      }
      for (const p of batch) {
        if (failure === undefined) p.resolve();
        else p.reject(failure.err);
      }
    }
    this.busy = false;
  }

  private take(): Array<Pending<T>> {
    const { max, weigh } = this.limit;
    let weight = 0;
    let n = 0;
    while (n < this.queue.length) {
      weight += weigh(this.queue[n]!.item);
      if (n > 0 && weight > max) break;
      n++;
    }
    if (n === this.queue.length) {
      const all = this.queue;
      this.queue = [];
      return all;
    }
    return this.queue.splice(0, n);
  }
}

function noop(): void {}
