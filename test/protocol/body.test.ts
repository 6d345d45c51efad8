import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_DEPTH, MAX_MAP_ENTRIES, decodeBody, encodeBody } from '../../src/protocol/index.ts';
import { throwsCode } from './helpers.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('OAP/1 bodies', () => {
  it('round-trips maps, arrays, strings, bin, integers, floats, booleans and nil', () => {
    const value = { s: 'héllo', b: Buffer.from([1, 2, 3]), i: -5, big: 1_700_000_000_000, f: 0.5, t: true, n: null, a: [1, 'x'] };
    const back = decodeBody(encodeBody(value)) as typeof value;
    assert.deepEqual({ ...back, b: Buffer.from(back.b) }, value);
  });

  it('decodes byte strings as views of the input, without copying', () => {
    const bytes = encodeBody({ p: Buffer.alloc(1000, 9) });
    const v = decodeBody(bytes) as { p: Uint8Array };
    assert.ok(v.p instanceof Uint8Array);
    assert.equal(v.p.buffer, bytes.buffer);
  });

  it('decodes 64-bit integers beyond 2^53 as bigint so no precision is lost silently', () => {
    assert.equal(decodeBody(hex('cf ffffffffffffffff')), 0xffff_ffff_ffff_ffffn);
  });

  it('omits fields whose value is undefined instead of encoding them', () => {
    assert.deepEqual(decodeBody(encodeBody({ a: 1, b: undefined })), { a: 1 });
  });

  it('refuses every msgpack extension type', () => {
    for (const ext of ['d4 00 00', 'd5 01 0000', 'd6 ff 00000000', 'd7 ff 0000000000000000', 'd8 01 00000000000000000000000000000000', 'c7 01 01 00', 'c8 0001 01 00', 'c9 00000001 01 00', 'd4 72 00']) {
      throwsCode(() => decodeBody(hex(`81 a1 61 ${ext}`)), 'E_SCHEMA', /extension/);
    }
  });

  it('refuses the reserved byte 0xc1, trailing bytes and truncated input', () => {
    throwsCode(() => decodeBody(hex('c1')), 'E_SCHEMA', /reserved/);
    throwsCode(() => decodeBody(hex('80 00')), 'E_SCHEMA', /trailing/);
    throwsCode(() => decodeBody(hex('81 a1 61')), 'E_SCHEMA', /truncated/);
    throwsCode(() => decodeBody(hex('a5 6162')), 'E_SCHEMA', /truncated/);
    throwsCode(() => decodeBody(hex('c4 05 01')), 'E_SCHEMA', /truncated/);
    throwsCode(() => decodeBody(hex('cb 0000')), 'E_SCHEMA', /truncated/);
    throwsCode(() => decodeBody(hex('')), 'E_SCHEMA', /truncated/);
  });

  it('refuses a container whose declared count the remaining input cannot hold', () => {
    throwsCode(() => decodeBody(hex('dd 7fffffff 00')), 'E_SCHEMA', /count exceeds/);
    throwsCode(() => decodeBody(hex('de 0010 a161 00')), 'E_SCHEMA', /count exceeds/);
  });

  it('refuses non-string map keys, duplicate keys and the key __proto__', () => {
    throwsCode(() => decodeBody(hex('81 01 02')), 'E_SCHEMA', /key must be a string/);
    throwsCode(() => decodeBody(hex('82 a1 61 01 a1 61 02')), 'E_SCHEMA', /duplicate/);
    throwsCode(() => decodeBody(hex('82 a1 61 01 d9 01 61 02')), 'E_SCHEMA', /duplicate/);
    throwsCode(() => decodeBody(encodeBody(JSON.parse('{"__proto__": 1}'))), 'E_SCHEMA', /__proto__/);
    // The same key in two different maps is fine.
    assert.deepEqual(decodeBody(hex('82 a1 61 81 a1 61 01 a1 62 81 a1 61 02')), { a: { a: 1 }, b: { a: 2 } });
  });

  it('refuses maps with more than MAX_MAP_ENTRIES entries', () => {
    const big: Record<string, number> = {};
    for (let i = 0; i <= MAX_MAP_ENTRIES; i++) big[`k${i}`] = i;
    throwsCode(() => decodeBody(encodeBody(big)), 'E_SCHEMA', /entries/);
  });

  it('refuses nesting deeper than MAX_DEPTH', () => {
    let v: unknown = 1;
    for (let i = 0; i < MAX_DEPTH; i++) v = [v];
    decodeBody(encodeBody(v));
    throwsCode(() => decodeBody(encodeBody([v])), 'E_SCHEMA', /nesting/);
  });

  it('refuses strings that are not valid UTF-8', () => {
    for (const bad of ['a1 ff', 'a2 c0 80', 'a3 ed a0 80', 'a4 f4 90 80 80', 'a1 c3', 'a2 e2 82']) {
      throwsCode(() => decodeBody(hex(bad)), 'E_SCHEMA', /UTF-8/);
    }
    assert.equal(decodeBody(hex('a4 f0 9f 98 80')), '😀');
  });
});
