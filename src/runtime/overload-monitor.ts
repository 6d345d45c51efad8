/**
 * Samples event-loop delay once a second and tells the bus when the process is overloaded
 * (readiness then sheds writes) and when it is not any more. The rule lives in
 * src/domain/overload.ts.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { OverloadDetector } from '../domain/overload.ts';
import type { EventBus } from '../bus/bus.ts';
import type { MailboxEvents } from '../bus/events.ts';

const WINDOW_MS = 1_000;
const WINDOWS = 3;

/**
 * Starts the monitor; returns the function that stops it. `onChange` hears the same edges as the
 * bus (the reason, or undefined once cleared), for the runtime's readiness facts.
 */
export function watchOverload(bus: EventBus<MailboxEvents>, thresholdMs: number, onChange: (reason: string | undefined) => void = () => {}): () => void {
  if (thresholdMs <= 0) return () => {};
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  const detector = new OverloadDetector({ thresholdMs, windows: WINDOWS });
  const timer = setInterval(() => {
    const p99Ms = histogram.percentile(99) / 1e6;
    histogram.reset();
    const change = detector.sample(p99Ms);
    if (change === 'raised') {
      const reason = `event-loop delay p99 ${Math.round(p99Ms)} ms > ${thresholdMs} ms`;
      onChange(reason);
      bus.publish('Overloaded', { reason });
    } else if (change === 'cleared') {
      onChange(undefined);
      bus.publish('OverloadCleared');
    }
  }, WINDOW_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    histogram.disable();
  };
}
