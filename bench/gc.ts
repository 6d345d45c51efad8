/**
 * Garbage-collection pauses during a run, on both sides: the server's read from its own
 * `/metrics` (prom-client's `nodejs_gc_duration_seconds` histogram, summed over kinds), the
 * client's (this process) watched with perf_hooks. A pause stops the process's one JS thread,
 * so the pauses are where a latency tail goes (bench/README.md, "Where the time and the tail go").
 */
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

export interface GcTotals {
  pauses: number;
  ms: number;
  /** Pauses longer than 1 ms and than 10 ms (the histogram's bucket bounds). */
  over1ms: number;
  over10ms: number;
}

export const NO_GC: GcTotals = Object.freeze({ pauses: 0, ms: 0, over1ms: 0, over10ms: 0 });

/** The GC totals in a Prometheus text exposition; all zero when the histogram is absent. */
export function parseGcHistogram(text: string): GcTotals {
  let pauses = 0;
  let seconds = 0;
  let within1ms = 0;
  let within10ms = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('nodejs_gc_duration_seconds')) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!Number.isFinite(value)) continue;
    if (line.startsWith('nodejs_gc_duration_seconds_count')) pauses += value;
    else if (line.startsWith('nodejs_gc_duration_seconds_sum')) seconds += value;
    else if (line.includes('le="0.001"')) within1ms += value;
    else if (line.includes('le="0.01"')) within10ms += value;
  }
  return { pauses, ms: round(seconds * 1000), over1ms: pauses - within1ms, over10ms: pauses - within10ms };
}

/** What happened between two readings of the same process. */
export function gcDelta(before: GcTotals, after: GcTotals): GcTotals {
  return {
    pauses: after.pauses - before.pauses,
    ms: round(after.ms - before.ms),
    over1ms: after.over1ms - before.over1ms,
    over10ms: after.over10ms - before.over10ms,
  };
}

/** Counts this process's GC pauses from `start()` until `stop()`. */
export class GcMeter {
  private readonly totals: GcTotals = { ...NO_GC };
  private readonly observer = new PerformanceObserver((list) => this.count(list.getEntries()));

  start(): this {
    this.observer.observe({ entryTypes: ['gc'] });
    return this;
  }

  /** Stops watching; the entries still buffered are counted first. */
  stop(): GcTotals {
    this.count(this.observer.takeRecords());
    this.observer.disconnect();
    return { ...this.totals, ms: round(this.totals.ms) };
  }

  private count(entries: readonly PerformanceEntry[]): void {
    const t = this.totals;
    for (const entry of entries) {
      t.pauses++;
      t.ms += entry.duration;
      if (entry.duration > 1) t.over1ms++;
      if (entry.duration > 10) t.over10ms++;
    }
  }
}

/**
 * Watches both sides from now on: `stop()` says what each paused meanwhile. `serverTotals`
 * reads the server's running totals; a server that does not answer is left out, not guessed.
 */
export async function watchGc(serverTotals: () => Promise<GcTotals>): Promise<{ stop(): Promise<{ server?: GcTotals; client: GcTotals }> }> {
  const before = await serverTotals().catch(() => undefined);
  const meter = new GcMeter().start();
  return {
    async stop() {
      const client = meter.stop();
      if (before === undefined) return { client };
      const after = await serverTotals().catch(() => undefined);
      return after === undefined ? { client } : { server: gcDelta(before, after), client };
    },
  };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
