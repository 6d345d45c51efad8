/**
 * `mailbox token mint [--op send,recv] [--topic T …] [--tenant HEX] [--ttl 3600s] [--quota N]`
 * `mailbox token attenuate TOKEN --op … | --topic … | --ttl … | --quota …` (offline, no key)
 * `mailbox token inspect TOKEN` (no verification; never prints a secret)
 * `mailbox token revoke ID|TOKEN [--expires-at T]` (POST /admin/revoke on a running server)
 * Minting reads the signing key from auth.keys or `<dataDir>/keys.json`.
 * A flag the parser does not know, or a value it cannot use, is a usage error: the command
 * never prints a token wider than what was asked for.
 */
import { join } from 'node:path';
import { attenuate, inspect, KeyRing, mint, OPS, parseCaveat, parseTokenRef, TOKEN_PREFIX, type Caveat } from '../auth/index.ts';
import { topicMatcher } from '../auth/caveats.ts';
import { MailboxError } from '../errors.ts';
import { readKeyFile, ringFromKeyFile } from '../transport/key-file.ts';
import { listValue, parseCommand, usageError, type CommandSpec, type OptionSpecs, type Values } from './args.ts';
import { ADMIN_OPTIONS, CA_HELP, CONFIG_OPTIONS, adminHeaders, adminUrl, cliConfig, getJson, targetCa } from './common.ts';

const CAVEAT_OPTIONS = {
  op: { type: 'string', multiple: true },
  topic: { type: 'string', multiple: true },
  tenant: { type: 'string' },
  ttl: { type: 'string' },
  quota: { type: 'string' },
} as const satisfies OptionSpecs;

const CAVEAT_HELP = `  --op LIST        operations: send, recv, ack, nack (covers EXTEND), admin (implies all);
                   a comma list or repeated (--op send --op recv): one op caveat with all of them
  --topic T        an exact topic or a prefix ending in *; repeatable (or a|b): every value is
                   a caveat and caveats intersect, so the token allows only topics matching all
  --tenant HEX     the tenant the token acts for (32 hex digits; '*' = every tenant, for
                   operators); a token minted without it acts for the default tenant only
  --ttl D          lifetime: 900s, 15m, 1h, 7d (a number alone is seconds)
  --quota N        most SENDs per second for this token`;

const MINT_OPTIONS = { ...CAVEAT_OPTIONS, ...CONFIG_OPTIONS } as const;

const MINT: CommandSpec<typeof MINT_OPTIONS> = {
  command: 'token mint',
  usage: 'usage: mailbox token mint [--op LIST] [--topic T …] [--tenant HEX] [--ttl D] [--quota N] [--config FILE] [--data-dir D]',
  details: `Signs a new token with the active key (auth.keys, else <dataDir>/keys.json) and prints it.
Without caveats the token is an admin token for the default tenant (--tenant '*': every tenant).

${CAVEAT_HELP}
  --config FILE    configuration that names the key (default ./mailbox.config.ts if present)
  --data-dir D     where keys.json is`,
  options: MINT_OPTIONS,
};

const ATTENUATE: CommandSpec<typeof CAVEAT_OPTIONS> = {
  command: 'token attenuate',
  usage: 'usage: mailbox token attenuate TOKEN [--op LIST] [--topic T …] [--tenant HEX] [--ttl D] [--quota N]',
  details: `Appends caveats to TOKEN (no key needed) and prints the narrower token.

${CAVEAT_HELP}`,
  options: CAVEAT_OPTIONS,
  positionals: { min: 1, max: 1 },
};

const INSPECT: CommandSpec<Record<never, never>> = {
  command: 'token inspect',
  usage: 'usage: mailbox token inspect TOKEN',
  details: 'Prints the KID and caveats of TOKEN as JSON. Verifies nothing and prints no secret.',
  options: {},
  positionals: { min: 1, max: 1 },
};

const REVOKE_OPTIONS = { ...ADMIN_OPTIONS, 'expires-at': { type: 'string' } } as const;

const REVOKE: CommandSpec<typeof REVOKE_OPTIONS> = {
  command: 'token revoke',
  usage: 'usage: mailbox token revoke ID|TOKEN [--expires-at T] [--admin URL] [--ca FILE] [--token T | --token-file F] [--config FILE] [--data-dir D]',
  details: `Revokes a token on a running server (POST /admin/revoke): from the next request on, on
every connection, the token and every token attenuated from it (they share its id) fail with
E_CAP_AUTH. Kept in <dataDir>/revoked.json (amnesia: in memory) until the token has expired.

  ID               the token id: 32 hex digits, or id@KID as the logs and \`token inspect\` show
                   it; or the TOKEN itself (read here, never sent: only its id, KID and expiry go)
  --expires-at T   when the entry may go (ISO 8601 such as 2026-12-31T00:00:00Z, or ms since the
                   epoch); default the token's own expiry when known, else it stays until its
                   key is dropped
  --admin URL      the admin port, default http://<metricsAddr> of the configuration
${CA_HELP}
  --token T        an admin token for every tenant (else MAILBOX_TOKEN, --token-file /
                   MAILBOX_TOKEN_FILE, <dataDir>/admin.token)
  --config FILE    the configuration the server runs with (default ./mailbox.config.ts if present)
  --data-dir D     its data directory`,
  options: REVOKE_OPTIONS,
  positionals: { min: 1, max: 1 },
};

const TOKEN: CommandSpec<Record<never, never>> = {
  command: 'token',
  usage: 'usage: mailbox token mint|attenuate|inspect|revoke … (mailbox token <sub> --help for its options)',
  options: {},
};

function parseTtl(spec: CommandSpec<OptionSpecs>, text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text);
  if (!m) throw usageError(spec, `--ttl: expected a duration such as 900s, 1h or 7d, got ${JSON.stringify(text)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's') as 'ms'];
  const ms = Number(m[1]) * unit;
  if (ms <= 0) throw usageError(spec, `--ttl must be longer than 0, got ${JSON.stringify(text)}`);
  return ms;
}

/** One caveat from `kind=value`; a value the grammar refuses is a usage error naming the flag. */
function caveat(spec: CommandSpec<OptionSpecs>, flag: string, text: string): Caveat {
  try {
    return parseCaveat(text);
  } catch (err) {
    if (err instanceof MailboxError) throw usageError(spec, `--${flag}: ${JSON.stringify(text.slice(text.indexOf('=') + 1))} is not valid`);
    throw err;
  }
}

/** Whether any topic satisfies every pattern (caveats intersect: a token can only narrow). */
function topicsMeet(patterns: readonly string[]): boolean {
  const matchers = patterns.map(topicMatcher);
  const exact = [...new Set(matchers.filter((m) => m.kind === 'exact').map((m) => m.value))];
  const prefixes = matchers.filter((m) => m.kind === 'prefix').map((m) => m.value);
  if (exact.length > 1) return false;
  if (exact.length === 1) return prefixes.every((p) => exact[0]!.startsWith(p));
  const longest = prefixes.reduce((a, b) => (b.length > a.length ? b : a), '');
  return prefixes.every((p) => longest.startsWith(p));
}

/** Caveats from flags. Every value of a repeated flag is kept; nothing given means no caveat of that kind. */
function caveatsFrom(spec: CommandSpec<OptionSpecs>, v: Values<typeof CAVEAT_OPTIONS>): Caveat[] {
  const caveats: Caveat[] = [];
  const ops = listValue(spec, 'op', v.op);
  if (ops) {
    const bad = ops.filter((o) => !(OPS as readonly string[]).includes(o));
    if (bad.length > 0) throw usageError(spec, `--op: unknown operation ${bad.map((b) => JSON.stringify(b)).join(', ')} (${OPS.join(', ')})`);
    caveats.push(caveat(spec, 'op', `op=${ops.join(',')}`));
  }
  const topics = listValue(spec, 'topic', v.topic, '|');
  if (topics) {
    for (const t of topics) caveats.push(caveat(spec, 'topic', `topic=${t}`));
    if (!topicsMeet(topics)) {
      throw usageError(spec, `--topic: no topic matches all of ${topics.join(', ')} (each --topic narrows the token; a token cannot widen)`);
    }
  }
  if (v.tenant !== undefined) caveats.push(caveat(spec, 'tenant', `tenant=${v.tenant}`));
  if (v.ttl !== undefined) caveats.push(caveat(spec, 'ttl', `expiry=${Date.now() + parseTtl(spec, v.ttl)}`));
  if (v.quota !== undefined) caveats.push(caveat(spec, 'quota', `quota=${v.quota}`));
  return caveats;
}

async function ring(flags: Values<typeof CONFIG_OPTIONS>): Promise<KeyRing> {
  const config = await cliConfig(flags);
  if (Object.keys(config.auth.keys).length > 0) return KeyRing.fromConfig(config.auth);
  const file = join(config.dataDir, 'keys.json');
  // readKeyFile's errors name the file, never quote it (JSON.parse's would quote the secrets).
  const stored = await readKeyFile(file);
  if (stored === undefined) throw new MailboxError('E_CONFIG', `no signing key: configure auth.keys or start the server once so it creates ${file}`);
  return ringFromKeyFile(stored, Date.now());
}

/** What `token revoke` sends: the id (and the KID and expiry when the token itself was given). Never the token. */
function revocationOf(arg: string, expiresAt: string | undefined): { id: string; expiresAt?: number } {
  let id: string;
  let expiry: number | undefined;
  if (arg.startsWith(TOKEN_PREFIX)) {
    let info: ReturnType<typeof inspect>;
    try {
      info = inspect(arg);
    } catch {
      throw usageError(REVOKE, 'the argument starts like a token but is not a well-formed one');
    }
    id = `${info.tokenId}@${info.kid}`;
    const expiries = info.caveats.flatMap((c) => (c.kind === 'expiry' ? [c.at] : []));
    if (expiries.length > 0) expiry = Math.min(...expiries);
  } else {
    try {
      const ref = parseTokenRef(arg);
      id = ref.kid === undefined ? ref.id : `${ref.id}@${ref.kid}`;
    } catch (err) {
      if (err instanceof MailboxError) throw usageError(REVOKE, err.message);
      throw err;
    }
  }
  if (expiresAt !== undefined) {
    const ms = /^\d+$/.test(expiresAt) ? Number(expiresAt) : /^\d{4}-\d{2}-\d{2}/.test(expiresAt) ? Date.parse(expiresAt) : NaN;
    if (!Number.isSafeInteger(ms)) throw usageError(REVOKE, '--expires-at must be an ISO 8601 time such as 2026-12-31T00:00:00Z or ms since the epoch');
    expiry = ms;
  }
  return expiry === undefined ? { id } : { id, expiresAt: expiry };
}

export async function token(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'mint': {
      const args = parseCommand(MINT, rest);
      if (!args) return;
      // Caveats first: a usage error must not even read the key.
      const caveats = caveatsFrom(MINT, args.values);
      process.stdout.write(`${mint(await ring(args.values), { caveats })}\n`);
      return;
    }
    case 'attenuate': {
      const args = parseCommand(ATTENUATE, rest);
      if (!args) return;
      const caveats = caveatsFrom(ATTENUATE, args.values);
      if (caveats.length === 0) throw usageError(ATTENUATE, 'nothing to add: give at least one of --op, --topic, --tenant, --ttl, --quota');
      let t = args.positionals[0]!;
      for (const c of caveats) t = attenuate(t, c);
      process.stdout.write(`${t}\n`);
      return;
    }
    case 'inspect': {
      const args = parseCommand(INSPECT, rest);
      if (!args) return;
      process.stdout.write(`${JSON.stringify(inspect(args.positionals[0]!), null, 2)}\n`);
      return;
    }
    case 'revoke': {
      const args = parseCommand(REVOKE, rest);
      if (!args) return;
      const body = revocationOf(args.positionals[0]!, args.values['expires-at']);
      const url = `${await adminUrl(REVOKE, args.values)}/admin/revoke`;
      const headers = { ...(await adminHeaders(args.values)), 'content-type': 'application/json' };
      const answer = (await getJson(url, { method: 'POST', headers, body: JSON.stringify(body), ca: await targetCa(args.values) })) as {
        revoked: { id: string; kid?: string; expiresAt?: number };
        savedTo: string;
      };
      const { revoked } = answer;
      const until = revoked.expiresAt === undefined ? 'until its key is dropped' : `until ${new Date(revoked.expiresAt).toISOString()}`;
      process.stdout.write(`revoked ${revoked.id}@${revoked.kid ?? '?'} ${until} (kept in ${answer.savedTo})\n`);
      return;
    }
    case '--help':
    case '-h':
      process.stdout.write(`${TOKEN.usage}\n`);
      return;
    default:
      throw usageError(TOKEN, sub === undefined ? 'missing subcommand' : `unknown subcommand ${JSON.stringify(sub)}`);
  }
}
