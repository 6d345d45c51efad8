/**
 * `mailbox token mint [--op send,recv] [--topic T …] [--tenant HEX] [--ttl 3600s] [--quota N]`
 * `mailbox token attenuate TOKEN --op … | --topic … | --ttl … | --quota …` (offline, no key)
 * `mailbox token inspect TOKEN` (no verification; never prints a secret)
 * Minting reads the signing key from auth.keys or `<dataDir>/keys.json`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { attenuate, inspect, KeyRing, mint, parseCaveat, type Caveat } from '../auth/index.ts';
import { MailboxError } from '../errors.ts';
import { parseArgs, stringOption, type ParsedArgs } from './args.ts';
import { cliConfig } from './common.ts';

function parseTtl(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text);
  if (!m) throw new MailboxError('E_SCHEMA', `--ttl: expected a duration such as 900s, 1h or 7d, got ${JSON.stringify(text)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's') as 'ms'];
  return Number(m[1]) * unit;
}

/** Caveats from flags; repeatable --topic is given comma-free, one per flag or as a|b. */
function caveatsFrom(args: ParsedArgs): Caveat[] {
  const caveats: Caveat[] = [];
  const op = stringOption(args, 'op');
  if (op) caveats.push(parseCaveat(`op=${op}`));
  const topic = stringOption(args, 'topic');
  if (topic) for (const t of topic.split('|')) caveats.push(parseCaveat(`topic=${t}`));
  const tenant = stringOption(args, 'tenant');
  if (tenant) caveats.push(parseCaveat(`tenant=${tenant}`));
  const ttl = stringOption(args, 'ttl');
  if (ttl) caveats.push(parseCaveat(`expiry=${Date.now() + parseTtl(ttl)}`));
  const quota = stringOption(args, 'quota');
  if (quota) caveats.push(parseCaveat(`quota=${quota}`));
  return caveats;
}

async function ring(args: ParsedArgs): Promise<KeyRing> {
  const config = await cliConfig(args);
  if (Object.keys(config.auth.keys).length > 0) return KeyRing.fromConfig(config.auth);
  const file = join(config.dataDir, 'keys.json');
  const stored = JSON.parse(await readFile(file, 'utf8').catch(() => {
    throw new MailboxError('E_CONFIG', `no signing key: configure auth.keys or start the server once so it creates ${file}`);
  })) as { activeKid: string; keys: Record<string, string> };
  return KeyRing.fromConfig(stored);
}

export async function token(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const args = parseArgs(rest);
  switch (sub) {
    case 'mint':
      process.stdout.write(`${mint(await ring(args), { caveats: caveatsFrom(args) })}\n`);
      return;
    case 'attenuate': {
      let t = args.positionals[0];
      if (!t) throw new MailboxError('E_SCHEMA', 'usage: mailbox token attenuate TOKEN --op … --topic …');
      for (const c of caveatsFrom(args)) t = attenuate(t, c);
      process.stdout.write(`${t}\n`);
      return;
    }
    case 'inspect': {
      const t = args.positionals[0];
      if (!t) throw new MailboxError('E_SCHEMA', 'usage: mailbox token inspect TOKEN');
      process.stdout.write(`${JSON.stringify(inspect(t), null, 2)}\n`);
      return;
    }
    default:
      throw new MailboxError('E_SCHEMA', 'usage: mailbox token mint|attenuate|inspect …');
  }
}
