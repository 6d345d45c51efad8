/**
 * The drill runner: `npm run chaos [-- name…] [--duration=ms] [--messages=n] [--seed=n] [--paged] [--out=DIR] [--verbose] [--help]`.
 * Runs every drill (or those named), prints drill | promise | kept | details, and exits 1 if
 * any promise was broken. Each drill's result goes to `<DIR>/<drill>.json` and `.html` (with
 * its timelines as charts) plus an index.html; DIR defaults to chaos/results/<stamp>.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
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

export const USAGE = `usage: npm run chaos -- [drill …] [--duration=ms] [--messages=n] [--seed=n] [--paged] [--out=DIR] [--verbose] [--help]

Runs every drill (or those named), prints drill | promise | kept | details, exits 1 if a promise
was broken, 2 on a usage error.`;

/** A usage error: the runner prints it with the usage and exits 2. */
export class UsageError extends Error {}

const OPTIONS = {
  duration: { type: 'string' },
  messages: { type: 'string' },
  seed: { type: 'string' },
  paged: { type: 'boolean' },
  out: { type: 'string' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * The runner's argv, by the one strict parser (node:util parseArgs): an unknown flag, a value
 * given to a switch or an empty value is a UsageError, never a default.
 */
export function parseRunArgs(argv: readonly string[]): { names: string[]; opts: DrillOptions; verbose: boolean; out: string | undefined; help: boolean } {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const v = parsed.values;
  const opts: DrillOptions = {};
  if (v.paged) opts.paged = true;
  for (const key of ['duration', 'messages', 'seed'] as const) {
    const raw = v[key];
    if (raw === undefined) continue;
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${key} needs a non-negative integer, got ${JSON.stringify(raw)}`);
    opts[key === 'duration' ? 'durationMs' : key] = n;
  }
  if (v.out !== undefined && v.out === '') throw new UsageError('--out needs a directory: --out=DIR');
  return { names: parsed.positionals, opts, verbose: v.verbose === true, out: v.out, help: v.help === true };
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
  let args: ReturnType<typeof parseRunArgs>;
  try {
    args = parseRunArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`chaos: ${err.message}\n${USAGE}`);
    return 2;
  }
  const { names, opts, verbose, out, help } = args;
  if (help) {
    console.log(`${USAGE}\n\ndrills: ${DRILLS.map((d) => d.name).join(', ')}`);
    return 0;
  }
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
