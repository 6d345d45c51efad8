/** What a micro-benchmark file exports: named tasks, optionally measured against a baseline task. */
export interface MicroTask {
  name: string;
  fn: () => unknown;
  /** Name of the task in the same suite this one is compared with (ratio = this / baseline ops/s). */
  baseline?: string;
  /** Operations one call performs (ops/s is reported per operation). */
  opsPerCall?: number;
}

export interface MicroSuite {
  name: string;
  setup?: () => Promise<void>;
  teardown?: () => Promise<void>;
  tasks: MicroTask[];
}
