/**
 * Orchestration of `mailbox bench`: one svc-mailbox server per store variant (its runs share
 * the process, as each peer's runs share one server), A and B interleaved run by run, the
 * fan-out last; then workload fair on a server of its own per store variant (bench/fair.ts);
 * then each peer the same way; then, with `--figures durable`, the durable
 * store's RAM and restart figures. Only one system is under load at a time.
 * Writes the results JSON, prints the tables and renders the HTML report.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { durableFigures } from './durable-figures.ts';
import { fairPair, startFairServer } from './fair.ts';
import { FLOOR_VARIANTS, floorRun } from './floor/run.ts';
import { mailboxFanout, mailboxLoad } from './mailbox.ts';
import { peerGroups } from './peers/index.ts';
import { Progress } from './progress.ts';
import { startMailbox } from './server.ts';
import { startSharedGroup } from './server-group.ts';
import { figuresProblems, printSummary, problems } from './summary.ts';
import type { BenchOptions, BenchReport, RunResult } from './types.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

function failed(system: string, variant: string, workload: RunResult['workload'], run: number, err: unknown): RunResult {
  return { system, variant, workload, run, n: 0, size: 0, error: err instanceof Error ? err.message : String(err) };
}

function outcome(r: RunResult): string {
  if (r.error) return `FAILED: ${r.error.split('\n')[0]}`;
  if (r.workload === 'A') return `${r.msgsPerSec?.toLocaleString('en-US')} msgs/s${r.producerConfirmedPerSec === undefined ? '' : ` (confirmed ${r.producerConfirmedPerSec.toLocaleString('en-US')})`}, CPU client ${r.cpu?.clientCpuS} s / server ${r.cpu?.serverCpuS ?? '?'} s, missing ${r.missing}, dup ${r.duplicates}${r.redis ? `, Redis ${r.redis.commandsPerMsg} commands / ${r.redis.roundTripsPerMsg} round trips per message${r.redis.serverCpuS === undefined ? '' : ` (redis-server CPU ${r.redis.serverCpuS} s)`}` : ''}`;
  if (r.workload === 'fair') {
    const f = r.fair;
    const hot = f?.with.hot;
    return `calm p99 without ${f?.without.latencyMs?.p99} / with ${f?.with.latencyMs?.p99} ms (×${f?.p99Ratio ?? '?'}), hot admitted ${hot?.admittedPerSec}/s refused ${hot?.refusedPerSec}/s`;
  }
  if (r.workload === 'B') return `p50 ${r.latencyMs?.p50} / p95 ${r.latencyMs?.p95} / p99 ${r.latencyMs?.p99} ms (max ${r.latencyMs?.max}), missing ${r.missing}`;
  return `fan-out ${r.n} topics: p50 ${r.fanoutMs?.p50} / p95 ${r.fanoutMs?.p95} ms (max ${r.fanoutMs?.max}), ${r.pubErrors} errors`;
}

export async function runBench(opts: BenchOptions): Promise<boolean> {
  const progress = new Progress();
  const results: RunResult[] = [];
  const record = (r: RunResult): void => {
    results.push(r);
    progress.end(outcome(r));
  };
  const loads = opts.workloads.filter((w): w is 'A' | 'B' => w === 'A' || w === 'B');
  const start = {
    ...(opts.serverCpuProf ? { cpuProfDir: opts.serverCpuProf } : {}),
    ...(opts.serverHeapProf ? { heapProfDir: opts.serverHeapProf } : {}),
    ...(opts.serverEnv ? { extraEnv: opts.serverEnv } : {}),
  };

  if (!opts.skipMailbox) {
    for (const variant of opts.stores) {
      if (!opts.workloads.some((w) => w !== 'fair')) break;
      progress.note(`starting svc-mailbox (${variant})`);
      let server;
      try {
        server = await (variant === 'redis-shared-3' ? startSharedGroup(start) : startMailbox({ variant, ...start }));
      } catch (err) {
        for (const w of opts.workloads.filter((x) => x !== 'fair')) record(failed('svc-mailbox', variant, w, 1, err));
        continue;
      }
      try {
        for (let run = 1; run <= opts.runs; run++) {
          for (const w of loads) {
            progress.begin(`svc-mailbox ${variant} ${w} #${run}`);
            record(await mailboxLoad(server, w, run, opts, progress.update).catch((err: unknown) => failed('svc-mailbox', variant, w, run, err)));
          }
        }
        if (opts.workloads.includes('fanout')) {
          for (let run = 1; run <= opts.runs; run++) {
            progress.begin(`svc-mailbox ${variant} fan-out #${run}`);
            record(await mailboxFanout(server, run, opts, progress.update).catch((err: unknown) => failed('svc-mailbox', variant, 'fanout', run, err)));
          }
        }
      } finally {
        await server.stop();
      }
    }
  }

  // Workload fair: a server of its own per store (a policy file, a token per tenant), its pairs in a row.
  if (!opts.skipMailbox && opts.workloads.includes('fair')) {
    for (const variant of opts.stores) {
      if (variant === 'redis-shared-3') {
        progress.note('SKIP fair on redis-shared-3: workload fair runs on one server');
        continue;
      }
      progress.note(`starting svc-mailbox (${variant}) with a policy for workload fair`);
      let fs;
      try {
        fs = await startFairServer(variant, opts, start);
      } catch (err) {
        record(failed('svc-mailbox', variant, 'fair', 1, err));
        continue;
      }
      try {
        for (let run = 1; run <= opts.runs; run++) {
          progress.begin(`svc-mailbox ${variant} fair #${run}`);
          record(await fairPair(fs, run, opts, progress.update).catch((err: unknown) => failed('svc-mailbox', variant, 'fair', run, err)));
        }
      } finally {
        await fs.stop();
      }
    }
  }

  // The floor (bench/floor): workload A on the least possible Node.js broker, for each store
  // variant it has, as a yardstick for svc-mailbox's figures in the same run.
  if (opts.floor && loads.includes('A')) {
    for (const variant of FLOOR_VARIANTS.filter((v) => opts.stores.includes(v))) {
      for (let run = 1; run <= opts.runs; run++) {
        progress.begin(`floor ${variant} A #${run}`);
        record(await floorRun(variant, run, opts.count, opts.payload, opts.window).catch((err: unknown) => failed('floor', variant, 'A', run, err)));
      }
    }
  }

  if (opts.peers) {
    for (const group of peerGroups(opts)) {
      progress.note(`peer ${group.name}`);
      let env;
      try {
        env = await group.setup();
      } catch (err) {
        progress.note(`SKIP ${group.name}: ${err instanceof Error ? err.message : String(err)}`);
        for (const v of group.variants) for (const w of loads) record(failed(v.system, v.variant, w, 1, err));
        continue;
      }
      try {
        for (let run = 1; run <= opts.runs; run++) {
          for (const v of group.variants) {
            for (const w of loads) {
              progress.begin(`${v.system} ${v.variant} ${w} #${run}`);
              record(await v.run(env, w, run, opts, progress.update).catch((err: unknown) => failed(v.system, v.variant, w, run, err)));
            }
          }
        }
      } finally {
        await group.teardown(env);
      }
    }
  }
  // Last, with nothing else under load: the durable store's RAM and restart figures.
  const figures = opts.figures ? await durableFigures(opts.figures, opts, progress) : undefined;
  progress.end();

  const report: BenchReport = {
    at: new Date().toISOString(),
    node: process.version,
    host: { cpus: cpus().length, model: cpus()[0]?.model.trim() ?? '?', kernel: release() },
    options: opts,
    results,
    ...(figures ? { durableFigures: figures } : {}),
  };
  const out = resolve(opts.json ?? join(BENCH_DIR, 'results', `${stamp()}.json`));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  printSummary(report);
  process.stdout.write(`\nresults: ${out}\n`);
  if (opts.report) {
    const { writeReport } = await import('./report.ts');
    process.stdout.write(`report:  ${writeReport(report)}\n`);
  }
  return results.every((r) => problems(r).length === 0) && (!figures || figuresProblems(figures).length === 0);
}
