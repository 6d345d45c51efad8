/**
 * Samples event-loop delay and store commit latency once a second and tells the bus when the
 * process is overloaded (readiness then sheds writes) and when it is not any more. The rule
 * lives in src/domain/overload.ts; either signal raises the overload, and it clears once both
 * are good again.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { OverloadDetector, type LatencyWindow } from '../domain/overload.ts';
import { commitLatency } from '../../actors/commit-pipeline.ts';
import type { EventBus } from '../bus/bus.ts';
import type { MailboxEvents } from '../bus/events.ts';

const WINDOW_MS = 1_000;
const WINDOWS = 3;

/** The bounds (ms), 0 = that check off: `overloadLagMs`, `overloadCommitMs`. */
export interface OverloadBounds {
  lagMs: number;
  commitMs?: number;
}

/** Where the samples come from; tests give their own. */
export interface OverloadSources {
  /** p99 event-loop delay (ms) since the last call. */
  lagP99?: () => number;
  commits?: LatencyWindow;
  windowMs?: number;
}

/**
 * Starts the monitor; returns the function that stops it. `bounds` as a number is the lag
 * bound alone. `onChange` hears the same edges as the bus (the reason, or undefined once
 * cleared), for the runtime's readiness facts.
 */
export function watchOverload(
  bus: EventBus<MailboxEvents>,
  bounds: number | OverloadBounds,
  onChange: (reason: string | undefined) => void = () => {},
  sources: OverloadSources = {},
): () => void {
  const { lagMs, commitMs = 0 } = typeof bounds === 'number' ? { lagMs: bounds } : bounds;
  if (lagMs <= 0 && commitMs <= 0) return () => {};
  let lagP99 = sources.lagP99;
  let disable = (): void => {};
  if (lagMs > 0 && !lagP99) {
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    histogram.enable();
    lagP99 = () => {
      const ms = histogram.percentile(99) / 1e6;
      histogram.reset();
      return ms;
    };
    disable = () => histogram.disable();
  }
  const commits = sources.commits ?? commitLatency;
  if (commitMs > 0) commits.take(); // what piled up before the monitor started is not this window's
  const lag = new OverloadDetector({ thresholdMs: lagMs, windows: WINDOWS });
  const commit = new OverloadDetector({ thresholdMs: commitMs, windows: WINDOWS });
  // What raised each detector, while it stays raised; the bus hears the first one.
  const reasons: { lag?: string; commit?: string } = {};
  let raised: string | undefined;
  const timer = setInterval(() => {
    if (lagMs > 0) {
      const p99 = lagP99!();
      const change = lag.sample(p99);
      if (change === 'raised') reasons.lag = `event-loop delay p99 ${Math.round(p99)} ms > ${lagMs} ms`;
      else if (change === 'cleared') delete reasons.lag;
    }
    if (commitMs > 0) {
      const p99 = commits.take();
      const change = commit.sample(p99);
      if (change === 'raised') reasons.commit = `store commit latency p99 ${Math.round(p99)} ms > ${commitMs} ms`;
      else if (change === 'cleared') delete reasons.commit;
    }
    const reason = reasons.lag ?? reasons.commit;
    if (reason !== undefined && raised === undefined) {
      raised = reason;
      onChange(reason);
      bus.publish('Overloaded', { reason });
    } else if (reason === undefined && raised !== undefined) {
      raised = undefined;
      onChange(undefined);
      bus.publish('OverloadCleared');
    }
  }, sources.windowMs ?? WINDOW_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    disable();
  };
}
