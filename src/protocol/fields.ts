/**
 * Hand-written field validators for body schemas. Each throws MailboxError('E_SCHEMA')
 * naming the field path. A field's path is joined only when it is refused (`key`: the field
 * of the map at `path`): joined up front it cost two strings per field, ~180 B per item of a
 * SEND_BATCH (heap sampling profile); element paths are cached (elementPath).
 */
import { MailboxError } from '../errors.ts';
import type { Attrs, MsgId } from '../domain/types.ts';
import { isUlid } from '../domain/ids.ts';
import { MAX_ATTRS, MAX_ATTR_KEY_BYTES, MAX_ATTR_VALUE_BYTES } from './limits.ts';

export type Obj = Record<string, unknown>;

export function schemaError(path: string, message: string): MailboxError {
  return new MailboxError('E_SCHEMA', `${path}: ${message}`);
}

function at(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** The path an error names: `path` itself, or its field `key`. */
function where(path: string, key: string | undefined): string {
  return key === undefined ? path : at(path, key);
}

/** A plain msgpack map (a plain or null-prototype object; never an array, Buffer, Map or Date). */
export function object(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null) throw schemaError(path || 'body', 'must be a map');
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) {
    throw schemaError(path || 'body', 'must be a map');
  }
  return v as Obj;
}

/** Refuses any key outside `allowed`. */
export function onlyKeys(o: Obj, allowed: ReadonlySet<string>, path: string): void {
  for (const key in o) {
    if (!allowed.has(key)) throw schemaError(at(path, key), 'unknown field');
  }
}

/** Byte length of a string in UTF-8, computed only when the cheap bounds do not decide. */
function utf8Bytes(s: string, max: number): number {
  if (s.length > max) return s.length; // at least one byte per UTF-16 unit: already over
  if (s.length * 3 <= max) return s.length; // at most three bytes per unit: surely under
  return Buffer.byteLength(s, 'utf8');
}

export interface StrRule {
  max: number;
  /** 0 allows the empty string; default 1 (non-empty). */
  min?: 0 | 1;
  /** Refuse C0 controls and DEL (identifiers: topic, idemKey, ids). */
  ident?: boolean;
}

const elementPaths = new Map<string, string[]>();

/**
 * `name[i]`, the path of an array element in error messages, made once per name and index:
 * decoding a batch of a thousand items builds no strings unless one of them is refused.
 */
export function elementPath(name: string, i: number): string {
  let list = elementPaths.get(name);
  if (list === undefined) elementPaths.set(name, (list = []));
  return (list[i] ??= `${name}[${i}]`);
}

export function str(v: unknown, path: string, rule: StrRule, key?: string): string {
  if (typeof v !== 'string') throw schemaError(where(path, key), 'must be a string');
  const n = utf8Bytes(v, rule.max);
  if (n > rule.max) throw schemaError(where(path, key), `longer than ${rule.max} bytes`);
  if (v.length === 0 && rule.min !== 0) throw schemaError(where(path, key), 'must not be empty');
  if (rule.ident) {
    for (let i = 0; i < v.length; i++) {
      const c = v.charCodeAt(i);
      if (c < 0x20 || c === 0x7f) throw schemaError(where(path, key), 'must not contain control characters');
    }
  }
  return v;
}

export function reqStr(o: Obj, key: string, path: string, rule: StrRule): string {
  const v = o[key];
  if (v === undefined) throw schemaError(at(path, key), 'required');
  return str(v, path, rule, key);
}

export function optStr(o: Obj, key: string, path: string, rule: StrRule): string | undefined {
  const v = o[key];
  return v === undefined ? undefined : str(v, path, rule, key);
}

/** An integer in [min, max] (max ≤ 2^53 - 1). msgpack int of any width, bigint or integral float. */
export function int(v: unknown, path: string, min: number, max: number, key?: string): number {
  let n: number;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw schemaError(where(path, key), 'must be an integer');
    n = v;
  } else if (typeof v === 'bigint') {
    if (v < BigInt(min) || v > BigInt(max)) throw schemaError(where(path, key), `must be in ${min}..${max}`);
    n = Number(v);
  } else {
    throw schemaError(where(path, key), 'must be an integer');
  }
  if (n < min || n > max) throw schemaError(where(path, key), `must be in ${min}..${max}`);
  return n === 0 ? 0 : n; // -0 → 0
}

export function reqInt(o: Obj, key: string, path: string, min: number, max: number): number {
  const v = o[key];
  if (v === undefined) throw schemaError(at(path, key), 'required');
  return int(v, path, min, max, key);
}

export function optInt(o: Obj, key: string, path: string, min: number, max: number): number | undefined {
  const v = o[key];
  return v === undefined ? undefined : int(v, path, min, max, key);
}

export function reqBool(o: Obj, key: string, path: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') throw schemaError(at(path, key), v === undefined ? 'required' : 'must be a boolean');
  return v;
}

export function bytes(v: unknown, path: string, max: number, key?: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw schemaError(where(path, key), 'must be bin');
  if (v.length > max) throw schemaError(where(path, key), `longer than ${max} bytes`);
  return v;
}

export function reqBytes(o: Obj, key: string, path: string, max: number): Uint8Array {
  const v = o[key];
  if (v === undefined) throw schemaError(at(path, key), 'required');
  return bytes(v, path, max, key);
}

export function array(v: unknown, path: string, max: number, min = 0): unknown[] {
  if (!Array.isArray(v)) throw schemaError(path, 'must be an array');
  if (v.length > max) throw schemaError(path, `more than ${max} items`);
  if (v.length < min) throw schemaError(path, `fewer than ${min} items`);
  return v;
}

export function reqArray(o: Obj, key: string, path: string, max: number, min = 0): unknown[] {
  const v = o[key];
  if (v === undefined) throw schemaError(at(path, key), 'required');
  return array(v, at(path, key), max, min);
}

/** A 26-character ULID (Crockford base32, upper case). */
export function reqMsgId(o: Obj, key: string, path: string): MsgId {
  const v = o[key];
  if (v === undefined) throw schemaError(at(path, key), 'required');
  return msgId(v, path, key);
}

export function msgId(v: unknown, path: string, key?: string): MsgId {
  if (typeof v !== 'string' || !isUlid(v)) throw schemaError(where(path, key), 'must be a 26-character ULID');
  return v as MsgId;
}

/** 64 lower-case hex digits. */
export function sha256Hex(v: unknown, path: string, key?: string): string {
  if (typeof v !== 'string' || v.length !== 64) throw schemaError(where(path, key), 'must be 64 lower-case hex digits');
  for (let i = 0; i < 64; i++) {
    const c = v.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) throw schemaError(where(path, key), 'must be 64 lower-case hex digits');
  }
  return v;
}

const ATTR_KEY: StrRule = { max: MAX_ATTR_KEY_BYTES, ident: true };
const ATTR_VALUE: StrRule = { max: MAX_ATTR_VALUE_BYTES, min: 0 };

/** string → string map: at most 32 entries, keys 1..64 bytes, values 0..1024 bytes. */
export function optAttrs(o: Obj, key: string, path: string): Attrs | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  const p = at(path, key);
  const m = object(v, p);
  let n = 0;
  for (const k in m) {
    if (++n > MAX_ATTRS) throw schemaError(p, `more than ${MAX_ATTRS} entries`);
    str(k, `${p}.${k}`, ATTR_KEY);
    str(m[k], `${p}.${k}`, ATTR_VALUE);
  }
  return m as Attrs;
}

/** One of a fixed set of strings. */
export function oneOf<T extends string>(v: unknown, path: string, allowed: ReadonlySet<T>): T {
  if (typeof v !== 'string' || !allowed.has(v as T)) throw schemaError(path, `must be one of ${[...allowed].join(', ')}`);
  return v as T;
}

export function keys(...names: string[]): ReadonlySet<string> {
  return new Set(names);
}
