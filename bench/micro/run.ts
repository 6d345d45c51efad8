/**
 * Runs the tinybench micro-benchmarks in bench/micro/*.bench.ts and prints, per task, the
 * median ops/s (per operation when a call does several), its relative margin of error, the
 * sample count and, where a task names a baseline, the ratio to it.
 *   node --import tsx bench/micro/run.ts [suite…]   or   mailbox bench --micro
 */
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';
import type { MicroSuite } from './suite.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

interface Row {
  suite: string;
  task: string;
  opsPerSec: number;
  rme: number;
  samples: number;
  vs: string;
}

export async function runMicro(only: readonly string[] = [], timeMs = Number(process.env.MICRO_TIME_MS ?? 500)): Promise<Row[]> {
  const files = readdirSync(HERE).filter((f) => f.endsWith('.bench.ts')).sort();
  const rows: Row[] = [];
  for (const file of files) {
    const { suite } = (await import(pathToFileURL(`${HERE}/${file}`).href)) as { suite: MicroSuite };
    if (only.length && !only.includes(suite.name)) continue;
    process.stderr.write(`[micro] ${suite.name} …\n`);
    await suite.setup?.();
    try {
      const bench = new Bench({ time: timeMs, warmupTime: 100 });
      for (const t of suite.tasks) bench.add(t.name, t.fn);
      await bench.run();
      const perOp = new Map<string, number>();
      for (const t of suite.tasks) {
        const r = bench.getTask(t.name)?.result;
        const ok = r && 'throughput' in r && r.throughput !== undefined;
        const ops = ok ? r.throughput.p50 * (t.opsPerCall ?? 1) : NaN;
        perOp.set(t.name, ops);
        rows.push({ suite: suite.name, task: t.name, opsPerSec: ops, rme: ok ? r.throughput.rme : NaN, samples: ok ? r.throughput.samplesCount : 0, vs: '' });
      }
      for (const [i, t] of suite.tasks.entries()) {
        const row = rows[rows.length - suite.tasks.length + i]!;
        if (t.baseline) row.vs = `${(perOp.get(t.name)! / perOp.get(t.baseline)!).toFixed(2)}× of ${t.baseline}`;
      }
    } finally {
      await suite.teardown?.();
    }
  }
  const fmt = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'failed');
  const lines = ['| suite | task | ops/s (median) | ± rme % | samples | vs baseline |', '|---|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.suite} | ${r.task} | ${fmt(r.opsPerSec)} | ${r.rme.toFixed(1)} | ${r.samples} | ${r.vs || '–'} |`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await runMicro(process.argv.slice(2));
}
