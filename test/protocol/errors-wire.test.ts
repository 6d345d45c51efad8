import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES, MailboxError, type ErrorCode } from '../../src/errors.ts';
import {
  FLAGS, OPS, SINGLE, decodeBody, decodeError, decodeFrame, encodeError, hashPayload, verifyPayload,
} from '../../src/protocol/index.ts';
import { TENANT, throwsCode } from './helpers.ts';

describe('OAP/1 error responses', () => {
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    it(`carries ${code} as a RESP frame with status ${ERROR_CODES[code]} and decodes it back to the same MailboxError`, () => {
      const err = new MailboxError(code, `failed with ${code}`, code === 'E_SATURATED' ? { retryAfterMs: 250 } : {});
      const frame = decodeFrame(encodeError(err, 12345678901234567890n, TENANT, OPS.SEND));
      assert.equal(frame.header.flags, FLAGS.RESP | SINGLE);
      assert.equal(frame.header.code, ERROR_CODES[code]);
      assert.equal(frame.header.op, OPS.SEND);
      assert.equal(frame.header.corrId, 12345678901234567890n);
      const body = decodeBody(frame.body) as Record<string, unknown>;
      assert.equal(body.corrId, '12345678901234567890');
      const back = decodeError(body);
      assert.equal(back.code, code);
      assert.equal(back.message, err.message);
      assert.equal(back.retryAfterMs, err.retryAfterMs);
      assert.equal(back.corrId, 12345678901234567890n);
    });
  }

  it('turns an unknown wire code into E_INTERNAL, keeping the original code in the message', () => {
    const e = decodeError({ code: 'E_FUTURE', message: 'new', corrId: '1' });
    assert.equal(e.code, 'E_INTERNAL');
    assert.equal(e.message, 'E_FUTURE: new');
  });

  it('refuses a malformed error body', () => {
    throwsCode(() => decodeError({ code: 'E_SCHEMA', message: 'm' }), 'E_SCHEMA', /corrId: required/);
    throwsCode(() => decodeError({ code: 'E_SCHEMA', message: 'm', corrId: '-1' }), 'E_SCHEMA', /corrId/);
    throwsCode(() => decodeError({ code: 'E_SCHEMA', message: 'm', corrId: '18446744073709551616' }), 'E_SCHEMA', /corrId/);
    throwsCode(() => decodeError({ code: 'E_SCHEMA', message: 'm', corrId: '1', extra: 1 }), 'E_SCHEMA', /unknown field/);
  });

  it('clips an overlong message to the wire limit instead of failing', () => {
    const frame = decodeFrame(encodeError(new MailboxError('E_INTERNAL', 'x'.repeat(10_000)), 1n, TENANT));
    const e = decodeError(decodeBody(frame.body));
    assert.ok(Buffer.byteLength(e.message) <= 4096);
    assert.equal(frame.header.op, 0);
  });
});

describe('OAP/1 payload integrity', () => {
  it('hashes payloads as lower-case hex SHA-256', () => {
    assert.equal(hashPayload(Buffer.from('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('accepts a delivery whose payload matches its hash and refuses one that does not with E_INTEGRITY', () => {
    const payload = Buffer.from('hello');
    verifyPayload({ payload, payloadHash: hashPayload(payload) });
    throwsCode(() => verifyPayload({ msgId: 'm1', payload: Buffer.from('hellO'), payloadHash: hashPayload(payload) }), 'E_INTEGRITY', /m1/);
  });
});
