/**
 * The governance policy: per-tenant SEND quotas and time-boxed presets, as one JSON document
 * an operator edits and reloads. Pure: parsing, strict validation (every unknown key and bad
 * value is an error naming its key and line), the limits in force for a tenant at a time, and
 * a diff of two policies for the audit log.
 *
 * ```json
 * {
 *   "defaults": { "sendPerSecond": 0, "sendBytesPerSecond": 0, "burstSeconds": 1 },
 *   "tenants": { "<32 hex digits>": { "sendPerSecond": 500, "sendBytesPerSecond": 1048576, "maxQueued": 100000, "maxOpenLeases": 1000 } },
 *   "presets": { "brownout-1": { "scale": 0.5, "expiresAt": "2026-12-03T16:00:00Z" } }
 * }
 * ```
 *
 * A rate or bound of 0 means unlimited. `burstSeconds`: a bucket holds that many seconds of its
 * rate. `maxQueued` bounds the messages a tenant holds (ready, delayed and leased, every topic
 * and shard), `maxOpenLeases` its leases open at once. An active preset (now before its
 * `expiresAt`, at most 2 hours after it was loaded) scales every rate by `scale`, not the two
 * bounds (a brownout slows intake; it must not strand what is already queued); with several
 * active, the lowest scale wins.
 */

export interface TenantLimits {
  /** Messages per second; 0: unlimited. */
  sendPerSecond: number;
  /** Payload bytes per second; 0: unlimited. */
  sendBytesPerSecond: number;
  /** Seconds of rate a bucket holds (burst = rate × burstSeconds, at least one message). */
  burstSeconds: number;
  /** Messages the tenant may hold at once (ready + delayed + leased); 0: unlimited. */
  maxQueued: number;
  /** Leases the tenant may have open at once; 0: unlimited. */
  maxOpenLeases: number;
}

export interface Preset {
  /** Every rate is multiplied by this (0 < scale ≤ 1). */
  scale: number;
  /** Wall-clock ms after which the preset no longer applies. */
  expiresAt: number;
}

export interface Policy {
  defaults: TenantLimits;
  tenants: Record<string, Partial<TenantLimits>>;
  presets: Record<string, Preset>;
}

export interface PolicyProblem {
  /** JSON path of the offending key, e.g. `tenants.ab….sendPerSecond`. */
  key: string;
  /** 1-based line in the document, when it can be told. */
  line?: number;
  message: string;
}

export type PolicyResult = { ok: true; policy: Policy } | { ok: false; problems: PolicyProblem[] };

export const EMPTY_POLICY: Policy = { defaults: { sendPerSecond: 0, sendBytesPerSecond: 0, burstSeconds: 1, maxQueued: 0, maxOpenLeases: 0 }, tenants: {}, presets: {} };

/** Presets are emergency levers: one may last at most this long after the policy holding it is loaded. */
export const PRESET_MAX_MS = 2 * 3_600_000;

const LIMIT_KEYS: ReadonlyArray<keyof TenantLimits> = ['sendPerSecond', 'sendBytesPerSecond', 'burstSeconds', 'maxQueued', 'maxOpenLeases'];
/** Bounds count messages: whole numbers. */
const COUNT_KEYS: ReadonlySet<string> = new Set(['maxQueued', 'maxOpenLeases']);
const MAX_RATE = 1e9;
const TENANT_ID = /^[0-9a-f]{32}$/;
const PRESET_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** Parses and validates a policy document; `now` (wall-clock ms) bounds preset expiries. */
export function parsePolicy(text: string, now: number): PolicyResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const at = /position (\d+)/.exec(message);
    const problem: PolicyProblem = { key: '(document)', message: `not JSON: ${message}` };
    if (at) problem.line = lineOf(text, Number(at[1]));
    return { ok: false, problems: [problem] };
  }
  const problems: PolicyProblem[] = [];
  const report = (key: string, message: string): void => {
    const problem: PolicyProblem = { key, message };
    const line = lineOfKey(text, key);
    if (line !== undefined) problem.line = line;
    problems.push(problem);
  };
  const policy: Policy = { defaults: { ...EMPTY_POLICY.defaults }, tenants: {}, presets: {} };
  if (!isObject(doc)) return { ok: false, problems: [{ key: '(document)', line: 1, message: 'must be a JSON object' }] };
  for (const key of Object.keys(doc)) if (!['defaults', 'tenants', 'presets'].includes(key)) report(key, 'is not a known key (defaults, tenants, presets)');
  if (doc.defaults !== undefined) Object.assign(policy.defaults, limits(doc.defaults, 'defaults', report));
  if (doc.tenants !== undefined) {
    if (!isObject(doc.tenants)) report('tenants', 'must be an object of tenant id → limits');
    else {
      for (const [tenant, value] of Object.entries(doc.tenants)) {
        if (!TENANT_ID.test(tenant)) report(`tenants.${tenant}`, 'must be a tenant id: 32 lower-case hex digits');
        policy.tenants[tenant] = limits(value, `tenants.${tenant}`, report);
      }
    }
  }
  if (doc.presets !== undefined) {
    if (!isObject(doc.presets)) report('presets', 'must be an object of preset name → { scale, expiresAt }');
    else {
      for (const [name, value] of Object.entries(doc.presets)) {
        const key = `presets.${name}`;
        if (!PRESET_NAME.test(name)) report(key, 'must be a name of lower-case letters, digits and dashes');
        if (!isObject(value)) {
          report(key, 'must be { scale, expiresAt }');
          continue;
        }
        for (const k of Object.keys(value)) if (k !== 'scale' && k !== 'expiresAt') report(`${key}.${k}`, 'is not a known key (scale, expiresAt)');
        const scale = value.scale;
        if (typeof scale !== 'number' || !(scale > 0 && scale <= 1)) report(`${key}.scale`, `must be a number in (0, 1], got ${JSON.stringify(scale)}`);
        const expiresAt = typeof value.expiresAt === 'string' ? Date.parse(value.expiresAt) : NaN;
        if (!Number.isFinite(expiresAt)) report(`${key}.expiresAt`, `must be an ISO time such as "2026-12-03T16:00:00Z", got ${JSON.stringify(value.expiresAt)}`);
        else if (expiresAt > now + PRESET_MAX_MS) report(`${key}.expiresAt`, `is more than 2 hours away (${new Date(expiresAt).toISOString()}): a preset is an emergency lever, not a policy`);
        if (typeof scale === 'number' && Number.isFinite(expiresAt)) policy.presets[name] = { scale, expiresAt };
      }
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, policy };
}

/** The limits in force for `tenant` at `now`: its own over the defaults, scaled by the strictest active preset. */
export function limitsFor(policy: Policy, tenant: string, now: number): TenantLimits {
  const own = policy.tenants[tenant];
  const base: TenantLimits = own ? { ...policy.defaults, ...own } : { ...policy.defaults };
  const scale = activeScale(policy, now);
  if (scale === 1) return base;
  return { ...base, sendPerSecond: base.sendPerSecond * scale, sendBytesPerSecond: base.sendBytesPerSecond * scale };
}

/** The lowest scale of the presets still active at `now` (1: none). */
export function activeScale(policy: Policy, now: number): number {
  let scale = 1;
  for (const p of Object.values(policy.presets)) if (now < p.expiresAt) scale = Math.min(scale, p.scale);
  return scale;
}

/** Active presets with the ms they have left. */
export function activePresets(policy: Policy, now: number): Array<{ name: string; scale: number; leftMs: number }> {
  return Object.entries(policy.presets)
    .filter(([, p]) => now < p.expiresAt)
    .map(([name, p]) => ({ name, scale: p.scale, leftMs: p.expiresAt - now }));
}

/**
 * What changed between two policies, one line per key, for the audit log. Tenant ids are
 * shown by their first 8 digits (enough to find them, not a full identifier in every log).
 */
export function policyDiff(before: Policy, after: Policy): string[] {
  const flat = (p: Policy): Map<string, string> => {
    const out = new Map<string, string>();
    for (const k of LIMIT_KEYS) out.set(`defaults.${k}`, String(p.defaults[k]));
    for (const [t, l] of Object.entries(p.tenants)) for (const k of LIMIT_KEYS) if (l[k] !== undefined) out.set(`tenants.${t.slice(0, 8)}….${k}`, String(l[k]));
    for (const [n, pr] of Object.entries(p.presets)) out.set(`presets.${n}`, `scale ${pr.scale} until ${new Date(pr.expiresAt).toISOString()}`);
    return out;
  };
  const a = flat(before);
  const b = flat(after);
  const lines: string[] = [];
  for (const [k, v] of b) if (a.get(k) !== v) lines.push(a.has(k) ? `${k}: ${a.get(k)} → ${v}` : `${k}: + ${v}`);
  for (const [k, v] of a) if (!b.has(k)) lines.push(`${k}: - ${v}`);
  return lines.sort();
}

function limits(value: unknown, key: string, report: (key: string, message: string) => void): Partial<TenantLimits> {
  const out: Partial<TenantLimits> = {};
  if (!isObject(value)) {
    report(key, `must be an object of limits (${LIMIT_KEYS.join(', ')})`);
    return out;
  }
  for (const [k, v] of Object.entries(value)) {
    if (!(LIMIT_KEYS as readonly string[]).includes(k)) {
      report(`${key}.${k}`, `is not a known key (${LIMIT_KEYS.join(', ')})`);
      continue;
    }
    const min = k === 'burstSeconds' ? 0.001 : 0;
    if (COUNT_KEYS.has(k) && !(typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_RATE)) report(`${key}.${k}`, `must be a whole number from 0 to ${MAX_RATE}, got ${JSON.stringify(v)}`);
    else if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > MAX_RATE) report(`${key}.${k}`, `must be a number from ${min} to ${MAX_RATE}, got ${JSON.stringify(v)}`);
    else out[k as keyof TenantLimits] = v;
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function lineOf(text: string, position: number): number {
  let line = 1;
  for (let i = 0; i < position && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** The line of the last segment of `key` as a JSON key (`"name":`), the first match after its parents'. */
function lineOfKey(text: string, key: string): number | undefined {
  let from = 0;
  for (const part of key.split('.')) {
    const at = text.indexOf(`"${part}"`, from);
    if (at < 0) return undefined;
    from = at + part.length + 2;
  }
  return lineOf(text, from);
}
