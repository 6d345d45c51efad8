/**
 * The tables `mailbox bench` prints: per system/variant (as peers-bench summarize.mjs: median
 * of the runs with min–max, CPU client / server, checks), then the ratio table that sets
 * svc-mailbox beside the peer of the same durability class, each target marked met or not.
 */
import { spread, type Spread } from './lib.ts';
import type { BenchReport, DurableFigures, RunResult } from './types.ts';

/** What is wrong with a run (empty = every id arrived, nothing left on the server). */
export function problems(r: RunResult): string[] {
  const out: string[] = [];
  if (r.error) out.push(`error: ${r.error.split('\n')[0]}`);
  if (r.missing) out.push(`missing=${r.missing}`);
  if (r.workload !== 'fanout' && r.serverAfter) {
    const left = Object.entries(r.serverAfter).filter(([, v]) => v !== 0);
    if (left.length) out.push(`left on server: ${left.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  }
  return out;
}

/** What is wrong with the durable figures (empty = both measured, every message back after kill -9). */
export function figuresProblems(f: DurableFigures): string[] {
  return [
    ...(f.rss.error ? [`RSS: ${f.rss.error.split('\n')[0]}`] : []),
    ...(f.restart.error ? [`restart: ${f.restart.error.split('\n')[0]}`] : []),
  ];
}

const fmtInt = (x: number): string => Math.round(x).toLocaleString('en-US');
const fmtMs = (x: number): string => (x < 10 ? x.toFixed(2) : x.toFixed(1));
const fmtCpu = (x: number): string => x.toFixed(1);

export function fmtSpread(s: Spread | undefined, fmt: (x: number) => string): string {
  if (!s) return '–';
  return s.n > 1 ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : fmt(s.median);
}

export interface Group {
  system: string;
  variant: string;
  A: RunResult[];
  B: RunResult[];
  fanout: RunResult[];
  fair: RunResult[];
}

export function groups(results: readonly RunResult[]): Group[] {
  const map = new Map<string, Group>();
  for (const r of results) {
    const k = `${r.system}|${r.variant}`;
    if (!map.has(k)) map.set(k, { system: r.system, variant: r.variant, A: [], B: [], fanout: [], fair: [] });
    map.get(k)![r.workload].push(r);
  }
  return [...map.values()];
}

const ok = (rs: RunResult[]): RunResult[] => rs.filter((r) => !r.error);
export const throughput = (g: Group | undefined): Spread | undefined => spread(ok(g?.A ?? []).map((r) => r.msgsPerSec));
export const p99 = (g: Group | undefined): Spread | undefined => spread(ok(g?.B ?? []).map((r) => r.latencyMs?.p99));

export function systemTable(report: BenchReport): string[] {
  const lines = [
    '| system | variant | runs A/B | A: msgs/s end-to-end | A: producer-confirmed msgs/s | A: CPU s client / server | A: CPU µs/msg (total) | B: p50 ms | B: p95 ms | B: p99 ms | B: max ms | checks |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const g of groups(report.results)) {
    if (!g.A.length && !g.B.length) continue;
    const A = ok(g.A);
    const lat = (k: 'p50' | 'p95' | 'p99' | 'max'): string => fmtSpread(spread(ok(g.B).map((r) => r.latencyMs?.[k])), fmtMs);
    const cpu = A.length
      ? `${fmtSpread(spread(A.map((r) => r.cpu?.clientCpuS)), fmtCpu)} / ${fmtSpread(spread(A.map((r) => r.cpu?.serverCpuS)), fmtCpu)}`
      : '–';
    const perMsg = spread(A.map((r) => (r.cpu && r.n ? ((r.cpu.clientCpuS + (r.cpu.serverCpuS ?? 0)) * 1e6) / r.n : undefined)));
    const bad = [...g.A, ...g.B].flatMap(problems);
    const dups = [...g.A, ...g.B].reduce((s, r) => s + (r.duplicates ?? 0), 0);
    const checks = bad.length ? bad.join('; ') : `all ids, ${dups} dup, server empty`;
    lines.push(`| ${g.system} | ${g.variant} | ${g.A.length}/${g.B.length} | ${fmtSpread(throughput(g), fmtInt)} | ${fmtSpread(spread(A.map((r) => r.producerConfirmedPerSec)), fmtInt)} | ${cpu} | ${perMsg ? Math.round(perMsg.median) : '–'} | ${lat('p50')} | ${lat('p95')} | ${lat('p99')} | ${lat('max')} | ${checks} |`);
  }
  return lines;
}

export function fanoutTable(report: BenchReport): string[] {
  const fan = groups(report.results).filter((g) => g.fanout.length);
  if (!fan.length) return [];
  const lines = ['| system | variant | runs | topics × rounds | fan-out p50 ms | fan-out p95 ms | fan-out max ms | SEND_BATCH frames per round | checks |', '|---|---|---|---|---|---|---|---|---|'];
  for (const g of fan) {
    const rs = ok(g.fanout);
    const s = (k: 'p50' | 'p95' | 'max'): string => fmtSpread(spread(rs.map((r) => r.fanoutMs?.[k])), fmtMs);
    const first = rs[0];
    const frames = first?.info ? Math.round(Number(first.info.sendBatches) / Number(first.info.reps)) : '–';
    const bad = g.fanout.flatMap(problems);
    lines.push(`| ${g.system} | ${g.variant} | ${g.fanout.length} | ${first ? `${first.n} × ${String(first.info?.reps)}` : '–'} | ${s('p50')} | ${s('p95')} | ${s('max')} | ${frames} | ${bad.length ? bad.join('; ') : `${rs.reduce((a, r) => a + (r.pubErrors ?? 0), 0)} errors`} |`);
  }
  return lines;
}

/**
 * GC pauses during each workload's timed part, server and bench client (median of the runs):
 * where a latency tail and part of the CPU per message go. Runs without GC figures are left out.
 */
export function gcTable(report: BenchReport): string[] {
  const rows: string[] = [];
  for (const g of groups(report.results)) {
    for (const [workload, runs] of [['A', g.A], ['B', g.B], ['fan-out', g.fanout]] as const) {
      const rs = ok(runs).filter((r) => r.gc !== undefined);
      if (rs.length === 0) continue;
      const med = (pick: (r: RunResult) => number | undefined, fmt: (x: number) => string): string => fmtSpread(spread(rs.map(pick)), fmt);
      const share = (r: RunResult): number | undefined => (r.gc?.server && r.seconds ? (100 * r.gc.server.ms) / (r.seconds * 1000) : undefined);
      rows.push(`| ${g.system} | ${g.variant} | ${workload} | ${med((r) => r.gc?.server?.pauses, fmtInt)} | ${med((r) => r.gc?.server?.ms, fmtInt)} | ${med(share, (x) => `${x.toFixed(1)}%`)} | ${med((r) => r.gc?.server?.over10ms, fmtInt)} | ${med((r) => r.gc?.client.pauses, fmtInt)} | ${med((r) => r.gc?.client.ms, fmtInt)} | ${med((r) => r.gc?.client.over10ms, fmtInt)} |`);
    }
  }
  if (rows.length === 0) return [];
  return [
    '| system | variant | workload | server GC pauses | server GC ms | share of the run | server pauses > 10 ms | client GC pauses | client GC ms | client pauses > 10 ms |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ];
}

export interface RatioRow {
  row: string;
  mailbox: string;
  bestPeer: string;
  ratio: string;
  target: string;
  met: boolean | undefined;
}

type Find = (system: string, variant: string) => Group | undefined;

function throughputRow(row: string, mb: Group | undefined, peers: Array<[string, Group | undefined]>, factor: number): RatioRow {
  const m = throughput(mb);
  const measured = peers.map(([name, g]) => [name, throughput(g)] as const).filter((p): p is readonly [string, Spread] => p[1] !== undefined);
  const best = measured.sort((a, b) => b[1].median - a[1].median)[0];
  const ratio = m && best ? m.median / best[1].median : undefined;
  return {
    row,
    mailbox: fmtSpread(m, fmtInt),
    bestPeer: best ? `${best[0]} ${fmtSpread(best[1], fmtInt)}` : '–',
    ratio: ratio === undefined ? '–' : `${ratio.toFixed(2)}×`,
    target: `≥ ${factor}×`,
    met: ratio === undefined ? undefined : ratio >= factor,
  };
}

function latencyRow(row: string, mb: Group | undefined, peers: Array<[string, Group | undefined]>, limitMs: number): RatioRow {
  const m = p99(mb);
  const measured = peers.map(([name, g]) => [name, p99(g)] as const).filter((p): p is readonly [string, Spread] => p[1] !== undefined);
  const best = measured.sort((a, b) => a[1].median - b[1].median)[0];
  return {
    row,
    mailbox: fmtSpread(m, fmtMs),
    bestPeer: best ? `${best[0]} ${fmtSpread(best[1], fmtMs)}` : '–',
    ratio: m && best ? `${(best[1].median / m.median).toFixed(2)}× (peer/mailbox)` : '–',
    target: `p99 ≤ ${limitMs} ms`,
    met: m === undefined ? undefined : m.median <= limitMs,
  };
}

export function ratioRows(report: BenchReport): RatioRow[] {
  const gs = groups(report.results);
  const find: Find = (s, v) => gs.find((g) => g.system === s && g.variant === v);
  const fast: Array<[string, Group | undefined]> = [
    ['Redis no-persistence+XDEL', find('redis-streams', 'no-persistence+xdel')],
    ['NATS JetStream', find('nats-jetstream', 'file-workqueue')],
  ];
  const durable: Array<[string, Group | undefined]> = [
    ['Redis AOF always+XDEL', find('redis-streams', 'aof-always+xdel')],
    ['RabbitMQ quorum', find('rabbitmq', 'quorum')],
  ];
  const rows: RatioRow[] = [];
  const amnesia = find('svc-mailbox', 'amnesia');
  const level = find('svc-mailbox', 'level+sync');
  if (amnesia?.A.length) rows.push(throughputRow('A msgs/s: amnesia vs no-fsync peers', amnesia, fast, 1.5));
  if (level?.A.length) rows.push(throughputRow('A msgs/s: level+sync vs fsync peers', level, durable, 1.5));
  if (amnesia?.B.length) rows.push(latencyRow('B p99 ms: amnesia', amnesia, fast, 1));
  if (level?.B.length) rows.push(latencyRow('B p99 ms: level+sync (durable)', level, durable, 2));
  for (const g of gs.filter((x) => x.system === 'svc-mailbox' && x.fair.length)) rows.push(fairRow(g));
  for (const g of gs.filter((x) => x.system === 'svc-mailbox' && x.fanout.length)) {
    const s = spread(ok(g.fanout).map((r) => r.fanoutMs?.p95));
    const topics = g.fanout[0]?.n ?? 0;
    rows.push({
      row: `fan-out p95 ms: ${g.variant}, ${topics.toLocaleString('en-US')} topics`,
      mailbox: fmtSpread(s, fmtMs),
      bestPeer: '–',
      ratio: '–',
      target: 'p95 ≤ 100 ms',
      met: s === undefined ? undefined : s.median <= 100,
    });
  }
  return rows;
}

/** Issue 16: the hot tenant may raise the calm tenant's p99 by at most this factor. */
export const FAIR_TARGET = 1.25;

/** The median of the pairs' calm p99 with/without the hot tenant (each pair measured on one server, back to back). */
export const fairRatio = (g: Group): Spread | undefined => spread(ok(g.fair).map((r) => r.fair?.p99Ratio));

function fairRow(g: Group): RatioRow {
  const s = fairRatio(g);
  const rs = ok(g.fair);
  const p = (k: 'with' | 'without'): string => fmtSpread(spread(rs.map((r) => r.fair?.[k].latencyMs?.p99)), fmtMs);
  return {
    row: `fair: calm tenant's B p99 with / without a tenant at ${rs[0]?.fair?.with.hot ? `${rs[0].fair.with.hot.triedPerSecond / rs[0].fair.with.hot.quotaPerSecond}×` : '10×'} its quota, ${g.variant}`,
    mailbox: `${p('with')} / ${p('without')} ms`,
    bestPeer: '–',
    ratio: s ? `${fmtSpread(s, (x) => x.toFixed(2))}× (median of pairs)` : '–',
    target: `≤ ${FAIR_TARGET}×`,
    met: s === undefined ? undefined : s.median <= FAIR_TARGET,
  };
}

/**
 * Workload fair, one row per store: the calm tenant's p50/p99 without and with the hot tenant
 * (medians of the pairs, min–max), the ratio, what the hot tenant got in and what was refused,
 * and the server's CPU during each half.
 */
export function fairTable(report: BenchReport): string[] {
  const rows: string[] = [];
  for (const g of groups(report.results).filter((x) => x.fair.length)) {
    const rs = ok(g.fair);
    const med = (pick: (r: RunResult) => number | undefined, fmt: (x: number) => string): string => fmtSpread(spread(rs.map(pick)), fmt);
    const lat = (k: 'with' | 'without', q: 'p50' | 'p99'): string => med((r) => r.fair?.[k].latencyMs?.[q], fmtMs);
    const cores = (k: 'with' | 'without') => (r: RunResult): number | undefined => {
      const h = r.fair?.[k];
      return h?.cpu?.serverCpuS !== undefined && h.seconds ? h.cpu.serverCpuS / h.seconds : undefined;
    };
    const hot = (pick: (h: FairHalfHot) => number | undefined) => (r: RunResult): number | undefined => {
      const h = r.fair?.with.hot;
      return h ? pick(h) : undefined;
    };
    const ratio = fairRatio(g);
    const bad = g.fair.flatMap(problems);
    rows.push(`| ${g.variant} | ${g.fair.length} | ${lat('without', 'p50')} / ${lat('with', 'p50')} | ${lat('without', 'p99')} | ${lat('with', 'p99')} | ${fmtSpread(ratio, (x) => `${x.toFixed(2)}×`)} | ${ratio === undefined ? 'not measured' : ratio.median <= FAIR_TARGET ? 'met' : 'NOT met'} | ${med(hot((h) => h.triedPerSecond), fmtInt)} | ${med(hot((h) => h.admittedPerSec), fmtInt)} | ${med(hot((h) => h.refusedPerSec), fmtInt)} | ${med(cores('without'), (x) => x.toFixed(2))} / ${med(cores('with'), (x) => x.toFixed(2))} | ${med(hot((h) => h.cpuS), fmtCpu)} | ${bad.length ? bad.join('; ') : 'all ids, server empty'} |`);
  }
  return rows.length === 0 ? [] : [
    `| store | pairs | calm p50 ms without / with | calm p99 ms without | calm p99 ms with | p99 with/without (median of pairs) | target ≤ ${FAIR_TARGET}× | hot tried/s | hot admitted/s | hot refused/s | server cores busy without / with | hot client CPU s | checks |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ];
}

type FairHalfHot = NonNullable<NonNullable<RunResult['fair']>['with']['hot']>;

export function ratioTable(report: BenchReport): string[] {
  const lines = ['| row | svc-mailbox | best peer | ratio | target | met |', '|---|---|---|---|---|---|'];
  for (const r of ratioRows(report)) {
    lines.push(`| ${r.row} | ${r.mailbox} | ${r.bestPeer} | ${r.ratio} | ${r.target} | ${r.met === undefined ? 'not measured' : r.met ? 'met' : 'NOT met'} |`);
  }
  return lines;
}

/** The RAM budget of issue #4: 5,000,000 queued 1 KiB messages in at most this much RSS. */
const RSS_TARGET_MiB = 300;
const fmtMiB = (x: number | undefined): string => (x === undefined ? '–' : `${x < 1000 ? x.toFixed(1) : fmtInt(x)} MiB`);

/** `--figures durable`: one row per figure, with what it rests on. */
export function durableFiguresTable(report: BenchReport): string[] {
  const f = report.durableFigures;
  if (!f) return [];
  const lines = ['| figure | value | detail |', '|---|---|---|'];
  const level = groups(report.results).find((g) => g.system === 'svc-mailbox' && g.variant === 'level+sync');
  const a = throughput(level);
  const n = level?.A[0]?.n;
  lines.push(`| durable send+recv+ack, msgs/s (workload A, level+sync) | ${fmtSpread(a, fmtInt)} | ${a ? `${a.n} run(s) of ${fmtInt(n ?? 0)} × ${level?.A[0]?.size ?? f.payload} B` : 'not run (--store level --durability sync --workload A)'} |`);
  const { rss, restart } = f;
  const b = rss.beforeWarmUp;
  if (b) lines.push(`| RSS, fresh server | ${fmtMiB(b.rssMiB)} | anon ${fmtMiB(b.rssAnonMiB)}, file ${fmtMiB(b.rssFileMiB)}; JS heap ${fmtMiB(b.heapUsedMiB)} of ${fmtMiB(b.heapTotalMiB)}, ArrayBuffers ${fmtMiB(b.arrayBuffersMiB)}; after a full GC, before the warm-up (not in the slope) |`);
  for (const p of rss.points) lines.push(`| RSS, ${fmtInt(p.messages)} queued | ${fmtMiB(p.rssMiB)} | anon ${fmtMiB(p.rssAnonMiB)}, file ${fmtMiB(p.rssFileMiB)}; JS heap ${fmtMiB(p.heapUsedMiB)} of ${fmtMiB(p.heapTotalMiB)}, ArrayBuffers ${fmtMiB(p.arrayBuffersMiB)}; after a full GC${p.messages === 0 ? ` and a warm-up of ${fmtInt(rss.warmUpMessages)} sent, received, acked` : ''} |`);
  if (rss.bytesPerMessage !== undefined) {
    lines.push(`| RSS per queued message | ${fmtInt(rss.bytesPerMessage)} B | least squares over ${rss.points.length} points (JS heap ${fmtInt(rss.heapBytesPerMessage ?? 0)} B); ${fmtInt(rss.lastHalfBytesPerMessage ?? 0)} B from N/2 to N; ${f.payload} B payloads, ${f.topics} topics, filled at ${fmtInt(rss.fillPerSec ?? 0)} msgs/s (${f.variant}) |`);
    const last = rss.points.at(-1);
    const measured = last?.messages === 5_000_000;
    const at5M = measured ? last.rssMiB : rss.projectedMiBAt5M ?? 0;
    const how = measured ? 'measured' : `first point + slope × 5,000,000; measured up to ${fmtInt(rss.messages)}`;
    lines.push(`| RSS at 5,000,000 queued${measured ? '' : ' (projected)'} | ${fmtMiB(at5M)} | target ≤ ${RSS_TARGET_MiB} MiB: ${at5M <= RSS_TARGET_MiB ? 'met' : 'NOT met'} (${how}) |`);
  }
  if (rss.error) lines.push(`| RSS | FAILED | ${rss.error.split('\n')[0]} |`);
  if (restart.emptyReadyMs.length) {
    lines.push(`| spawn → /readyz 200 after kill -9, empty store | ${fmtMs(spread(restart.emptyReadyMs)!.median)} ms | median of ${restart.emptyReadyMs.length}: ${restart.emptyReadyMs.map(fmtMs).join(', ')} ms |`);
  }
  if (restart.readyMs !== undefined) {
    lines.push(`| spawn → /readyz 200 after kill -9, ${fmtInt(restart.messages)} on disk | ${fmtMs(restart.readyMs)} ms | ${fmtInt(restart.readyAfter ?? 0)} of ${fmtInt(restart.messages)} ready after; RSS after rebuild ${fmtMiB(restart.rssAfterMiB)} |`);
  }
  if (restart.error) lines.push(`| restart | FAILED | ${restart.error.split('\n')[0]} |`);
  lines.push(`| server settings | ${Object.entries(f.serverEnv).map(([k, v]) => `${k}=${v}`).join(' ')} | the defaults otherwise (--server-env adds to these) |`);
  return lines;
}

/**
 * svc-mailbox against the floor (bench/floor) of the same run: what share of the least possible
 * Node.js broker's throughput it reaches, and its CPU per message beside the floor's.
 */
export function floorTable(report: BenchReport): string[] {
  const gs = groups(report.results);
  const rows: string[] = [];
  for (const variant of ['amnesia', 'level+sync']) {
    const floor = gs.find((g) => g.system === 'floor' && g.variant === variant);
    const f = throughput(floor);
    if (!f) continue;
    const mb = gs.find((g) => g.system === 'svc-mailbox' && g.variant === variant);
    const m = throughput(mb);
    rows.push(`| ${variant} | ${fmtSpread(m, fmtInt)} | ${fmtSpread(f, fmtInt)} | ${m ? `${((m.median / f.median) * 100).toFixed(0)}%` : '–'} | ${cpuPerMessage(mb)} | ${cpuPerMessage(floor)} |`);
  }
  return rows.length === 0 ? [] : [
    '| store | svc-mailbox A msgs/s | floor A msgs/s | svc-mailbox / floor | CPU µs/msg client / server: svc-mailbox | floor |',
    '|---|---|---|---|---|---|',
    ...rows,
  ];
}

/**
 * svc-mailbox on the redis store (owned `redis`, shared `redis-shared`, `redis-shared-3`):
 * workload A's Redis commands and script round trips per message, and where the server-side CPU
 * went (the mailbox process(es) against redis-server). Counters are Redis-wide: other users count too.
 */
export function redisTable(report: BenchReport): string[] {
  const rows: string[] = [];
  for (const g of groups(report.results).filter((x) => x.system === 'svc-mailbox')) {
    const rs = ok(g.A).filter((r) => r.redis !== undefined);
    if (rs.length === 0) continue;
    const med = (pick: (r: RunResult) => number | undefined, fmt: (x: number) => string): string => fmtSpread(spread(rs.map(pick)), fmt);
    const us = (s: number | undefined, r: RunResult): number | undefined => (s === undefined ? undefined : (s * 1e6) / r.n);
    const redisUs = (r: RunResult): number | undefined => us(r.redis?.serverCpuS, r);
    const mailboxUs = (r: RunResult): number | undefined => (r.redis?.serverCpuS === undefined || r.cpu?.serverCpuS === undefined ? undefined : us(r.cpu.serverCpuS - r.redis.serverCpuS, r));
    const fmt2 = (x: number): string => x.toFixed(2);
    const fmt3 = (x: number): string => x.toFixed(3);
    rows.push(`| ${g.variant} | ${rs.length} | ${fmtSpread(throughput({ ...g, A: rs }), fmtInt)} | ${med((r) => r.redis?.commandsPerMsg, fmtCpu)} | ${med((r) => r.redis?.roundTripsPerMsg, fmt3)} | ${med((r) => r.redis?.scriptUsPerMsg, fmtCpu)} | ${med(redisUs, fmtCpu)} | ${med(mailboxUs, fmtCpu)} | ${med((r) => (r.redis?.serverCpuS && r.seconds ? r.redis.serverCpuS / r.seconds : undefined), fmt2)} |`);
  }
  return rows.length === 0 ? [] : [
    '| variant | runs A | A msgs/s | Redis commands/msg | script round trips/msg | Redis µs in scripts/msg (wall) | redis-server CPU µs/msg | mailbox server(s) CPU µs/msg | redis-server cores busy |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ];
}

/** Median CPU µs per message, client / server, of a group's workload A runs. */
export function cpuPerMessage(g: Group | undefined): string {
  const runs = ok(g?.A ?? []);
  const per = (pick: (r: RunResult) => number | undefined): string => {
    const s = spread(runs.map((r) => {
      const v = pick(r);
      return v === undefined ? undefined : (v * 1e6) / r.n;
    }));
    return s ? fmtCpu(s.median) : '?';
  };
  return runs.length === 0 ? '–' : `${per((r) => r.cpu?.clientCpuS)} / ${per((r) => r.cpu?.serverCpuS)}`;
}

export function printSummary(report: BenchReport): void {
  const systems = systemTable(report);
  // A run of workload fair (or fan-out) alone has no A/B rows: no empty table.
  const out = systems.length > 2 ? ['', `## Systems (median of runs, min–max; ${report.host.cpus} CPUs shared by client and server)`, '', ...systems] : [];
  const fan = fanoutTable(report);
  if (fan.length) out.push('', '## Fan-out (one sendBatch to distinct topics → every confirmation)', '', ...fan);
  const fair = fairTable(report);
  if (fair.length) out.push('', '## Fairness (workload fair: the calm tenant\'s workload B without and with a hot tenant, same server, median of pairs, min–max)', '', ...fair);
  const gc = gcTable(report);
  if (gc.length) out.push('', '## Garbage collection during the timed part (median of runs, min–max)', '', ...gc);
  out.push('', '## Ratios (matching durability classes)', '', ...ratioTable(report));
  const redis = redisTable(report);
  if (redis.length) out.push('', '## Redis store (workload A: per message, median of runs; Redis counters are Redis-wide)', '', ...redis);
  const floor = floorTable(report);
  if (floor.length) out.push('', '## Against the floor (bench/floor: the least possible Node.js broker, same run)', '', ...floor);
  const figures = durableFiguresTable(report);
  if (figures.length) out.push('', '## Durable store figures (--figures durable)', '', ...figures);
  process.stdout.write(`${out.join('\n')}\n`);
}
