/**
 * The drill runner: `npm run chaos [-- name…] [--duration=ms] [--messages=n] [--seed=n] [--paged]`.
 * Runs every drill (or those named), prints drill | promise | kept | details, and exits 1 if
 * any promise was broken.
 */
import type { Drill, DrillOptions, DrillResult } from './drill.ts';
import { drill as killActors } from './kill-actors.drill.ts';
import { drill as storageFull } from './storage-full.drill.ts';
import { drill as sessionChurn } from './session-churn.drill.ts';
import { drill as kill9 } from './kill-9.drill.ts';
import { drill as crashStorm } from './crash-storm.drill.ts';
import { drill as partition } from './partition.drill.ts';

export const DRILLS: readonly Drill[] = [killActors, storageFull, sessionChurn, kill9, crashStorm, partition];

function parseArgs(argv: readonly string[]): { names: string[]; opts: DrillOptions; verbose: boolean } {
  const names: string[] = [];
  const opts: DrillOptions = {};
  let verbose = false;
  for (const arg of argv) {
    const [key, value] = arg.startsWith('--') ? arg.slice(2).split('=', 2) : [undefined, undefined];
    if (key === undefined) names.push(arg);
    else if (key === 'verbose') verbose = true;
    else if (key === 'paged') opts.paged = true;
    else if (key === 'duration' || key === 'messages' || key === 'seed') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw new Error(`--${key} needs a non-negative integer, got ${JSON.stringify(value)}`);
      opts[key === 'duration' ? 'durationMs' : key] = n;
    } else throw new Error(`unknown option --${key}`);
  }
  return { names, opts, verbose };
}

function formatDetails(details: DrillResult['details']): string {
  return Object.entries(details).map(([k, v]) => `${k}=${v}`).join(' ');
}

/** Runs the drills one after another; a drill that throws broke its promise. */
export async function runDrills(drills: readonly Drill[], opts: DrillOptions): Promise<Array<{ drill: Drill; result: DrillResult }>> {
  const out: Array<{ drill: Drill; result: DrillResult }> = [];
  for (const drill of drills) {
    opts.log?.(`running ${drill.name}…`);
    let result: DrillResult;
    try {
      result = await drill.run(opts);
    } catch (err) {
      result = { kept: false, details: { error: err instanceof Error ? err.message : String(err) } };
    }
    out.push({ drill, result });
  }
  return out;
}

async function main(): Promise<number> {
  const { names, opts, verbose } = parseArgs(process.argv.slice(2));
  const unknown = names.filter((n) => !DRILLS.some((d) => d.name === n));
  if (unknown.length > 0) {
    console.error(`unknown drill(s): ${unknown.join(', ')}; known: ${DRILLS.map((d) => d.name).join(', ')}`);
    return 2;
  }
  const chosen = names.length > 0 ? DRILLS.filter((d) => names.includes(d.name)) : DRILLS;
  const log = (line: string): void => console.error(`  ${line}`);
  opts.log = verbose ? log : (line) => (line.startsWith('running') ? log(line) : undefined);
  const results = await runDrills(chosen, opts);
  console.log('');
  console.log('drill | promise | kept | details');
  console.log('--- | --- | --- | ---');
  for (const { drill, result } of results) {
    console.log(`${drill.name} | ${drill.promise} | ${result.kept ? 'yes' : 'NO'} | ${formatDetails(result.details)}`);
  }
  return results.every((r) => r.result.kept) ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then((code) => process.exit(code), (err: unknown) => {
    console.error(err);
    process.exit(2);
  });
}
