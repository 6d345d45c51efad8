import type { Timeline } from './timeline.ts';

/** What every drill exports: the promise it checks, and a run that says whether it was kept. */
export interface DrillOptions {
  /** Scale knob: how long the fault phase lasts, in ms (each drill picks its default). */
  durationMs?: number;
  /** Messages to push through (each drill picks its default). */
  messages?: number;
  seed?: number;
  /** Run over a store that loads like LevelDB, with tiny windows, so rebuilds page the backlog back in. */
  paged?: boolean;
  log?: (line: string) => void;
  /**
   * The runner's sampler for this drill's report: a drill calls `timeline?.watch(source)` once
   * its mailbox runs (runtimeSource / adminSource in timeline.ts) and `mark('faultStart' |
   * 'faultEnd')` around its fault; a drill that does not gets a report saying "no timeline".
   */
  timeline?: Timeline;
}

export interface DrillResult {
  kept: boolean;
  details: Record<string, number | string>;
}

export interface Drill {
  name: string;
  /** The promise it checks, one sentence. */
  promise: string;
  run(opts: DrillOptions): Promise<DrillResult>;
}
