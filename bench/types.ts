/** The shapes a bench run is configured with and reports. */
import type { CpuSplit, Percentiles } from './lib.ts';

export type Workload = 'A' | 'B' | 'fanout';
export type StoreVariant = 'amnesia' | 'level+sync' | 'level+relaxed';

export interface BenchOptions {
  /** Payload bytes (whole message body). */
  payload: number;
  /** Workload A message count (ignored when `durationS` is set). */
  count: number;
  /** Workload A by time instead of count: the producer stops after this many seconds. */
  durationS?: number;
  producers: number;
  consumers: number;
  topics: number;
  /** Per-subscription credit window. */
  prefetch: number;
  /** Most unconfirmed sends per producer. */
  window: number;
  /** svc-mailbox store variants to run, in order. */
  stores: StoreVariant[];
  workloads: Workload[];
  runs: number;
  peers: boolean;
  /** Only these peers (nats, redis, redis-always, rabbitmq-classic, rabbitmq-quorum). */
  peerFilter?: string[];
  /** Workload B rate and length. */
  rate: number;
  seconds: number;
  /**
   * B: seconds sent at the same rate before the measured `seconds`, whose latencies are not
   * recorded (every system gets it; Node servers JIT-compile their hot path in the first second).
   */
  warmupSeconds: number;
  /** Fan-out: distinct topics per round, rounds, payload bytes. */
  fanoutTopics: number;
  fanoutReps: number;
  fanoutPayload: number;
  json?: string;
  quick: boolean;
  /** Directory for the server's `--cpu-prof` output. */
  serverCpuProf?: string;
  /** Skip the mailbox (peers only). */
  skipMailbox: boolean;
  report: boolean;
  /** Hard stop for one run (seconds). */
  timeoutS: number;
}

export interface RunResult {
  system: string;
  variant: string;
  workload: Workload;
  run: number;
  n: number;
  size: number;
  window?: number;
  seconds?: number;
  cpu?: CpuSplit;
  msgsPerSec?: number;
  producerConfirmedPerSec?: number;
  latencyMs?: Percentiles;
  /** Fan-out: wall ms per round (send N topics → all confirmed). */
  fanoutMs?: Percentiles;
  sendSeconds?: number;
  delivered?: number;
  unique?: number;
  duplicates?: number;
  missing?: number;
  pubErrors?: number;
  /** Whatever the server says is left after the run (all zero = clean). */
  serverAfter?: Record<string, number>;
  /** Extra facts (batch counts, server version). */
  info?: Record<string, unknown>;
  /** The run failed; numbers above are partial or absent. */
  error?: string;
}

export interface BenchReport {
  at: string;
  node: string;
  host: { cpus: number; model: string; kernel: string };
  options: BenchOptions;
  results: RunResult[];
}

/** One system+variant driver: runs one workload once. */
export type Driver = (workload: 'A' | 'B', run: number, opts: BenchOptions, progress: (done: number, total: number) => void) => Promise<RunResult>;
