/**
 * The environment layer of the configuration. The runbook's short names (`MAILBOX_LISTEN`,
 * `METRICS_ADDR`, `AMNESIA`, `LOG_LEVEL`) plus `MAILBOX_<KEY>` for every key, nested keys
 * joined by `__` (`MAILBOX_QUEUE__MAX_ATTEMPTS` → `queue.maxAttempts`). A `MAILBOX_` variable
 * that names no key, or a value that does not parse, fails with E_CONFIG naming the variable.
 */
import { MailboxError } from '../errors.ts';
import type { DeepPartial, MailboxConfig } from './config.ts';
import { CONFIG_RULES } from './resolve.ts';

export type Env = NodeJS.ProcessEnv | Record<string, string | undefined>;

type Rule = (typeof CONFIG_RULES)[string];

/** Names the configuration file to load. */
export const CONFIG_FILE_VAR = 'RON_CONFIG';
export const ENV_PREFIX = 'MAILBOX_';

/** Runbook names without the prefix → key. `AMNESIA` is handled apart (it also sets the profile). */
export const ENV_ALIASES: Readonly<Record<string, string>> = {
  METRICS_ADDR: 'metricsAddr',
  LOG_LEVEL: 'logLevel',
};

const AMNESIA_VAR = 'AMNESIA';

/** MAILBOX_ variables that belong to clients (SDK examples, the CLI), not to the server's configuration. */
export const CLIENT_VARS: ReadonlySet<string> = new Set(['MAILBOX_TOKEN', 'MAILBOX_TOKEN_FILE', 'MAILBOX_URL']);

function fail(name: string, message: string): never {
  throw new MailboxError('E_CONFIG', `invalid environment: ${name} ${message}`);
}

/** `QUEUE__MAX_ATTEMPTS` → `queue.maxAttempts`. */
export function envNameToKey(rest: string): string {
  return rest
    .split('__')
    .map((part) => part.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()))
    .join('.');
}

/** `queue.maxAttempts` → `MAILBOX_QUEUE__MAX_ATTEMPTS`. */
export function keyToEnvName(key: string): string {
  return ENV_PREFIX + key.split('.').map((part) => part.replace(/([A-Z])/g, '_$1').toUpperCase()).join('__');
}

const TRUE = new Set(['true', 'on', '1', 'yes']);
const FALSE = new Set(['false', 'off', '0', 'no']);

function parseBool(name: string, raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  return fail(name, `must be on or off (true/false), got ${JSON.stringify(raw)}`);
}

/** auth.keys: a JSON object `{"k1":"<base64>"}` or `k1=<base64>,k2=<base64>`. */
function parseKeys(name: string, raw: string): Record<string, string> {
  const text = raw.trim();
  if (text.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return fail(name, 'must be a JSON object of KID → base64 secret');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) fail(name, 'must be a JSON object of KID → base64 secret');
    return parsed as Record<string, string>;
  }
  const keys: Record<string, string> = {};
  for (const entry of text.split(',')) {
    if (entry.trim() === '') continue;
    const eq = entry.indexOf('=');
    if (eq <= 0) fail(name, 'must be kid=base64[,kid=base64…] or a JSON object');
    keys[entry.slice(0, eq).trim()] = entry.slice(eq + 1).trim();
  }
  return keys;
}

/** Parses one value by its key's rule. Ranges, enums and booleans are checked here so the error names the variable. */
function parseValue(name: string, rule: Rule, raw: string): unknown {
  switch (rule.kind) {
    case 'int': {
      const text = raw.trim();
      if (!/^-?\d(_?\d)*$/.test(text)) fail(name, `must be an integer, got ${JSON.stringify(raw)}`);
      const n = Number(text.replaceAll('_', ''));
      if (!Number.isSafeInteger(n) || n < rule.min || n > rule.max) fail(name, `must be between ${rule.min} and ${rule.max}, got ${text}`);
      return n;
    }
    case 'enum': {
      const value = raw.trim().toLowerCase();
      if (!rule.values.includes(value)) fail(name, `must be one of ${rule.values.join(', ')}, got ${JSON.stringify(raw)}`);
      return value;
    }
    case 'bool':
      return parseBool(name, raw);
    case 'string':
      return raw;
    case 'addr':
      return raw.trim();
    case 'addrs':
      return raw.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
    case 'keys':
      return parseKeys(name, raw);
  }
}

function setPath(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let cur = target;
  for (const part of parts.slice(0, -1)) {
    const next = cur[part];
    if (typeof next === 'object' && next !== null) cur = next as Record<string, unknown>;
    else cur = cur[part] = {};
  }
  cur[parts[parts.length - 1]!] = value;
}

/** Which variable set which key: for messages and `mailbox config --explain`-style output. */
export type EnvSources = Map<string, string>;

/**
 * The configuration layer the environment describes. Unrelated variables (not `MAILBOX_*`
 * and not a runbook name) are ignored; `RON_CONFIG` is read by {@link configFileFromEnv}.
 */
export function configFromEnv(env: Env, sources: EnvSources = new Map()): DeepPartial<MailboxConfig> {
  const layer: Record<string, unknown> = {};
  const assign = (name: string, key: string, value: unknown): void => {
    const earlier = sources.get(key);
    if (earlier !== undefined && JSON.stringify(readPath(layer, key)) !== JSON.stringify(value)) {
      fail(name, `conflicts with ${earlier} (both set ${key})`);
    }
    sources.set(key, earlier ?? name);
    setPath(layer, key, value);
  };

  for (const name of Object.keys(env).sort()) {
    const raw = env[name];
    // An empty variable counts as unset (`LOG_LEVEL= mailbox serve`), except where a key allows ''.
    if (raw === undefined || (raw === '' && !allowsEmpty(name))) continue;
    if (name === AMNESIA_VAR) {
      const on = parseBool(name, raw);
      assign(name, 'amnesia', on);
      // micronode is the RAM-only profile; off names the durable one so a file's micronode cannot override it
      assign(name, 'profile', on ? 'micronode' : 'macronode');
      continue;
    }
    const alias = ENV_ALIASES[name];
    if (alias !== undefined) {
      assign(name, alias, parseValue(name, CONFIG_RULES[alias]!, raw));
      continue;
    }
    if (!name.startsWith(ENV_PREFIX) || CLIENT_VARS.has(name)) continue;
    const rest = name.slice(ENV_PREFIX.length);
    const key = envNameToKey(rest);
    if (rest === '' || !/^[A-Z0-9_]+$/.test(rest) || !Object.hasOwn(CONFIG_RULES, key)) {
      fail(name, 'names no configuration key (see docs/CONFIGURATION.md)');
    }
    assign(name, key, parseValue(name, CONFIG_RULES[key]!, raw));
  }
  return layer as DeepPartial<MailboxConfig>;
}

function allowsEmpty(name: string): boolean {
  if (!name.startsWith(ENV_PREFIX)) return false;
  const key = envNameToKey(name.slice(ENV_PREFIX.length));
  if (!Object.hasOwn(CONFIG_RULES, key)) return false;
  const rule = CONFIG_RULES[key]!;
  return rule.kind === 'string' && rule.allowEmpty === true;
}

function readPath(obj: Record<string, unknown>, key: string): unknown {
  let cur: unknown = obj;
  for (const part of key.split('.')) cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[part] : undefined;
  return cur;
}

/** The configuration file the environment names (`RON_CONFIG`), if any. */
export function configFileFromEnv(env: Env): string | undefined {
  const file = env[CONFIG_FILE_VAR];
  return file === undefined || file === '' ? undefined : file;
}
