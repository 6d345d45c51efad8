/**
 * Message bodies: msgpack, restricted to nil, bool, int, float, str, bin, array and map
 * with str keys. A strict scan runs before msgpackr so that extension types, malformed
 * UTF-8, duplicate keys, over-deep nesting and counts the input cannot hold are refused
 * (E_SCHEMA) without allocating; msgpackr then builds the value.
 */
import { Packr, RESERVE_START_SPACE, type Options } from 'msgpackr';
import { MailboxError } from '../errors.ts';
import { MAX_BODY, MAX_DEPTH, MAX_MAP_ENTRIES } from './limits.ts';

// skipValues exists in msgpackr 2.x but is missing from its typings: optional fields left
// `undefined` are omitted instead of being written as an extension.
const options: Options & { skipValues: unknown[] } = {
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  int64AsType: 'bigint',
  skipValues: [undefined],
};
const packr = new Packr(options);

/**
 * Encodes a body value. Integers above 2^32 are written as float64 by msgpackr; bigints as
 * int64/uint64; Uint8Array as bin.
 */
export function encodeBody(value: unknown): Buffer {
  try {
    return packr.pack(value);
  } catch (err) {
    throw new MailboxError('E_SCHEMA', `body: cannot encode (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
}

/**
 * Encodes a body after `headroom` (at most 255) free bytes: the caller writes a frame header
 * there and sends the buffer as is, instead of copying the body into a frame.
 */
export function encodeBodyAfter(value: unknown, headroom: number): Buffer {
  if (!(Number.isInteger(headroom) && headroom >= 0 && headroom <= 0xff)) throw new RangeError(`headroom ${headroom} is not in 0..255`);
  try {
    return packr.pack(value, RESERVE_START_SPACE | headroom);
  } catch (err) {
    throw new MailboxError('E_SCHEMA', `body: cannot encode (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
}

/**
 * Decodes a body after the strict scan. Byte strings come back as Buffer views into
 * `bytes` (no copy): do not reuse `bytes` while the value lives. Integers beyond 2^53
 * come back as bigint. Throws E_SCHEMA (E_FRAME_TOO_LARGE above MAX_BODY) and nothing else.
 */
export function decodeBody(bytes: Uint8Array): unknown {
  if (bytes.length > MAX_BODY) throw new MailboxError('E_FRAME_TOO_LARGE', `body: ${bytes.length} bytes exceeds ${MAX_BODY}`);
  scanBody(bytes);
  try {
    return packr.unpack(bytes);
  } catch (err) {
    throw new MailboxError('E_SCHEMA', `body: malformed msgpack (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
}

// Scan state, reused between calls (the scan is synchronous and not re-entrant).
const remaining = new Int32Array(MAX_DEPTH + 1);
const isMap = new Uint8Array(MAX_DEPTH + 1);
const keyBase = new Int32Array(MAX_DEPTH + 1);
const keyStart = new Int32Array((MAX_DEPTH + 1) * MAX_MAP_ENTRIES);
const keyLen = new Int32Array((MAX_DEPTH + 1) * MAX_MAP_ENTRIES);
const PROTO = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f]; // "__proto__"

function fail(message: string, at: number): never {
  throw new MailboxError('E_SCHEMA', `body: ${message} at byte ${at}`);
}

/**
 * Walks one msgpack value that must span all of `b`; throws E_SCHEMA on anything outside
 * the OAP/1 subset. Allocation-free.
 */
export function scanBody(b: Uint8Array): void {
  const end = b.length;
  let p = 0;
  let depth = 0; // stack[0] is the root slot
  remaining[0] = 1;
  isMap[0] = 0;
  let keys = 0; // next free slot in keyStart/keyLen
  while (depth >= 0) {
    if (remaining[depth] === 0) {
      if (isMap[depth]) keys = keyBase[depth]!;
      depth--;
      continue;
    }
    const wantKey = isMap[depth] === 1 && (remaining[depth]! & 1) === 0;
    remaining[depth]!--;
    if (p >= end) fail('truncated', p);
    const t = b[p++]!;
    let count = -1; // > -1: a container with this many items
    let map = false;
    let strLen = -1;
    if (t <= 0x7f || t >= 0xe0) {
      // fixint
    } else if (t <= 0x8f) {
      count = t & 0x0f;
      map = true;
    } else if (t <= 0x9f) {
      count = t & 0x0f;
    } else if (t <= 0xbf) {
      strLen = t & 0x1f;
    } else {
      switch (t) {
        case 0xc0: case 0xc2: case 0xc3: break;
        case 0xc4: strLen = -2; p = skipLen(b, p, 1, end); break;
        case 0xc5: strLen = -2; p = skipLen(b, p, 2, end); break;
        case 0xc6: strLen = -2; p = skipLen(b, p, 4, end); break;
        case 0xca: p += 4; break;
        case 0xcb: p += 8; break;
        case 0xcc: case 0xd0: p += 1; break;
        case 0xcd: case 0xd1: p += 2; break;
        case 0xce: case 0xd2: p += 4; break;
        case 0xcf: case 0xd3: p += 8; break;
        case 0xd9: strLen = readLen(b, p, 1, end); p += 1; break;
        case 0xda: strLen = readLen(b, p, 2, end); p += 2; break;
        case 0xdb: strLen = readLen(b, p, 4, end); p += 4; break;
        case 0xdc: count = readLen(b, p, 2, end); p += 2; break;
        case 0xdd: count = readLen(b, p, 4, end); p += 4; break;
        case 0xde: count = readLen(b, p, 2, end); p += 2; map = true; break;
        case 0xdf: count = readLen(b, p, 4, end); p += 4; map = true; break;
        case 0xc1: fail('reserved byte 0xc1', p - 1);
        default: fail(`extension type 0x${t.toString(16)} is not allowed`, p - 1);
      }
    }
    if (wantKey && strLen < 0) fail('a map key must be a string', p - 1);
    if (strLen >= 0) {
      if (p + strLen > end) fail('truncated string', p);
      if (!validUtf8(b, p, p + strLen)) fail('string is not valid UTF-8', p);
      if (wantKey) {
        if (strLen === 9 && sameBytes(b, p, PROTO)) fail('map key "__proto__" is not allowed', p);
        for (let k = keyBase[depth]!; k < keys; k++) {
          if (keyLen[k] === strLen && rangesEqual(b, keyStart[k]!, p, strLen)) {
            fail('duplicate map key', p);
          }
        }
        keyStart[keys] = p;
        keyLen[keys] = strLen;
        keys++;
      }
      p += strLen;
    } else if (p > end) {
      fail('truncated', end);
    }
    if (count >= 0) {
      if (map && count > MAX_MAP_ENTRIES) fail(`map has more than ${MAX_MAP_ENTRIES} entries`, p);
      // Each item takes at least one byte: a count the rest of the input cannot hold is a lie.
      if (count * (map ? 2 : 1) > end - p) fail('container count exceeds the input', p);
      if (depth === MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH}`, p);
      depth++;
      remaining[depth] = map ? count * 2 : count;
      isMap[depth] = map ? 1 : 0;
      keyBase[depth] = keys;
    }
    if (depth === 0 && remaining[0] === 0) break;
  }
  if (p !== end) fail('trailing bytes after the value', p);
}

function readLen(b: Uint8Array, p: number, size: number, end: number): number {
  if (p + size > end) fail('truncated length', p);
  if (size === 1) return b[p]!;
  if (size === 2) return (b[p]! << 8) | b[p + 1]!;
  return ((b[p]! << 24) >>> 0) + (b[p + 1]! << 16) + (b[p + 2]! << 8) + b[p + 3]!;
}

/** Skips a bin payload: returns the position after it. */
function skipLen(b: Uint8Array, p: number, size: number, end: number): number {
  const n = readLen(b, p, size, end);
  const next = p + size + n;
  if (next > end) fail('truncated bin', p);
  return next;
}

function rangesEqual(b: Uint8Array, a: number, c: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (b[a + i] !== b[c + i]) return false;
  return true;
}

function sameBytes(b: Uint8Array, p: number, ref: readonly number[]): boolean {
  for (let i = 0; i < ref.length; i++) if (b[p + i] !== ref[i]) return false;
  return true;
}

/** Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
function validUtf8(b: Uint8Array, p: number, end: number): boolean {
  while (p < end) {
    const c = b[p]!;
    if (c < 0x80) {
      p++;
      continue;
    }
    let need: number;
    let min: number;
    let cp: number;
    if (c >= 0xc2 && c <= 0xdf) { need = 1; min = 0x80; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { need = 2; min = 0x800; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { need = 3; min = 0x10000; cp = c & 0x07; }
    else return false;
    if (p + need >= end) return false;
    for (let i = 1; i <= need; i++) {
      const d = b[p + i]!;
      if ((d & 0xc0) !== 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    p += need + 1;
  }
  return true;
}
