/** What several subcommands share: where the running server is and which token to use. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../config/load.ts';
import type { MailboxConfig } from '../config/config.ts';
import { MailboxError } from '../errors.ts';
import { stringOption, type ParsedArgs } from './args.ts';

/** The configuration the server was started with: --config, RON_CONFIG and env, as `serve` reads them. */
export async function cliConfig(args: ParsedArgs): Promise<MailboxConfig> {
  const file = stringOption(args, 'config') ?? 'mailbox.config.ts';
  const exists = await readFile(file).then(() => true, () => false);
  const flags = stringOption(args, 'data-dir') ? { dataDir: stringOption(args, 'data-dir')! } : {};
  return loadConfig({ env: process.env, flags, ...(exists ? { file } : {}) });
}

export async function adminUrl(args: ParsedArgs): Promise<string> {
  const explicit = stringOption(args, 'admin');
  if (explicit) return explicit.replace(/\/$/, '');
  return `http://${(await cliConfig(args)).metricsAddr}`;
}

export async function wsUrl(args: ParsedArgs): Promise<string> {
  return stringOption(args, 'url') ?? `ws://${(await cliConfig(args)).listen}`;
}

/** --token, else MAILBOX_TOKEN, else --token-file, else the first-start admin token file. */
export async function token(args: ParsedArgs): Promise<string> {
  const direct = stringOption(args, 'token') ?? process.env.MAILBOX_TOKEN;
  if (direct) return direct.trim();
  const config = await cliConfig(args);
  const file = stringOption(args, 'token-file') ?? (config.auth.adminTokenFile || join(config.dataDir, 'admin.token'));
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    throw new MailboxError('E_CAP_AUTH', `no token: pass --token, set MAILBOX_TOKEN, or point --token-file at a token (looked in ${file})`);
  }
}

export async function getJson(url: string, init?: RequestInit): Promise<unknown> {
  const res = await fetch(url, init);
  const body = (await res.json()) as unknown;
  if (!res.ok) {
    const e = body as { code?: string; message?: string };
    throw new Error(`${url}: HTTP ${res.status} ${e.code ?? ''} ${e.message ?? JSON.stringify(body)}`);
  }
  return body;
}
