/**
 * The one argument parser of the `mailbox` command: `node:util` `parseArgs` with `strict: true`.
 * Every command declares its options; an unknown flag, a missing or empty value, or a stray
 * positional is a UsageError (exit 2), never a default. `--help` / `-h` is added to every
 * command: it prints the command's usage to stdout and the command does nothing else.
 */
import { parseArgs } from 'node:util';

/** Wrong command-line input: main.ts prints `mailbox <command>: <message>` and the usage line, exit 2. */
export class UsageError extends Error {
  constructor(
    readonly command: string,
    message: string,
    readonly usage: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

export interface CommandSpec<O extends OptionSpecs> {
  /** Names the command in messages: `tree`, `token mint`. */
  command: string;
  /** The synopsis (`usage: mailbox tree [--admin URL] [--json]`), printed with every usage error. */
  usage: string;
  /** Printed after the synopsis by --help. */
  details?: string;
  options: O;
  /** How many positionals the command takes; default none. */
  positionals?: { min: number; max: number };
}

type Value<S extends OptionSpec> = S['type'] extends 'boolean' ? (S['multiple'] extends true ? boolean[] : boolean) : S['multiple'] extends true ? string[] : string;

export type Values<O extends OptionSpecs> = { [K in keyof O]?: Value<O[K]> };

export interface Parsed<O extends OptionSpecs> {
  values: Values<O>;
  positionals: string[];
}

export function usageError(spec: CommandSpec<OptionSpecs>, message: string): UsageError {
  return new UsageError(spec.command, message, spec.usage);
}

/** The full --help text of a command. */
export function helpText(spec: CommandSpec<OptionSpecs>): string {
  return `${spec.usage}\n${spec.details ? `\n${spec.details.replace(/\n*$/, '\n')}` : ''}`;
}

/** A known option close to an unknown one (`--ops` → `--op`), for the error message. */
function suggestion(unknown: string, known: readonly string[]): string {
  const near = known.find((k) => k !== 'help' && (unknown.startsWith(k) || k.startsWith(unknown)));
  return near ? ` (did you mean --${near}?)` : '';
}

/**
 * Parses `argv` against the command's options. Returns undefined after printing the help when
 * --help or -h was given: the caller returns at once. Throws UsageError for anything else wrong.
 */
export function parseCommand<O extends OptionSpecs>(spec: CommandSpec<O>, argv: readonly string[]): Parsed<O> | undefined {
  const options: Record<string, OptionSpec> = { ...spec.options, help: { type: 'boolean', short: 'h' } };
  const allow = spec.positionals ?? { min: 0, max: 0 };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: allow.max > 0 });
  } catch (err) {
    const e = err as Error & { code?: string };
    if (!e.code?.startsWith('ERR_PARSE_ARGS_')) throw err;
    // Node's first sentence says what is wrong ("Unknown option '--ops'"); the rest is advice about `--`.
    let message = e.message.split('\n')[0]!.replace(/\. (This command|To specify).*$/, '').replace(/\.$/, '');
    const unknown = /^Unknown option '--([^']+)'/.exec(message);
    if (unknown) message += suggestion(unknown[1]!, Object.keys(spec.options));
    throw usageError(spec, message);
  }
  if (parsed.values.help === true) {
    process.stdout.write(helpText(spec));
    return undefined;
  }
  for (const [name, value] of Object.entries(parsed.values)) {
    const values = Array.isArray(value) ? value : [value];
    if (values.some((v) => v === '')) throw usageError(spec, `--${name} needs a value, got an empty one`);
  }
  const { positionals } = parsed;
  if (positionals.length < allow.min) throw usageError(spec, `missing argument${allow.min - positionals.length > 1 ? 's' : ''}`);
  if (positionals.length > allow.max) throw usageError(spec, `unexpected argument ${JSON.stringify(positionals[allow.max])}`);
  const { help: _help, ...values } = parsed.values;
  return { values: values as Values<O>, positionals };
}

/** An integer option value; a malformed one is a usage error naming the flag. */
export function intValue(spec: CommandSpec<OptionSpecs>, name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw.replaceAll('_', ''));
  if (!Number.isSafeInteger(n)) throw usageError(spec, `--${name} must be an integer, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * A list option given as repeated flags and/or comma lists (`--op send --op recv`, `--op send,recv`):
 * every value is kept, in order. An empty item (`--op send,`) is a usage error: a list never
 * silently narrows to nothing.
 */
export function listValue(spec: CommandSpec<OptionSpecs>, name: string, raw: readonly string[] | undefined, separator = ','): string[] | undefined {
  if (raw === undefined) return undefined;
  const items = raw.flatMap((v) => v.split(separator).map((s) => s.trim()));
  if (items.some((s) => s === '')) throw usageError(spec, `--${name} has an empty item in ${JSON.stringify(raw.join(separator))}`);
  return items;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000 };

/** A duration option (`30s`, `500ms`, `2m`) in milliseconds; anything else is a usage error naming the flag. */
export function durationValue(spec: CommandSpec<OptionSpecs>, name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const m = /^(\d[\d_]*)(ms|s|m)$/.exec(raw.trim());
  const n = m ? Number(m[1]!.replaceAll('_', '')) * DURATION_UNITS[m[2]!]! : NaN;
  if (!Number.isSafeInteger(n)) throw usageError(spec, `--${name} must be a duration such as 30s, 500ms or 2m, got ${JSON.stringify(raw)}`);
  return n;
}
