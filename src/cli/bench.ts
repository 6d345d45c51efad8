/**
 * `mailbox bench [options]`: load runs against a real svc-mailbox server (and, with
 * --peers, against NATS JetStream, Redis Streams and RabbitMQ on this machine), the ratio
 * table, a JSON file and an HTML report. `--micro` runs the tinybench micro-benchmarks,
 * `--report FILE` only renders the HTML report of an earlier results file; `--figures durable`
 * adds the durable store's RAM-per-message and restart-after-kill-9 figures.
 * The harness itself lives in bench/ (see bench/README.md).
 */
import { parseCommand, usageError, type CommandSpec, type Values } from './args.ts';
import type { BenchOptions, FiguresOptions, StoreVariant, Workload } from '../../bench/types.ts';

const DETAILS = `options:
  --payload 1024        message bytes                     --count 100000     workload A messages
  --duration S          workload A by time instead        --runs 3           runs per system and workload
  --producers 1         --consumers 1   --topics 1        --prefetch 1000    --window 1000
  --store amnesia,level store variants (amnesia | level | level+relaxed | redis | redis-shared |
                        redis-shared-3 | all); redis: the redis store on REDIS_URL (default
                        127.0.0.1:6379), its server CPU counting redis-server's too; redis-shared:
                        its shared mode (redis.shared), one instance; redis-shared-3: three
                        instances on one prefix, producers on the 1st, consumers on the 2nd and 3rd
  --durability sync     durability of "level" (sync | relaxed)
  --workload all        A | B | fanout | fair | both (A,B) | all (A,B,fanout), or a list (all,fair)
  --rate 2000 --seconds 10 --warmup-seconds 2             workload B pacing
  --fair-quota 1000 --fair-factor 10                      fair: the hot tenant's SEND quota (msgs/s,
                        burst 1 s) and how many times it tries; the calm tenant runs workload B
                        with and without it on one server, one pair per run (fair is not in all)
  --fanout-topics 10000 --fanout-reps 20 --fanout-payload 64
  --peers               also run NATS JetStream, Redis Streams, RabbitMQ
  --only-peers LIST     nats,redis,redis-always,rabbitmq-classic,rabbitmq-quorum (implies --peers)
  --no-mailbox          peers only
  --floor               also run workload A on the floor, the least possible Node.js broker
                        (bench/floor; on with --peers)
  --json FILE           results file (default bench/results/<stamp>.json)
  --quick               small N for a smoke run
  --server-cpu-prof DIR pass --cpu-prof to the server child (one .cpuprofile per server)
  --server-heap-prof DIR sampling heap profile of everything the server allocates, freed objects
                        included (one <pid>.heapprofile per server; bench/heap-summary.ts reads it)
  --timeout 120         seconds one run may take (figures: a fill without a confirmed SEND)
  --no-report           do not write bench/report/index.html
  --report FILE         only render the HTML report of FILE
  --micro               tinybench micro-benchmarks (bench/micro)
  --server-env K=V,…    MAILBOX_* settings for the svc-mailbox server (e.g. MAILBOX_QUEUE__READY_WINDOW=1024)
  --figures durable     the durable store's figures: send+recv+ack msgs/s (workload A on
                        level+sync, so --store defaults to level and --workload to A), RSS per
                        queued message, spawn → /readyz 200 after kill -9
  --figures-messages 5000000          messages queued while RSS is sampled (0, ¼, ½, ¾, all)
  --figures-restart-messages 1000000  messages on disk at the kill -9 restart
`;

const STRINGS = [
  'payload', 'count', 'duration', 'runs', 'producers', 'consumers', 'topics', 'prefetch', 'window', 'store', 'durability',
  'workload', 'rate', 'seconds', 'warmup-seconds', 'fanout-topics', 'fanout-reps', 'fanout-payload', 'fair-quota', 'fair-factor', 'only-peers', 'json',
  'server-cpu-prof', 'server-heap-prof', 'timeout', 'report', 'server-env', 'figures', 'figures-messages', 'figures-restart-messages',
] as const;
const BOOLEANS = ['peers', 'floor', 'quick', 'micro', 'no-mailbox', 'no-report'] as const;

type BenchOptionSpecs = Record<(typeof STRINGS)[number], { type: 'string' }> & Record<(typeof BOOLEANS)[number], { type: 'boolean' }>;

const BENCH: CommandSpec<BenchOptionSpecs> = {
  command: 'bench',
  usage: 'usage: mailbox bench [options] (mailbox bench --help lists them)',
  details: DETAILS,
  options: Object.fromEntries([
    ...STRINGS.map((k) => [k, { type: 'string' }] as const),
    ...BOOLEANS.map((k) => [k, { type: 'boolean' }] as const),
  ]) as BenchOptionSpecs,
};

type BenchArgs = Values<BenchOptionSpecs>;
type StringKey = (typeof STRINGS)[number];

function fail(message: string): never {
  throw usageError(BENCH, message);
}

function num(args: BenchArgs, key: StringKey, dflt: number): number {
  const v = args[key];
  if (v === undefined) return dflt;
  const n = Number(v.replaceAll('_', ''));
  if (!Number.isFinite(n) || n <= 0) fail(`--${key} must be a positive number, got ${JSON.stringify(v)}`);
  return n;
}

function count(args: BenchArgs, key: StringKey, dflt: number): number {
  const n = num(args, key, dflt);
  if (!Number.isSafeInteger(n)) fail(`--${key} must be a whole number, got ${n}`);
  return n;
}

function stores(args: BenchArgs, dflt: string): StoreVariant[] {
  const durability = args['durability'] ?? 'sync';
  if (durability !== 'sync' && durability !== 'relaxed') fail('--durability must be sync or relaxed');
  const raw = args['store'] ?? dflt;
  const names = raw === 'all' ? ['amnesia', 'level+sync', 'level+relaxed'] : raw.split(',').map((s) => s.trim()).filter(Boolean);
  return names.map((s): StoreVariant => {
    if (s === 'amnesia') return 'amnesia';
    if (s === 'level') return durability === 'sync' ? 'level+sync' : 'level+relaxed';
    if (s === 'level+sync' || s === 'level+relaxed' || s === 'redis' || s === 'redis-shared' || s === 'redis-shared-3') return s;
    fail(`--store: unknown store ${JSON.stringify(s)} (amnesia | level | level+relaxed | redis | redis-shared | redis-shared-3 | all)`);
  });
}

function workloads(args: BenchArgs, dflt: string): Workload[] {
  const w = (args['workload'] ?? dflt).toLowerCase();
  // fair is not in all: its pairs take ~30 s each and it needs a server of its own.
  const map: Record<string, Workload[]> = { a: ['A'], b: ['B'], fanout: ['fanout'], fair: ['fair'], both: ['A', 'B'], all: ['A', 'B', 'fanout'] };
  const out = w.split(',').flatMap((part) => {
    const v = map[part.trim()];
    if (!v) fail(`--workload: ${JSON.stringify(part)} is not A, B, fanout, fair, both or all`);
    return v;
  });
  return [...new Set(out)];
}

function figures(args: BenchArgs, quick: boolean): FiguresOptions | undefined {
  const kind = args['figures'];
  if (kind === undefined) {
    for (const k of ['figures-messages', 'figures-restart-messages'] as const) if (args[k] !== undefined) fail(`--${k} needs --figures durable`);
    return undefined;
  }
  if (kind !== 'durable') fail(`--figures: ${JSON.stringify(kind)} is not durable`);
  const messages = count(args, 'figures-messages', quick ? 20_000 : 5_000_000);
  if (messages < 4) fail('--figures-messages must be at least 4 (RSS is sampled at every quarter)');
  return { kind, messages, restartMessages: count(args, 'figures-restart-messages', quick ? 20_000 : 1_000_000) };
}

/** The run's options from argv; undefined after --help. A bad flag or value is a usage error (exit 2). */
export function benchOptions(argv: readonly string[]): BenchOptions | undefined {
  const parsed = parseCommand(BENCH, argv);
  if (!parsed) return undefined;
  return optionsFrom(parsed.values);
}

function optionsFrom(args: BenchArgs): BenchOptions {
  const quick = args['quick'] === true;
  const figuresOpts = figures(args, quick);
  const onlyPeers = args['only-peers'];
  const duration = args['duration'];
  const opts: BenchOptions = {
    payload: num(args, 'payload', 1024),
    count: num(args, 'count', quick ? 5_000 : 100_000),
    producers: num(args, 'producers', 1),
    consumers: num(args, 'consumers', 1),
    topics: num(args, 'topics', 1),
    prefetch: num(args, 'prefetch', 1000),
    window: num(args, 'window', 1000),
    // The figures' throughput row is workload A on the durable store.
    stores: stores(args, figuresOpts ? 'level' : 'amnesia,level'),
    workloads: workloads(args, figuresOpts ? 'A' : 'all'),
    runs: num(args, 'runs', quick ? 1 : 3),
    peers: args['peers'] === true || onlyPeers !== undefined,
    floor: args['floor'] === true || args['peers'] === true || onlyPeers !== undefined,
    rate: num(args, 'rate', 2000),
    seconds: num(args, 'seconds', quick ? 2 : 10),
    warmupSeconds: num(args, 'warmup-seconds', quick ? 0 : 2),
    fanoutTopics: num(args, 'fanout-topics', quick ? 1_000 : 10_000),
    fanoutReps: num(args, 'fanout-reps', quick ? 3 : 20),
    fanoutPayload: num(args, 'fanout-payload', 64),
    fairQuota: num(args, 'fair-quota', 1000),
    fairFactor: num(args, 'fair-factor', 10),
    quick,
    skipMailbox: args['no-mailbox'] === true,
    report: args['no-report'] !== true,
    timeoutS: num(args, 'timeout', 120),
  };
  if (opts.payload < 16) fail('--payload must be at least 16 bytes (id + timestamp)');
  if (duration !== undefined) opts.durationS = num(args, 'duration', 10);
  if (onlyPeers !== undefined) opts.peerFilter = onlyPeers.split(',').map((s) => s.trim()).filter(Boolean);
  const json = args['json'];
  if (json) opts.json = json;
  const prof = args['server-cpu-prof'];
  if (prof) opts.serverCpuProf = prof;
  const heapProf = args['server-heap-prof'];
  if (heapProf) opts.serverHeapProf = heapProf;
  const serverEnv = args['server-env'];
  if (serverEnv) opts.serverEnv = parseServerEnv(serverEnv);
  if (figuresOpts) opts.figures = figuresOpts;
  return opts;
}

/** `--server-env K=V,K=V`: settings for the svc-mailbox server under test (MAILBOX_* variables). */
function parseServerEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq < 1 || !pair.startsWith('MAILBOX_')) fail(`--server-env: expected MAILBOX_NAME=value, got ${JSON.stringify(pair)}`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

export async function bench(argv: readonly string[]): Promise<void> {
  const parsed = parseCommand(BENCH, argv);
  if (!parsed) return;
  const args = parsed.values;
  if (args['micro'] === true) {
    await (await import('../../bench/micro/run.ts')).runMicro();
    return;
  }
  const reportOf = args['report'];
  if (reportOf !== undefined) {
    const { writeReportFrom } = await import('../../bench/report.ts');
    process.stdout.write(`report: ${await writeReportFrom(reportOf)}\n`);
    return;
  }
  const { runBench } = await import('../../bench/runner.ts');
  const ok = await runBench(optionsFrom(args));
  if (!ok) process.exitCode = 1;
}
