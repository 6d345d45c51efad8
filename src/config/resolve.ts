/**
 * Merges configuration layers (defaults < file < environment < flags) and validates the
 * result once. An invalid value fails with E_CONFIG naming the key.
 */
import { MailboxError } from '../errors.ts';
import { DEFAULT_CONFIG, type DeepPartial, type MailboxConfig } from './config.ts';

type Rule =
  | { kind: 'int'; min: number; max: number }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'bool' }
  | { kind: 'string'; allowEmpty?: boolean }
  | { kind: 'addr' }
  | { kind: 'addrs' }
  | { kind: 'keys' };

const MS_DAY = 86_400_000;

/** Every key with its rule; docs/CONFIGURATION.md lists the same keys. */
export const CONFIG_RULES: Record<string, Rule> = {
  profile: { kind: 'enum', values: ['macronode', 'micronode'] },
  amnesia: { kind: 'bool' },
  dataDir: { kind: 'string' },
  backupDir: { kind: 'string', allowEmpty: true },
  durability: { kind: 'enum', values: ['sync', 'relaxed'] },
  store: { kind: 'enum', values: ['level', 'redis'] },
  'redis.url': { kind: 'string' },
  'redis.cluster': { kind: 'addrs' },
  'redis.prefix': { kind: 'string' },
  'redis.shared': { kind: 'bool' },
  'redis.waitReplicas': { kind: 'int', min: 0, max: 100 },
  'redis.waitTimeoutMs': { kind: 'int', min: 1, max: 60_000 },
  shards: { kind: 'int', min: 1, max: 256 },
  listen: { kind: 'addr' },
  metricsAddr: { kind: 'addr' },
  maxConnections: { kind: 'int', min: 1, max: 1_000_000 },
  helloTimeoutMs: { kind: 'int', min: 10, max: 600_000 },
  logLevel: { kind: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
  'queue.replayWindowMs': { kind: 'int', min: 1_000, max: 7 * MS_DAY },
  'queue.maxAttempts': { kind: 'int', min: 1, max: 1_000 },
  'queue.backoffBaseMs': { kind: 'int', min: 0, max: 3_600_000 },
  'queue.backoffMaxMs': { kind: 'int', min: 0, max: MS_DAY },
  'queue.defaultVisibilityMs': { kind: 'int', min: 10, max: MS_DAY },
  'queue.maxVisibilityMs': { kind: 'int', min: 10, max: 7 * MS_DAY },
  'queue.shardCapacity': { kind: 'int', min: 1, max: 1_000_000_000 },
  'queue.maxInflight': { kind: 'int', min: 1, max: 100_000_000 },
  'queue.dedupCapacity': { kind: 'int', min: 1, max: 1_000_000_000 },
  'queue.readyWindow': { kind: 'int', min: 1, max: 1_000_000 },
  'queue.residentBudget': { kind: 'int', min: 1, max: 100_000_000 },
  'queue.dedupResident': { kind: 'int', min: 1, max: 100_000_000 },
  'queue.hotPayloadBytes': { kind: 'int', min: 0, max: 1_073_741_824 },
  'queue.maxPayloadBytes': { kind: 'int', min: 1, max: 1024 * 1024 - 1024 },
  'queue.reprocessPerSecond': { kind: 'int', min: 1, max: 1_000_000 },
  'quota.sendPerSecond': { kind: 'int', min: 0, max: 100_000_000 },
  'quota.burst': { kind: 'int', min: 0, max: 100_000_000 },
  policyFile: { kind: 'string', allowEmpty: true },
  'supervision.intensity': { kind: 'int', min: 0, max: 1_000_000 },
  'supervision.periodMs': { kind: 'int', min: 1, max: MS_DAY },
  'supervision.restartBaseMs': { kind: 'int', min: 0, max: 3_600_000 },
  'supervision.restartMaxMs': { kind: 'int', min: 0, max: MS_DAY },
  'supervision.resetAfterMs': { kind: 'int', min: 1, max: MS_DAY },
  'auth.keys': { kind: 'keys' },
  'auth.activeKid': { kind: 'string' },
  'auth.capCacheTtlMs': { kind: 'int', min: 0, max: 3_600_000 },
  'auth.adminTokenFile': { kind: 'string', allowEmpty: true },
  drainTimeoutMs: { kind: 'int', min: 0, max: 3_600_000 },
  overloadLagMs: { kind: 'int', min: 0, max: 60_000 },
  overloadCommitMs: { kind: 'int', min: 0, max: 60_000 },
  // The floor is 1 s (not a minute) so tests and drills can watch retention act; production horizons are days.
  'retention.readyMs': { kind: 'int', min: 1_000, max: 365 * MS_DAY },
  'retention.dlqMs': { kind: 'int', min: 1_000, max: 365 * MS_DAY },
  'chaos.enabled': { kind: 'bool' },
  'tls.certFile': { kind: 'string', allowEmpty: true },
  'tls.keyFile': { kind: 'string', allowEmpty: true },
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

const ADDR = /^[^\s:]*:\d{1,5}$/;

function isAddr(value: unknown): boolean {
  return typeof value === 'string' && ADDR.test(value) && Number(value.split(':').pop()) <= 65535;
}

function fail(key: string, message: string): never {
  throw new MailboxError('E_CONFIG', `invalid configuration: ${key} ${message}`);
}

function mergeInto(target: Record<string, unknown>, layer: Record<string, unknown>, prefix: string): void {
  for (const [k, v] of Object.entries(layer)) {
    if (v === undefined) continue;
    const key = prefix ? `${prefix}.${k}` : k;
    // Own properties only: `key in` would accept `constructor`, `toString`, `__proto__`.
    const isLeaf = Object.hasOwn(CONFIG_RULES, key);
    if (!isLeaf && !(Object.hasOwn(target, k) && isPlainObject(target[k]))) fail(key, 'is not a known key');
    if (!isLeaf) {
      if (!isPlainObject(v)) fail(key, 'must be an object');
      mergeInto(target[k] as Record<string, unknown>, v, key);
    } else {
      target[k] = isPlainObject(v) ? { ...v } : Array.isArray(v) ? [...v] : v;
    }
  }
}

function check(key: string, rule: Rule, value: unknown): void {
  switch (rule.kind) {
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) fail(key, `must be an integer, got ${JSON.stringify(value)}`);
      if (value < rule.min || value > rule.max) fail(key, `must be between ${rule.min} and ${rule.max}, got ${value}`);
      return;
    case 'enum':
      if (typeof value !== 'string' || !rule.values.includes(value)) fail(key, `must be one of ${rule.values.join(', ')}, got ${JSON.stringify(value)}`);
      return;
    case 'bool':
      if (typeof value !== 'boolean') fail(key, `must be true or false, got ${JSON.stringify(value)}`);
      return;
    case 'string':
      if (typeof value !== 'string' || (!rule.allowEmpty && value.length === 0)) fail(key, 'must be a non-empty string');
      return;
    case 'addr':
      if (!isAddr(value)) fail(key, `must be host:port, got ${JSON.stringify(value)}`);
      return;
    case 'addrs':
      if (!Array.isArray(value)) fail(key, `must be a list of host:port, got ${JSON.stringify(value)}`);
      for (const entry of value) if (!isAddr(entry) || (entry as string).startsWith(':')) fail(key, `must be a list of host:port, got ${JSON.stringify(entry)}`);
      return;
    case 'keys':
      if (!isPlainObject(value)) fail(key, 'must map KIDs to base64 secrets');
      for (const [kid, secret] of Object.entries(value)) {
        if (typeof secret !== 'string' || Buffer.from(secret, 'base64').length < 32) fail(`${key}.${kid}`, 'must be a base64 secret of at least 32 bytes');
      }
      return;
  }
}

function lookup(obj: Record<string, unknown>, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) cur = isPlainObject(cur) ? cur[part] : undefined;
  return cur;
}

/** Defaults, then each layer in order (later wins), then validation. */
export function resolveConfig(...layers: Array<DeepPartial<MailboxConfig> | undefined>): MailboxConfig {
  const merged = structuredClone(DEFAULT_CONFIG) as unknown as Record<string, unknown>;
  for (const layer of layers) if (layer) {
    if (!isPlainObject(layer)) fail('(root)', 'must be an object');
    mergeInto(merged, layer as Record<string, unknown>, '');
  }
  const config = merged as unknown as MailboxConfig;
  if (config.profile === 'micronode') config.amnesia = true;
  for (const [key, rule] of Object.entries(CONFIG_RULES)) check(key, rule, lookup(merged, key));
  if (config.queue.backoffMaxMs < config.queue.backoffBaseMs) fail('queue.backoffMaxMs', 'must be at least queue.backoffBaseMs');
  if (config.supervision.restartMaxMs < config.supervision.restartBaseMs) fail('supervision.restartMaxMs', 'must be at least supervision.restartBaseMs');
  if (config.queue.defaultVisibilityMs > config.queue.maxVisibilityMs) fail('queue.defaultVisibilityMs', 'must not exceed queue.maxVisibilityMs');
  if (config.store === 'redis') {
    if (config.amnesia) fail('store', 'redis cannot be combined with amnesia (micronode keeps nothing outside RAM)');
    if (!/^[^{}\s]+$/.test(config.redis.prefix)) fail('redis.prefix', `must have no braces or spaces, got ${JSON.stringify(config.redis.prefix)}`);
    if (config.redis.cluster.length === 0 && !/^rediss?:\/\//.test(config.redis.url)) fail('redis.url', 'must start with redis:// or rediss://');
    if (config.redis.cluster.length > 0 && config.redis.waitReplicas > 0) fail('redis.waitReplicas', 'is for one Redis; with redis.cluster it is not supported yet');
    if (config.redis.shared && config.redis.waitReplicas > 0) fail('redis.waitReplicas', 'is for the owned mode; with redis.shared it is not supported yet');
  }
  // Half a TLS setup would serve plain text where the operator expects encryption.
  if (config.tls.certFile !== '' && config.tls.keyFile === '') fail('tls.keyFile', 'must be set when tls.certFile is (both or neither)');
  if (config.tls.keyFile !== '' && config.tls.certFile === '') fail('tls.certFile', 'must be set when tls.keyFile is (both or neither)');
  if (Object.keys(config.auth.keys).length > 0 && !(config.auth.activeKid in config.auth.keys)) fail('auth.activeKid', `names no key in auth.keys`);
  return config;
}
