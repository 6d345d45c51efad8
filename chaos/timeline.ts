/**
 * A drill's timeline: every ~250 ms, the cumulative counters and the readiness state of the
 * mailbox under test, read from one of two sources — an in-process runtime (its metrics
 * registry and readiness()) or a real server's admin port (/metrics and /readyz). The report
 * (chaos/report.ts) turns the counters into rates and draws them.
 */
import type { MailboxRuntime } from '../src/runtime/mailbox.ts';
import type { Ledger } from './ledger.ts';

export interface TimelineSample {
  /** Ms since the drill started. */
  t: number;
  /** Messages accepted / acknowledged so far, as the drill's ledger saw them. */
  accepted?: number;
  acked?: number;
  /** requests_total by method (admin source only: in process nothing goes through a socket). */
  requests?: Record<string, number>;
  /** requeued_total, all queues and reasons. */
  requeued: number;
  /** rejected_total by reason. */
  rejected: Record<string, number>;
  /** The readiness state (`ready`, `degraded`, `draining`, …), or `down` when the admin port did not answer. */
  readiness: string;
}

export interface RecordedTimeline {
  source: 'runtime' | 'admin' | 'none';
  intervalMs: number;
  samples: TimelineSample[];
  /** The fault window, in ms since the drill started, when the drill marked it. */
  faultStartMs?: number;
  faultEndMs?: number;
}

/** Where samples come from: `sample()` reads the counters and state once. */
export interface TimelineSource {
  kind: 'runtime' | 'admin';
  sample(): Promise<Omit<TimelineSample, 't'>>;
}

/** The ledger's counts, when the drill keeps one (the only place in-process throughput is seen). */
function ledgerCounts(ledger: Ledger | undefined): { accepted?: number; acked?: number } {
  return ledger ? { accepted: ledger.byKey.size, acked: ledger.acked.size } : {};
}

/** An in-process mailbox: its own metrics registry and readiness gate. */
export function runtimeSource(mb: MailboxRuntime, ledger?: Ledger): TimelineSource {
  const h = mb.metrics.handles;
  return {
    kind: 'runtime',
    async sample() {
      const [requeued, rejected] = await Promise.all([h.requeuedTotal.get(), h.rejectedTotal.get()]);
      const byReason: Record<string, number> = {};
      for (const v of rejected.values) {
        const reason = String(v.labels.reason ?? 'other');
        byReason[reason] = (byReason[reason] ?? 0) + v.value;
      }
      return {
        ...ledgerCounts(ledger),
        requeued: requeued.values.reduce((n, v) => n + v.value, 0),
        rejected: byReason,
        readiness: mb.readiness().state,
      };
    },
  };
}

/** Sums of one metric family of Prometheus text, grouped by one label (`''` when it has none). */
export function seriesBy(text: string, name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  const re = new RegExp(`[{,]${label}="((?:[^"\\\\]|\\\\.)*)"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!Number.isFinite(value)) continue;
    const key = re.exec(line)?.[1] ?? '';
    out.set(key, (out.get(key) ?? 0) + value);
  }
  return out;
}

/**
 * A real server's admin port. While it does not answer (killed, restarting) the sample says
 * `down` and repeats the last counters: the server did nothing meanwhile. A restarted server's
 * counters start at 0 again; the report reads a drop as a reset, as Prometheus' rate() does.
 */
export function adminSource(adminUrl: string, ledger?: Ledger): TimelineSource {
  let last: Pick<TimelineSample, 'requests' | 'requeued' | 'rejected'> = { requests: {}, requeued: 0, rejected: {} };
  const get = (path: string): Promise<Response> => fetch(`${adminUrl}${path}`, { signal: AbortSignal.timeout(1_000) });
  return {
    kind: 'admin',
    async sample() {
      const [metrics, ready] = await Promise.all([
        // An unread body would hold its connection: read it or cancel it.
        get('/metrics').then((r) => (r.ok ? r.text() : r.body?.cancel().then(() => undefined)), () => undefined),
        get('/readyz').then((r) => r.json() as Promise<{ state?: unknown }>, () => undefined),
      ]);
      if (metrics !== undefined) {
        last = {
          requests: Object.fromEntries(seriesBy(metrics, 'requests_total', 'method')),
          requeued: [...seriesBy(metrics, 'requeued_total', 'reason').values()].reduce((a, b) => a + b, 0),
          rejected: Object.fromEntries(seriesBy(metrics, 'rejected_total', 'reason')),
        };
      }
      const state = typeof ready?.state === 'string' ? ready.state : 'down';
      return { ...ledgerCounts(ledger), ...last, readiness: metrics === undefined ? 'down' : state };
    },
  };
}

/**
 * The sampler a drill is handed (DrillOptions.timeline): `watch(source)` starts sampling (a
 * second call switches source), `mark()` notes the fault window, the runner calls `stop()`.
 */
export class Timeline {
  private readonly t0 = performance.now();
  private readonly samples: TimelineSample[] = [];
  private source: TimelineSource | undefined;
  private kind: TimelineSource['kind'] | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pending: Promise<void> | undefined;
  private faultStartMs: number | undefined;
  private faultEndMs: number | undefined;

  constructor(readonly intervalMs = 250) {}

  /** Ms since the timeline was made (the drill's start). */
  now(): number {
    return Math.round(performance.now() - this.t0);
  }

  watch(source: TimelineSource): void {
    this.source = source;
    this.tick();
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** The fault window: the first `faultStart` and the last `faultEnd` count. Takes a sample there too (a short fault can fall between two ticks). */
  mark(what: 'faultStart' | 'faultEnd'): void {
    if (what === 'faultStart') this.faultStartMs ??= this.now();
    else this.faultEndMs = this.now();
    this.tick();
  }

  /** Stops sampling, after the sample in flight. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.pending;
    this.source = undefined;
  }

  toJSON(): RecordedTimeline {
    return {
      source: this.samples.length > 0 ? this.kind ?? 'runtime' : 'none',
      intervalMs: this.intervalMs,
      samples: [...this.samples],
      ...(this.faultStartMs === undefined ? {} : { faultStartMs: this.faultStartMs }),
      ...(this.faultEndMs === undefined ? {} : { faultEndMs: this.faultEndMs }),
    };
  }

  /** One sample unless the last is still in flight (a slow admin port must not pile up requests). */
  private tick(): void {
    const source = this.source;
    if (source === undefined || this.pending !== undefined) return;
    this.kind = source.kind;
    const started = performance.now();
    this.pending = source.sample().then(
      (s) => {
        // A sample stands for the middle of its reads.
        if (this.source === source) this.samples.push({ t: Math.round((started + performance.now()) / 2 - this.t0), ...s });
      },
      () => {}, // a runtime being stopped can fail a read: skip that sample
    ).finally(() => {
      this.pending = undefined;
    });
  }
}
