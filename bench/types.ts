/** The shapes a bench run is configured with and reports. */
import type { GcTotals } from './gc.ts';
import type { CpuSplit, Percentiles } from './lib.ts';

/** `fair`: workload B of a calm tenant with and without a hot tenant at 10× its quota (bench/fair.ts). */
export type Workload = 'A' | 'B' | 'fanout' | 'fair';
/**
 * `redis`: the redis store in owned mode (one instance per prefix); `redis-shared`: shared mode
 * (`redis.shared`), one instance; `redis-shared-3`: shared mode, three server processes on one prefix.
 */
export type StoreVariant = 'amnesia' | 'level+sync' | 'level+relaxed' | 'redis' | 'redis-shared' | 'redis-shared-3';

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
  /** Also run workload A on the floor (bench/floor): on with --peers or --floor. */
  floor: boolean;
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
  /** Fair: the hot tenant's SEND quota (messages/s, burst 1 s) and how many times that it tries. */
  fairQuota: number;
  fairFactor: number;
  json?: string;
  quick: boolean;
  /** Directory for the server's `--cpu-prof` output. */
  serverCpuProf?: string;
  /** `--server-heap-prof DIR`: a sampling heap profile of the server's allocations (bench/heap-sampling-hook.mjs). */
  serverHeapProf?: string;
  /** MAILBOX_* settings for the svc-mailbox server under test (`--server-env`). */
  serverEnv?: Record<string, string>;
  /** Skip the mailbox (peers only). */
  skipMailbox: boolean;
  report: boolean;
  /** Hard stop for one run (seconds); in the figures mode, the longest a fill may go without progress. */
  timeoutS: number;
  /** `--figures durable`: also measure the durable store's RAM per queued message and restart time. */
  figures?: FiguresOptions;
}

export interface FiguresOptions {
  kind: 'durable';
  /** Messages queued while RSS is sampled (at 0, ¼, ½, ¾ and all of them). */
  messages: number;
  /** Messages on disk when the server is killed with SIGKILL and started again. */
  restartMessages: number;
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
  /**
   * svc-mailbox on the redis store, over the timed part: Redis commands per message (INFO
   * total_commands_processed, the commands inside scripts included) and script calls per
   * message (the store's round trips: one per commit). The Redis is shared: others' count too.
   */
  redis?: {
    commandsPerMsg: number;
    roundTripsPerMsg: number;
    /** µs per message Redis spent running the scripts (commandstats `usec` of EVALSHA/EVAL). */
    scriptUsPerMsg?: number;
    /** redis-server's own CPU seconds over the timed part (included in `cpu.serverCpuS`), when it runs here. */
    serverCpuS?: number;
  };
  /** GC pauses during the timed part: the server's (from its /metrics) and the bench client's. */
  gc?: { server?: GcTotals; client: GcTotals };
  msgsPerSec?: number;
  producerConfirmedPerSec?: number;
  latencyMs?: Percentiles;
  /** Fair: one pair of calm-tenant runs, without and with the hot tenant. */
  fair?: FairPair;
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

/** What the hot tenant did during one half (the calm tenant's timed part). */
export interface HotLoad {
  /** Its SEND quota and the rate its producer tried (messages/s). */
  quotaPerSecond: number;
  triedPerSecond: number;
  /** SENDs issued, confirmed, refused with E_SATURATED, and skipped because its in-flight cap was full, per second of producing. */
  offeredPerSec: number;
  admittedPerSec: number;
  refusedPerSec: number;
  skippedPerSec: number;
  refused: number;
  admitted: number;
  /** Refusals other than E_SATURATED (should be 0). */
  otherErrors: number;
  firstError?: string;
  /** Admitted messages its consumer received (all of them, once the child drained). */
  received: number;
  producingSeconds: number;
  /** From its first send to its last answer (admitted SENDs of a held-off connection come in until then). */
  answeredSeconds: number;
  /** CPU seconds of the hot child process during the calm tenant's timed part. */
  cpuS?: number;
}

/** One half of a fair pair: workload B of the calm tenant. */
export interface FairHalf {
  latencyMs?: Percentiles;
  seconds?: number;
  /** Server CPU (and the calm client's) during the calm tenant's timed part. */
  cpu?: CpuSplit;
  gc?: { server?: GcTotals; client: GcTotals };
  missing?: number;
  duplicates?: number;
  error?: string;
  /** Only in the half with the hot tenant. */
  hot?: HotLoad;
}

export interface FairPair {
  calmTenant: string;
  hotTenant: string;
  /** Which half ran first (alternated pair by pair, so drift does not favour one side). */
  order: 'without-first' | 'with-first';
  without: FairHalf;
  with: FairHalf;
  /** Calm p99 with the hot tenant / without it. */
  p99Ratio?: number;
}

export interface BenchReport {
  at: string;
  node: string;
  host: { cpus: number; model: string; kernel: string };
  options: BenchOptions;
  results: RunResult[];
  /** `--figures durable` only. */
  durableFigures?: DurableFigures;
}

/** One RSS sample of the server, taken after a full GC. */
export interface RssPoint {
  /** Messages queued (sent, confirmed, not received) when the sample was taken. */
  messages: number;
  /** VmRSS from /proc/<pid>/status, and its anonymous and file-backed parts (RssAnon, RssFile). */
  rssMiB: number;
  rssAnonMiB: number;
  rssFileMiB: number;
  heapUsedMiB: number;
  /** V8 heap committed (used plus the free space V8 keeps). */
  heapTotalMiB: number;
  /** process.memoryUsage().arrayBuffers: payloads, frames and the idempotency filters. */
  arrayBuffersMiB: number;
}

/** The durable store's figures: RAM per queued message and time to ready after kill -9. */
export interface DurableFigures {
  /** Store and durability the fills ran with (relaxed fills faster; RAM and rebuild are the same). */
  variant: StoreVariant;
  payload: number;
  topics: number;
  producers: number;
  /** Configuration the figures' servers get on top of the defaults. */
  serverEnv: Record<string, string>;
  rss: {
    messages: number;
    /** Sent, received and acked before the first sample, so one-time costs stay out of the slope. */
    warmUpMessages: number;
    /** The fresh server, before the warm-up (not part of the slope). */
    beforeWarmUp?: RssPoint;
    /** At 0, N/4, N/2, 3N/4 and N queued, the first one after the warm-up. */
    points: RssPoint[];
    /** Least-squares slope of VmRSS over queued messages. */
    bytesPerMessage?: number;
    /** (RSS at N − RSS at N/2) / (N/2): the slope once one-time growth (buffers, caches) is behind. */
    lastHalfBytesPerMessage?: number;
    heapBytesPerMessage?: number;
    /** First point + slope × 5,000,000 (the measured value when messages = 5,000,000). */
    projectedMiBAt5M?: number;
    fillSeconds?: number;
    fillPerSec?: number;
    error?: string;
  };
  restart: {
    messages: number;
    /** Spawn → /readyz 200 after kill -9 of a server with an empty store, each try. */
    emptyReadyMs: number[];
    /** Spawn → /readyz 200 after kill -9 with `messages` on disk. */
    readyMs?: number;
    /** Ready messages the restarted server reports (should equal `messages`). */
    readyAfter?: number;
    rssAfterMiB?: number;
    fillSeconds?: number;
    error?: string;
  };
}

/** One system+variant driver: runs one workload once. */
export type Driver = (workload: 'A' | 'B', run: number, opts: BenchOptions, progress: (done: number, total: number) => void) => Promise<RunResult>;
