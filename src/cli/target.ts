/**
 * Where a client finds the server and which token it presents, found the way `serve` finds
 * its configuration: one function for the CLI and the examples (`svc-mailbox/target`).
 *
 * @example
 * const { url, token } = await clientTarget();
 * const client = await MailboxClient.connect(url, { token });
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../config/load.ts';
import type { MailboxConfig } from '../config/config.ts';
import { MailboxError } from '../errors.ts';

export interface ConfigFlags {
  config?: string;
  'data-dir'?: string;
}

/** The configuration the server was started with: --config, RON_CONFIG and env, as `serve` reads them. */
export async function cliConfig(flags: ConfigFlags = {}, env: NodeJS.ProcessEnv = process.env): Promise<MailboxConfig> {
  const file = flags.config ?? 'mailbox.config.ts';
  const exists = await readFile(file).then(() => true, () => false);
  if (flags.config !== undefined && !exists) throw new MailboxError('E_CONFIG', `cannot read configuration file ${flags.config}`);
  return loadConfig({ env, flags: flags['data-dir'] ? { dataDir: flags['data-dir'] } : {}, ...(exists ? { file } : {}) });
}

/** Where a client finds the server and what it presents: the same rules for the CLI and the examples. */
export interface ClientTarget {
  url: string;
  token: string;
  /** The CA file's PEM (--ca) a wss:// server's certificate is checked against; absent: Node's default CAs. */
  ca?: Buffer;
}

export interface TargetFlags extends ConfigFlags {
  url?: string;
  token?: string;
  'token-file'?: string;
  ca?: string;
}

/** --url, else MAILBOX_URL, else `ws://<listen>` of the configuration (`wss://` when it has tls). */
export async function targetUrl(flags: TargetFlags = {}, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const given = flags.url ?? env.MAILBOX_URL;
  if (given) return given;
  const config = await cliConfig(flags, env);
  return `${config.tls.certFile ? 'wss' : 'ws'}://${config.listen}`;
}

/** The PEM of --ca FILE, or undefined without it; a file that cannot be read is E_CONFIG naming it. */
export async function targetCa(flags: { ca?: string | undefined }): Promise<Buffer | undefined> {
  if (flags.ca === undefined) return undefined;
  try {
    return await readFile(flags.ca);
  } catch (err) {
    throw new MailboxError('E_CONFIG', `--ca ${flags.ca} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/**
 * --token, else MAILBOX_TOKEN, else the file --token-file or MAILBOX_TOKEN_FILE names, else
 * auth.adminTokenFile, else `<dataDir>/admin.token` (written by the server on first start).
 */
export async function targetToken(flags: TargetFlags = {}, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const direct = (flags.token ?? env.MAILBOX_TOKEN)?.trim();
  if (direct) return direct;
  let file = flags['token-file'] ?? (env.MAILBOX_TOKEN_FILE || undefined);
  if (file === undefined) {
    const config = await cliConfig(flags, env);
    file = config.auth.adminTokenFile || join(config.dataDir, 'admin.token');
  }
  let text: string;
  try {
    text = (await readFile(file, 'utf8')).trim();
  } catch {
    throw new MailboxError('E_CAP_AUTH', `no token: pass --token, set MAILBOX_TOKEN, or point --token-file (MAILBOX_TOKEN_FILE) at a token (looked in ${file})`);
  }
  if (text === '') throw new MailboxError('E_CAP_AUTH', `no token: ${file} is empty`);
  return text;
}

/**
 * The WebSocket URL and token a client should use, found the way the CLI finds them (the
 * configuration is mailbox.config.ts in the working directory or --config, RON_CONFIG and the
 * MAILBOX_* variables, as `serve` reads it). The examples use this too.
 */
export async function clientTarget(flags: TargetFlags = {}, env: NodeJS.ProcessEnv = process.env): Promise<ClientTarget> {
  const ca = await targetCa(flags);
  return { url: await targetUrl(flags, env), token: await targetToken(flags, env), ...(ca ? { ca } : {}) };
}

