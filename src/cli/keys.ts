/**
 * `mailbox keys rotate --grace 14d` (POST /admin/keys/rotate) and `mailbox keys list`
 * (GET /admin/keys): the running server's signing keys, by KID. A rotation makes a new key
 * active (32 random bytes, written to keys.json before it signs anything); the keys before it
 * verify until the grace ends, then are dropped. Nothing here ever prints a secret: the
 * server does not send one.
 */
import { parseCommand, usageError, type CommandSpec, type OptionSpecs } from './args.ts';
import { ADMIN_OPTIONS, CA_HELP, adminHeaders, adminUrl, getJson, targetCa } from './common.ts';

const ADMIN_HELP = `  --admin URL      the admin port, default http://<metricsAddr> of the configuration
${CA_HELP}
  --token T        an admin token for every tenant (else MAILBOX_TOKEN, --token-file /
                   MAILBOX_TOKEN_FILE, <dataDir>/admin.token)
  --config FILE    the configuration the server runs with (default ./mailbox.config.ts if present)
  --data-dir D     its data directory`;

const ROTATE_OPTIONS = { ...ADMIN_OPTIONS, grace: { type: 'string' } } as const;
const LIST_OPTIONS = { ...ADMIN_OPTIONS, json: { type: 'boolean' } } as const;

export const ROTATE: CommandSpec<typeof ROTATE_OPTIONS> = {
  command: 'keys rotate',
  usage: 'usage: mailbox keys rotate --grace D [--admin URL] [--ca FILE] [--token T | --token-file F] [--config FILE] [--data-dir D]',
  details: `Makes a new signing key active on a running server (POST /admin/keys/rotate): a new KID
(k1 → k2) with a new secret, saved to <dataDir>/keys.json (0600) before it signs anything.
Tokens of the keys before it keep verifying for --grace, then fail with E_CAP_AUTH and the
keys are dropped. The server rewrites its admin token file with the new key. Keys configured
in auth.keys are rotated in the configuration instead (docs/OPERATIONS.md, Tokens).

  --grace D        how long the old keys keep verifying: 14d, 12h, 30m, 90s, 0s (at once)
${ADMIN_HELP}`,
  options: ROTATE_OPTIONS,
};

export const LIST: CommandSpec<typeof LIST_OPTIONS> = {
  command: 'keys list',
  usage: 'usage: mailbox keys list [--json] [--admin URL] [--ca FILE] [--token T | --token-file F] [--config FILE] [--data-dir D]',
  details: `Lists a running server's signing keys (GET /admin/keys): KID, whether it is the active
one, when it was made and its age, and when its grace ends. Never a secret.

  --json           the answer as JSON
${ADMIN_HELP}`,
  options: LIST_OPTIONS,
};

const KEYS: CommandSpec<Record<never, never>> = {
  command: 'keys',
  usage: 'usage: mailbox keys rotate|list … (mailbox keys <sub> --help for its options)',
  options: {},
};

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `14d`, `12h`, `30m`, `90s`, `500ms`, `0s`: a unit is required (a bare number is ambiguous for a security setting). */
export function graceValue(spec: CommandSpec<OptionSpecs>, raw: string): number {
  const m = /^(\d[\d_]*)(ms|s|m|h|d)$/.exec(raw.trim());
  const ms = m ? Number(m[1]!.replaceAll('_', '')) * UNITS[m[2]!]! : NaN;
  if (!Number.isSafeInteger(ms)) throw usageError(spec, `--grace must be a duration such as 14d, 12h, 30m or 0s, got ${JSON.stringify(raw)}`);
  if (ms > 365 * UNITS.d!) throw usageError(spec, `--grace is at most 365d, got ${JSON.stringify(raw)}`);
  return ms;
}

/** `3d 4h`, `5m 2s`, `800ms`: the two largest units. */
export function formatAge(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const parts: string[] = [];
  let rest = Math.floor(ms / 1000);
  for (const [unit, size] of [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]] as const) {
    const n = Math.floor(rest / size);
    rest %= size;
    if (n > 0 || parts.length > 0) parts.push(`${n}${unit}`);
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

interface KeyView {
  kid: string;
  active: boolean;
  createdAt?: number;
  ageMs?: number;
  graceEndsAt?: number;
}

/** One line per key, no secret (there is none in the answer). */
export function renderKeys(keys: readonly KeyView[], now = Date.now()): string {
  const rows = [['KID', 'ACTIVE', 'CREATED', 'AGE', 'GRACE ENDS']];
  for (const k of keys) {
    const grace = k.graceEndsAt === undefined ? '-' : `${new Date(k.graceEndsAt).toISOString()} (${k.graceEndsAt > now ? `in ${formatAge(k.graceEndsAt - now)}` : 'ended'})`;
    rows.push([k.kid, k.active ? 'yes' : 'no', k.createdAt === undefined ? '-' : new Date(k.createdAt).toISOString(), k.ageMs === undefined ? '-' : formatAge(k.ageMs), grace]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return `${rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n')}\n`;
}

export async function keys(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'rotate': {
      const args = parseCommand(ROTATE, rest);
      if (!args) return;
      if (args.values.grace === undefined) throw usageError(ROTATE, '--grace is required (how long tokens of the current key keep verifying, e.g. --grace 14d)');
      const graceMs = graceValue(ROTATE, args.values.grace);
      const url = `${await adminUrl(ROTATE, args.values)}/admin/keys/rotate`;
      const headers = { ...(await adminHeaders(args.values)), 'content-type': 'application/json' };
      const answer = (await getJson(url, { method: 'POST', headers, body: JSON.stringify({ graceMs }), ca: await targetCa(args.values) })) as {
        active: string;
        previous: string;
        graceEndsAt: number;
      };
      process.stdout.write(`${answer.active} is the active signing key; tokens of ${answer.previous} (and older keys) verify until ${new Date(answer.graceEndsAt).toISOString()}\n`);
      return;
    }
    case 'list': {
      const args = parseCommand(LIST, rest);
      if (!args) return;
      const url = `${await adminUrl(LIST, args.values)}/admin/keys`;
      const answer = (await getJson(url, { headers: await adminHeaders(args.values), ca: await targetCa(args.values) })) as { active: string; keys: KeyView[] };
      process.stdout.write(args.values.json === true ? `${JSON.stringify(answer, null, 2)}\n` : renderKeys(answer.keys));
      return;
    }
    case '--help':
    case '-h':
      process.stdout.write(`${KEYS.usage}\n`);
      return;
    default:
      throw usageError(KEYS, sub === undefined ? 'missing subcommand' : `unknown subcommand ${JSON.stringify(sub)}`);
  }
}
