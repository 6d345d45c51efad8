/**
 * The drill runner: `npm run chaos [-- name…] [--duration=ms] [--messages=n] [--seed=n] [--paged] [--out=DIR]`.
 * Runs every drill (or those named), prints drill | promise | kept | details, and exits 1 if
 * any promise was broken. Each drill's result goes to `<DIR>/<drill>.json` and `.html` (with
 * its timelines as charts) plus an index.html; DIR defaults to chaos/results/<stamp>.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Drill, DrillOptions, DrillResult } from './drill.ts';
import { drill as killActors } from './kill-actors.drill.ts';
import { drill as storageFull } from './storage-full.drill.ts';
import { drill as sessionChurn } from './session-churn.drill.ts';
import { drill as cpu } from './cpu.drill.ts';
import { drill as kill9 } from './kill-9.drill.ts';
import { drill as crashStorm } from './crash-storm.drill.ts';
import { drill as partition } from './partition.drill.ts';
import { drill as latency } from './latency.drill.ts';
import { runStamp, writeDrillRecord, writeIndex, type DrillRecord } from './report.ts';
import { Timeline } from './timeline.ts';

/** In the order issue 15 names them. */
export const DRILLS: readonly Drill[] = [killActors, storageFull, sessionChurn, cpu, crashStorm, partition, latency, kill9];

/** Where a run's reports go unless --out says otherwise: chaos/results/<stamp>. */
export function defaultResultsDir(at = new Date()): string {
  return join(dirname(fileURLToPath(import.meta.url)), 'results', runStamp(at));
}

function parseArgs(argv: readonly string[]): { names: string[]; opts: DrillOptions; verbose: boolean; out: string | undefined } {
  const names: string[] = [];
  const opts: DrillOptions = {};
  let verbose = false;
  let out: string | undefined;
  for (const arg of argv) {
    // Split at the first '=' only: a directory may contain one.
    const eq = arg.indexOf('=');
    const [key, value] = arg.startsWith('--') ? (eq < 0 ? [arg.slice(2), undefined] : [arg.slice(2, eq), arg.slice(eq + 1)]) : [undefined, undefined];
    if (key === undefined) names.push(arg);
    else if (key === 'verbose') verbose = true;
    else if (key === 'paged') opts.paged = true;
    else if (key === 'out') {
      if (!value) throw new Error('--out needs a directory: --out=DIR');
      out = value;
    }
    else if (key === 'duration' || key === 'messages' || key === 'seed') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw new Error(`--${key} needs a non-negative integer, got ${JSON.stringify(value)}`);
      opts[key === 'duration' ? 'durationMs' : key] = n;
    } else throw new Error(`unknown option --${key}`);
  }
  return { names, opts, verbose, out };
}

function formatDetails(details: DrillResult['details']): string {
  return Object.entries(details).map(([k, v]) => `${k}=${v}`).join(' ');
}

export interface DrillRun {
  drill: Drill;
  result: DrillResult;
  /** The report files, when the run was recorded. */
  files?: { json: string; html: string };
}

/**
 * Runs the drills one after another; a drill that throws broke its promise. With `record.dir`
 * each drill gets a Timeline and its JSON and HTML report are written there, then an index.html.
 */
export async function runDrills(drills: readonly Drill[], opts: DrillOptions, record?: { dir: string }): Promise<DrillRun[] & { index?: string }> {
  const out: DrillRun[] & { index?: string } = [];
  const records: DrillRecord[] = [];
  const at = new Date();
  for (const drill of drills) {
    opts.log?.(`running ${drill.name}…`);
    const timeline = record ? new Timeline() : undefined;
    const startedAt = new Date();
    let result: DrillResult;
    try {
      result = await drill.run(timeline ? { ...opts, timeline } : opts);
    } catch (err) {
      result = { kept: false, details: { error: err instanceof Error ? err.message : String(err) } };
    }
    const run: DrillRun = { drill, result };
    if (record && timeline) {
      await timeline.stop();
      const { durationMs, messages, seed, paged } = opts;
      const options = Object.fromEntries(Object.entries({ durationMs, messages, seed, paged }).filter(([, v]) => v !== undefined)) as DrillRecord['options'];
      const rec: DrillRecord = {
        drill: drill.name, promise: drill.promise, kept: result.kept, details: result.details, options,
        startedAt: startedAt.toISOString(), elapsedMs: Date.now() - startedAt.getTime(), timeline: timeline.toJSON(),
      };
      records.push(rec);
      run.files = writeDrillRecord(record.dir, rec);
    }
    out.push(run);
  }
  if (record) out.index = writeIndex(record.dir, records, at.toISOString());
  return out;
}

/** The lines that name a recorded run's files, for stdout. */
export function reportLines(runs: DrillRun[] & { index?: string }): string[] {
  if (runs.index === undefined) return [];
  return ['', ...runs.flatMap((r) => (r.files ? [`${r.drill.name}: ${r.files.html} (${r.files.json})`] : [])), `index: ${runs.index}`];
}

async function main(): Promise<number> {
  const { names, opts, verbose, out } = parseArgs(process.argv.slice(2));
  const unknown = names.filter((n) => !DRILLS.some((d) => d.name === n));
  if (unknown.length > 0) {
    console.error(`unknown drill(s): ${unknown.join(', ')}; known: ${DRILLS.map((d) => d.name).join(', ')}`);
    return 2;
  }
  const chosen = names.length > 0 ? DRILLS.filter((d) => names.includes(d.name)) : DRILLS;
  const log = (line: string): void => console.error(`  ${line}`);
  opts.log = verbose ? log : (line) => (line.startsWith('running') ? log(line) : undefined);
  const results = await runDrills(chosen, opts, { dir: out ?? defaultResultsDir() });
  console.log('');
  console.log('drill | promise | kept | details');
  console.log('--- | --- | --- | ---');
  for (const { drill, result } of results) {
    console.log(`${drill.name} | ${drill.promise} | ${result.kept ? 'yes' : 'NO'} | ${formatDetails(result.details)}`);
  }
  for (const line of reportLines(results)) console.log(line);
  return results.every((r) => r.result.kept) ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then((code) => process.exit(code), (err: unknown) => {
    console.error(err);
    process.exit(2);
  });
}
