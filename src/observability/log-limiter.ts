/**
 * A rate limit for repetitive log lines (one per key, e.g. per refusal reason): the first
 * `perWindow` lines of a key in a window are written, the rest only counted, and the count
 * comes out once as a summary (`suppressed n similar`) when the window has passed. So a flood
 * of bad requests costs at most `perWindow + 1` lines per key and window, never a full disk.
 * Pure: the caller passes the time (monotonic ms), so tests drive it with a fake clock.
 */

export interface LogLimiterOptions {
  /** Lines of one key written per window. */
  perWindow: number;
  windowMs: number;
}

/** What to write for one event: the line itself or not, and a summary of the window before. */
export interface Admission {
  log: boolean;
  /** Lines of this key suppressed in the window that just ended (0: no summary to write). */
  suppressed: number;
}

/** A key whose window ended with lines suppressed. */
export interface Suppressed<K> {
  key: K;
  suppressed: number;
}

interface Window {
  start: number;
  logged: number;
  suppressed: number;
}

export class LogLimiter<K = string> {
  private readonly windows = new Map<K, Window>();

  constructor(private readonly options: LogLimiterOptions) {
    if (!(options.perWindow >= 1) || !(options.windowMs > 0)) throw new RangeError('LogLimiter: perWindow ≥ 1 and windowMs > 0');
  }

  /**
   * One event of `key` at `now`; `weight` is how many events it stands for when it is itself
   * a summary (a suppressed one then adds its whole count to this window's).
   */
  admit(key: K, now: number, weight = 1): Admission {
    let w = this.windows.get(key);
    let suppressed = 0;
    if (w !== undefined && now - w.start >= this.options.windowMs) {
      suppressed = w.suppressed;
      w = undefined;
    }
    if (w === undefined) {
      this.windows.set(key, { start: now, logged: 1, suppressed: 0 });
      return { log: true, suppressed };
    }
    if (w.logged < this.options.perWindow) {
      w.logged++;
      return { log: true, suppressed: 0 };
    }
    w.suppressed += weight;
    return { log: false, suppressed: 0 };
  }

  /**
   * Summaries of the windows that have ended by `now` (every window when `now` is omitted,
   * e.g. when the connection closes); those keys start afresh.
   */
  flush(now?: number): Array<Suppressed<K>> {
    const out: Array<Suppressed<K>> = [];
    for (const [key, w] of this.windows) {
      if (now !== undefined && now - w.start < this.options.windowMs) continue;
      if (w.suppressed > 0) out.push({ key, suppressed: w.suppressed });
      this.windows.delete(key);
    }
    return out;
  }
}
