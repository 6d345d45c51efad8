/**
 * `<dataDir>/keys.json`, the signing keys of a server without `auth.keys`:
 *
 *   { "activeKid": "k2",
 *     "keys": { "k1": "<base64 secret>", "k2": "<base64 secret>" },
 *     "info": { "k1": { "createdAt": 1764700000000, "retireAt": 1765900000000 },
 *               "k2": { "createdAt": 1764770000000 } } }
 *
 * `activeKid` and `keys` are the shape `KeyRing.fromConfig` takes (older files have only
 * these); `info` says when a key was made and, for a key a rotation replaced, when its grace
 * ends (wall-clock ms). A file that cannot be read or makes no valid ring is `E_CONFIG` naming
 * the path, never quoting it: the server then does not start, so nothing verifies (fail closed).
 */
import { KeyRing } from '../auth/index.ts';
import { MailboxError } from '../errors.ts';
import { readPrivateJson, writePrivateAtomic } from './private-json.ts';

export interface KeyInfoRecord {
  createdAt?: number;
  retireAt?: number;
}

export interface KeyFileData {
  activeKid: string;
  keys: Record<string, string>;
  info: Record<string, KeyInfoRecord>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalTime(value: unknown): number | undefined | false {
  if (value === undefined) return undefined;
  return Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : false;
}

/** Checks the shape of a parsed keys.json; the message names the file and the field, not a value. */
export function parseKeyFile(value: unknown, path: string): KeyFileData {
  const bad = (why: string): never => {
    throw new MailboxError('E_CONFIG', `signing key file ${path} ${why}; restore it from a backup (mailbox restore) or remove it to start with a new key (every token then fails)`);
  };
  if (!isRecord(value)) return bad('is not a JSON object');
  const { activeKid, keys, info = {} } = value;
  if (typeof activeKid !== 'string') return bad('has no activeKid');
  if (!isRecord(keys) || !Object.values(keys).every((s) => typeof s === 'string')) return bad('has no keys object of KID → base64 secret');
  if (!Object.hasOwn(keys, activeKid)) return bad(`names activeKid ${JSON.stringify(activeKid)} but holds no such key`);
  if (!isRecord(info)) return bad('has an info field that is not an object');
  const records: Record<string, KeyInfoRecord> = {};
  for (const [kid, raw] of Object.entries(info)) {
    if (!Object.hasOwn(keys, kid)) continue;
    if (!isRecord(raw)) return bad(`has info for ${JSON.stringify(kid)} that is not an object`);
    const createdAt = optionalTime(raw.createdAt);
    const retireAt = optionalTime(raw.retireAt);
    if (createdAt === false || retireAt === false) return bad(`has info for ${JSON.stringify(kid)} with a time that is not ms since the epoch`);
    records[kid] = { ...(createdAt !== undefined ? { createdAt } : {}), ...(retireAt !== undefined && kid !== activeKid ? { retireAt } : {}) };
  }
  return { activeKid, keys: keys as Record<string, string>, info: records };
}

/** The key ring a key file describes, keys past their grace left out. Throws `E_CONFIG` for a bad secret or KID. */
export function ringFromKeyFile(data: KeyFileData, now: number): KeyRing {
  const ring = new KeyRing(data.activeKid, data.keys[data.activeKid]!);
  for (const [kid, secret] of Object.entries(data.keys)) {
    if (kid === data.activeKid) continue;
    const retireAt = data.info[kid]?.retireAt;
    if (retireAt !== undefined && now >= retireAt) continue;
    ring.add(kid, secret, retireAt);
  }
  return ring;
}

/** keys.json, or undefined when there is none. `E_CONFIG` when it exists but is unreadable or invalid. */
export async function readKeyFile(path: string): Promise<KeyFileData | undefined> {
  const value = await readPrivateJson(path, 'signing key file');
  return value === undefined ? undefined : parseKeyFile(value, path);
}

export async function writeKeyFile(path: string, data: KeyFileData): Promise<void> {
  await writePrivateAtomic(path, `${JSON.stringify(data, null, 2)}\n`);
}

/** The data without the keys whose grace has ended at `now`. */
export function withoutRetired(data: KeyFileData, now: number): KeyFileData {
  const keys: Record<string, string> = {};
  const info: Record<string, KeyInfoRecord> = {};
  for (const [kid, secret] of Object.entries(data.keys)) {
    const record = data.info[kid];
    if (kid !== data.activeKid && record?.retireAt !== undefined && now >= record.retireAt) continue;
    keys[kid] = secret;
    if (record) info[kid] = record;
  }
  return { activeKid: data.activeKid, keys, info };
}
