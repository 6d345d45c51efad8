/**
 * `mailbox chaos [drill …] [--duration=ms] [--messages=n] [--seed=n] [--paged] [--verbose] [--list] [--out DIR]`
 *
 * Runs chaos/run.ts's drills in this process (the same runner as `npm run chaos`): each drill
 * builds its own in-process mailbox (amnesia), injects its faults, and reports whether its
 * promise was kept. Prints `drill | promise | kept | details`; exits 1 when a promise was
 * broken, 2 for an unknown drill.
 *
 * `mailbox chaos inject | clear | faults …` act on a running server instead (chaos-inject.ts).
 */
import type { DrillOptions } from '../../chaos/drill.ts';
import { intValue, parseCommand, usageError, type CommandSpec } from './args.ts';
import { CHAOS_SUBCOMMANDS, chaosControl } from './chaos-inject.ts';

const CHAOS_OPTIONS = {
  duration: { type: 'string' },
  messages: { type: 'string' },
  seed: { type: 'string' },
  paged: { type: 'boolean' },
  verbose: { type: 'boolean' },
  list: { type: 'boolean' },
  out: { type: 'string' },
} as const;

const CHAOS: CommandSpec<typeof CHAOS_OPTIONS> = {
  command: 'chaos',
  usage: 'usage: mailbox chaos [drill …] [--duration=ms] [--messages=n] [--seed=n] [--paged] [--verbose] [--list] [--out DIR]',
  details: `Runs the chaos drills (the same runner as npm run chaos), each on its own in-process
amnesia mailbox. Exits 1 when a promise was broken, 2 for an unknown drill.
\`mailbox chaos inject --fault F\`, \`chaos clear\` and \`chaos faults\` inject faults into a
running server started with chaos.enabled instead (\`mailbox chaos inject --help\`).

  drill …          the drills to run (default: all; --list names them)
  --duration=ms    how long each drill injects faults
  --messages=n     messages per drill
  --seed=n         the random seed
  --paged          run the kill drill over a store that loads like LevelDB
  --verbose        every drill's log lines
  --list           the drills and their promises
  --out DIR        where each drill's <drill>.json and <drill>.html report and the run's
                   index.html go (default chaos/results/<stamp>)`,
  options: CHAOS_OPTIONS,
  positionals: { min: 0, max: Number.POSITIVE_INFINITY },
};

export async function chaos(argv: string[]): Promise<void> {
  const sub = CHAOS_SUBCOMMANDS.find((s) => s === argv[0]);
  if (sub) return chaosControl(sub, argv.slice(1));
  const args = parseCommand(CHAOS, argv);
  if (!args) return;
  const v = args.values;
  const opts: DrillOptions = {};
  for (const [flag, field] of [['duration', 'durationMs'], ['messages', 'messages'], ['seed', 'seed']] as const) {
    const n = intValue(CHAOS, flag, v[flag]);
    if (n === undefined) continue;
    if (n < 0) throw usageError(CHAOS, `--${flag} needs a non-negative integer`);
    opts[field] = n;
  }
  // Imported here: chaos/run.ts only runs its own main() when it is the entry script.
  const { DRILLS, defaultResultsDir, reportLines, runDrills } = await import('../../chaos/run.ts');
  if (v.list === true) {
    for (const d of DRILLS) process.stdout.write(`${d.name}\n  ${d.promise}\n`);
    return;
  }
  if (v.paged === true) opts.paged = true;
  const names = args.positionals;
  const unknown = names.filter((n) => !DRILLS.some((d) => d.name === n));
  if (unknown.length > 0) {
    process.stderr.write(`mailbox chaos: unknown drill(s): ${unknown.join(', ')}; known: ${DRILLS.map((d) => d.name).join(', ')}\n`);
    process.exitCode = 2;
    return;
  }
  const verbose = v.verbose === true;
  opts.log = (line) => {
    if (verbose || line.startsWith('running')) process.stderr.write(`  ${line}\n`);
  };
  const chosen = names.length > 0 ? DRILLS.filter((d) => names.includes(d.name)) : DRILLS;
  const results = await runDrills(chosen, opts, { dir: v.out ?? defaultResultsDir() });
  const lines = ['', 'drill | promise | kept | details', '--- | --- | --- | ---'];
  for (const { drill, result } of results) {
    const details = Object.entries(result.details).map(([k, v]) => `${k}=${v}`).join(' ');
    lines.push(`${drill.name} | ${drill.promise} | ${result.kept ? 'yes' : 'NO'} | ${details}`);
  }
  lines.push(...reportLines(results));
  process.stdout.write(`${lines.join('\n')}\n`);
  if (!results.every((r) => r.result.kept)) process.exitCode = 1;
}
