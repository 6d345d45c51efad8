/**
 * The JSON form of vector bodies: msgpack bin ↔ {"$bin": "<hex>"}; everything else is plain
 * JSON (all numbers in the vectors are safe integers). Shared by the generator and the test.
 */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export function toJson(value: unknown): Json {
  if (value instanceof Uint8Array) return { $bin: Buffer.from(value.buffer, value.byteOffset, value.length).toString('hex') };
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === 'object') {
    const out: { [k: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) out[k] = toJson(v);
    return out;
  }
  if (typeof value === 'bigint') throw new Error('vectors hold no bigint bodies');
  return value as Json;
}

export function fromJson(value: Json): unknown {
  if (Array.isArray(value)) return value.map(fromJson);
  if (value !== null && typeof value === 'object') {
    if (typeof value.$bin === 'string' && Object.keys(value).length === 1) return Buffer.from(value.$bin, 'hex');
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = fromJson(v);
    return out;
  }
  return value;
}

/** A vector's header in JSON: corrId as a decimal string, flags also spelled out by name. */
export interface HeaderJson {
  len: number;
  ver: number;
  flags: number;
  flagNames: string[];
  code: number;
  op: number;
  opName: string;
  tenant: string;
  capLen: number;
  corrId: string;
}

export interface VectorJson {
  description: string;
  header: HeaderJson;
  /** Capability bytes, hex. */
  capHex: string;
  /** The frame's own body bytes. */
  bodyLength: number;
  /** The decoded body, when this frame carries a whole message. */
  body?: Json;
  /** For a frame of a chunked stream: the files of all its frames in order; on the last, the reassembled body. */
  stream?: { frames: string[]; body?: Json };
}
