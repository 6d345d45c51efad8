import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CHUNK_SIZE, FLAGS, HEADER_SIZE, MAX_FRAME, OPS, SINGLE, decodeFrame, decodeHeader, encodeBody, encodeFrame,
} from '../../src/protocol/index.ts';
import { TENANT, throwsCode } from './helpers.ts';

const body = encodeBody({});
const ping = (over: Partial<Parameters<typeof encodeFrame>[0]> = {}): Buffer =>
  encodeFrame({ flags: FLAGS.REQ | SINGLE, op: OPS.PING, tenant: TENANT, corrId: 42n, body, ...over });

describe('OAP/1 header', () => {
  it('round-trips every header field through encodeFrame and decodeFrame', () => {
    const cap = Buffer.from('cap');
    const frame = encodeFrame({
      flags: FLAGS.REQ | SINGLE | FLAGS.ACK_REQ, op: OPS.SEND, tenant: TENANT, corrId: 0xffff_ffff_ffff_fffen, cap, body,
    });
    const { header, cap: c, body: b } = decodeFrame(frame);
    assert.deepEqual(header, {
      len: HEADER_SIZE + 3 + body.length, ver: 1, flags: FLAGS.REQ | SINGLE | FLAGS.ACK_REQ, code: 0, op: OPS.SEND,
      tenant: TENANT, capLen: 3, corrId: 0xffff_ffff_ffff_fffen,
    });
    assert.deepEqual(Buffer.from(c), cap);
    assert.deepEqual(Buffer.from(b), body);
  });

  it('lays the header out big-endian at the documented offsets', () => {
    const frame = ping({ corrId: 0x0102030405060708n });
    assert.equal(frame.readUInt32BE(0), frame.length);
    assert.equal(frame.readUInt16BE(4), 1);
    assert.equal(frame.readUInt16BE(6), FLAGS.REQ | SINGLE);
    assert.equal(frame.readUInt16BE(8), 0);
    assert.equal(frame.readUInt16BE(10), OPS.PING);
    assert.equal(frame.subarray(12, 28).toString('hex'), TENANT);
    assert.equal(frame.readUInt16BE(28), 0);
    assert.equal(frame.readBigUInt64BE(30), 0x0102030405060708n);
  });

  for (let bit = 6; bit < 16; bit++) {
    it(`refuses a frame with unknown flag bit 0x${(1 << bit).toString(16)} set`, () => {
      const frame = ping();
      frame.writeUInt16BE(FLAGS.REQ | SINGLE | (1 << bit), 6);
      throwsCode(() => decodeFrame(frame), 'E_SCHEMA', /unknown bit/);
    });
  }

  it('refuses a frame with none or more than one of REQ, RESP and EVENT', () => {
    for (const kind of [0, FLAGS.REQ | FLAGS.RESP, FLAGS.RESP | FLAGS.EVENT, FLAGS.REQ | FLAGS.EVENT, 7]) {
      const frame = ping();
      frame.writeUInt16BE(kind | SINGLE, 6);
      throwsCode(() => decodeFrame(frame), 'E_SCHEMA', /exactly one/);
    }
  });

  it('refuses a declared len above 1 MiB from the 38 header bytes alone', () => {
    const header = ping().subarray(0, HEADER_SIZE);
    header.writeUInt32BE(2 * 1024 * 1024, 0);
    throwsCode(() => decodeHeader(header), 'E_FRAME_TOO_LARGE');
    // Even the first four bytes are enough.
    throwsCode(() => decodeHeader(header.subarray(0, 4)), 'E_FRAME_TOO_LARGE');
    // The size check comes before every other check: a bad version does not mask it.
    header.writeUInt16BE(9, 4);
    throwsCode(() => decodeHeader(header), 'E_FRAME_TOO_LARGE');
  });

  it('names the 1 MiB frame limit when the declared len is one byte over it', () => {
    const header = ping().subarray(0, HEADER_SIZE);
    header.writeUInt32BE(MAX_FRAME + 1, 0);
    throwsCode(() => decodeHeader(header), 'E_FRAME_TOO_LARGE', /frame limit/);
  });

  it('refuses a frame whose len differs from its byte length', () => {
    const frame = ping();
    throwsCode(() => decodeFrame(frame.subarray(0, frame.length - 1)), 'E_SCHEMA', /len/);
    throwsCode(() => decodeFrame(Buffer.concat([frame, Buffer.from([0])])), 'E_SCHEMA', /len/);
    const lying = Buffer.from(frame);
    lying.writeUInt32BE(frame.length + 5, 0);
    throwsCode(() => decodeFrame(lying), 'E_SCHEMA', /len/);
  });

  it('refuses a len shorter than the header and a truncated header', () => {
    const frame = ping();
    frame.writeUInt32BE(37, 0);
    throwsCode(() => decodeFrame(frame), 'E_SCHEMA', /shorter than the header/);
    throwsCode(() => decodeHeader(ping().subarray(0, 20)), 'E_SCHEMA', /truncated/);
    throwsCode(() => decodeHeader(Buffer.alloc(2)), 'E_SCHEMA');
  });

  it('refuses any version other than 1', () => {
    const frame = ping();
    frame.writeUInt16BE(2, 4);
    throwsCode(() => decodeFrame(frame), 'E_SCHEMA', /ver/);
  });

  it('refuses a cap_len that does not fit in the frame', () => {
    const frame = ping();
    frame.writeUInt16BE(frame.length, 28);
    throwsCode(() => decodeFrame(frame), 'E_SCHEMA', /cap_len/);
  });

  it('refuses a frame carrying more than CHUNK_SIZE body bytes, on encode and on decode', () => {
    throwsCode(() => ping({ body: Buffer.alloc(CHUNK_SIZE + 1) }), 'E_FRAME_TOO_LARGE', /encodeMessage/);
    const frame = Buffer.alloc(HEADER_SIZE + CHUNK_SIZE + 1);
    ping().copy(frame, 0, 0, HEADER_SIZE);
    frame.writeUInt32BE(frame.length, 0);
    throwsCode(() => decodeFrame(frame), 'E_FRAME_TOO_LARGE', /chunk size/);
  });

  it('allows a capability only on the first frame of a request', () => {
    const cap = Buffer.from('c');
    ping({ cap }); // single request frame: fine
    encodeFrame({ flags: FLAGS.REQ | FLAGS.START, op: OPS.SEND, tenant: TENANT, corrId: 1n, cap, body });
    throwsCode(() => encodeFrame({ flags: FLAGS.REQ, op: OPS.SEND, tenant: TENANT, corrId: 1n, cap, body }), 'E_SCHEMA', /capability/);
    throwsCode(() => encodeFrame({ flags: FLAGS.REQ | FLAGS.END, op: OPS.SEND, tenant: TENANT, corrId: 1n, cap, body }), 'E_SCHEMA', /capability/);
    throwsCode(() => encodeFrame({ flags: FLAGS.RESP | SINGLE, code: 200, op: OPS.SEND, tenant: TENANT, corrId: 1n, cap, body }), 'E_SCHEMA', /capability/);
    const frame = ping({ flags: FLAGS.EVENT | SINGLE, op: OPS.DELIVER });
    const withCap = Buffer.concat([frame.subarray(0, HEADER_SIZE), Buffer.from('x'), frame.subarray(HEADER_SIZE)]);
    withCap.writeUInt32BE(withCap.length, 0);
    withCap.writeUInt16BE(1, 28);
    throwsCode(() => decodeFrame(withCap), 'E_SCHEMA', /capability/);
  });

  it('allows ACK_REQ only on the first frame of a request', () => {
    throwsCode(() => ping({ flags: FLAGS.RESP | SINGLE | FLAGS.ACK_REQ, code: 200 }), 'E_SCHEMA', /ACK_REQ/);
    throwsCode(() => ping({ flags: FLAGS.REQ | FLAGS.END | FLAGS.ACK_REQ }), 'E_SCHEMA', /ACK_REQ/);
  });

  it('requires code 0 on requests and events and a defined status on responses', () => {
    throwsCode(() => ping({ code: 200 }), 'E_SCHEMA', /code/);
    throwsCode(() => ping({ flags: FLAGS.EVENT | SINGLE, code: 1 }), 'E_SCHEMA', /code/);
    throwsCode(() => ping({ flags: FLAGS.RESP | SINGLE, code: 0 }), 'E_SCHEMA', /status/);
    throwsCode(() => ping({ flags: FLAGS.RESP | SINGLE, code: 418 }), 'E_SCHEMA', /status/);
    for (const code of [200, 400, 401, 403, 404, 409, 413, 422, 429, 500, 503]) {
      assert.equal(decodeFrame(ping({ flags: FLAGS.RESP | SINGLE, code })).header.code, code);
    }
  });

  it('refuses to encode a tenant that is not 32 lower-case hex digits or a corrId outside u64', () => {
    throwsCode(() => ping({ tenant: TENANT.toUpperCase() as typeof TENANT }), 'E_SCHEMA', /tenant/);
    throwsCode(() => ping({ tenant: 'abc' as typeof TENANT }), 'E_SCHEMA', /tenant/);
    throwsCode(() => ping({ corrId: -1n }), 'E_SCHEMA', /corrId/);
    throwsCode(() => ping({ corrId: 1n << 64n }), 'E_SCHEMA', /corrId/);
  });

  it('leaves an unknown app_proto_id to the schema layer so an error reply can echo it', () => {
    assert.equal(decodeFrame(ping({ op: 0x7777 })).header.op, 0x7777);
  });
});
