/**
 * `mailbox chaos [drill …] [--duration=ms] [--messages=n] [--seed=n] [--paged] [--verbose] [--list]`
 *
 * Runs chaos/run.ts's drills in this process (the same runner as `npm run chaos`): each drill
 * builds its own in-process mailbox (amnesia), injects its faults, and reports whether its
 * promise was kept. Prints `drill | promise | kept | details`; exits 1 when a promise was
 * broken, 2 for an unknown drill.
 */
import type { DrillOptions } from '../../chaos/drill.ts';
import { MailboxError } from '../errors.ts';
import { intOption, parseArgs } from './args.ts';

export async function chaos(argv: string[]): Promise<void> {
  const args = parseArgs(argv, new Set(['verbose', 'list', 'paged']));
  // Imported here: chaos/run.ts only runs its own main() when it is the entry script.
  const { DRILLS, runDrills } = await import('../../chaos/run.ts');
  if (args.options.get('list') === true) {
    for (const d of DRILLS) process.stdout.write(`${d.name}\n  ${d.promise}\n`);
    return;
  }
  for (const key of args.options.keys()) {
    if (!['duration', 'messages', 'seed', 'verbose', 'list', 'paged'].includes(key)) throw new MailboxError('E_SCHEMA', `unknown option --${key}`);
  }
  const opts: DrillOptions = {};
  for (const [flag, field] of [['duration', 'durationMs'], ['messages', 'messages'], ['seed', 'seed']] as const) {
    const n = intOption(args, flag);
    if (n === undefined) continue;
    if (n < 0) throw new MailboxError('E_SCHEMA', `--${flag} needs a non-negative integer`);
    opts[field] = n;
  }
  if (args.options.get('paged') === true) opts.paged = true;
  const names = args.positionals;
  const unknown = names.filter((n) => !DRILLS.some((d) => d.name === n));
  if (unknown.length > 0) {
    process.stderr.write(`mailbox chaos: unknown drill(s): ${unknown.join(', ')}; known: ${DRILLS.map((d) => d.name).join(', ')}\n`);
    process.exitCode = 2;
    return;
  }
  const verbose = args.options.get('verbose') === true;
  opts.log = (line) => {
    if (verbose || line.startsWith('running')) process.stderr.write(`  ${line}\n`);
  };
  const chosen = names.length > 0 ? DRILLS.filter((d) => names.includes(d.name)) : DRILLS;
  const results = await runDrills(chosen, opts);
  const lines = ['', 'drill | promise | kept | details', '--- | --- | --- | ---'];
  for (const { drill, result } of results) {
    const details = Object.entries(result.details).map(([k, v]) => `${k}=${v}`).join(' ');
    lines.push(`${drill.name} | ${drill.promise} | ${result.kept ? 'yes' : 'NO'} | ${details}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  if (!results.every((r) => r.result.kept)) process.exitCode = 1;
}
