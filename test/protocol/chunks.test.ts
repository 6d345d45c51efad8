import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CHUNK_SIZE, ChunkReassembler, FLAGS, HEADER_SIZE, MAX_BODY, OPS, SINGLE, chunkFrames, decodeBody, decodeFrame,
  decodeRequest, encodeBody, encodeFrame, encodeMessage, encodeRequestBody, encodeValueMessage, type DecodedFrame,
} from '../../src/protocol/index.ts';
import { TENANT, throwsCode } from './helpers.ts';

const frameOf = (flags: number, corrId: bigint, body: Uint8Array, op: number = OPS.SEND): DecodedFrame =>
  decodeFrame(encodeFrame({ flags, code: flags & FLAGS.RESP ? 200 : 0, op, tenant: TENANT, corrId, body }));
const chunk = (n: number, fill = 1): Buffer => Buffer.alloc(n, fill);

describe('OAP/1 chunking', () => {
  it('sends a body of at most CHUNK_SIZE bytes as one START|END frame', () => {
    const frames = encodeMessage({ flags: FLAGS.REQ, op: OPS.PING, tenant: TENANT, corrId: 1n, body: chunk(CHUNK_SIZE) });
    assert.equal(frames.length, 1);
    assert.equal(decodeFrame(frames[0]!).header.flags, FLAGS.REQ | SINGLE);
  });

  it('round-trips a 900 KiB payload through the reassembler in frames of at most 64 KiB of body, interleaved with a small message', () => {
    const payload = Buffer.alloc(900 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const cap = Buffer.from('capability');
    const big = encodeMessage({
      flags: FLAGS.REQ | FLAGS.ACK_REQ, op: OPS.SEND, tenant: TENANT, corrId: 100n, cap,
      body: encodeRequestBody(OPS.SEND, { topic: 'bulk' as never, idemKey: 'big', payload }),
    });
    const small = encodeMessage({ flags: FLAGS.REQ, op: OPS.PING, tenant: TENANT, corrId: 101n, body: encodeRequestBody(OPS.PING, {}) });
    assert.equal(big.length, 15);
    const flags = big.map((f) => decodeFrame(f).header.flags);
    assert.equal(flags[0], FLAGS.REQ | FLAGS.START | FLAGS.ACK_REQ);
    for (const f of flags.slice(1, -1)) assert.equal(f, FLAGS.REQ);
    assert.equal(flags.at(-1), FLAGS.REQ | FLAGS.END);
    for (const [i, f] of big.entries()) {
      const d = decodeFrame(f);
      assert.ok(d.body.length <= CHUNK_SIZE);
      assert.equal(d.cap.length, i === 0 ? cap.length : 0);
    }

    const r = new ChunkReassembler();
    const done: Array<{ corrId: bigint; body: Uint8Array; cap: Uint8Array }> = [];
    const order = [...big.slice(0, 7), ...small, ...big.slice(7)];
    for (const f of order) {
      const m = r.push(decodeFrame(f), 0);
      if (m) done.push({ corrId: m.header.corrId, body: m.body, cap: m.cap });
    }
    assert.deepEqual(done.map((m) => m.corrId), [101n, 100n], 'the small message is not held up behind the big one');
    const req = decodeRequest(OPS.SEND, decodeBody(done[1]!.body));
    assert.ok(Buffer.from(req.payload).equals(payload));
    assert.deepEqual(Buffer.from(done[1]!.cap), cap);
    assert.equal(r.openStreams, 0);
    assert.equal(r.bufferedBytes, 0);
  });

  it('interleaves two chunked streams of different corr_ids', () => {
    const a = chunkFrames({ flags: FLAGS.RESP, code: 200, op: OPS.RECV, tenant: TENANT, corrId: 1n, body: chunk(3 * CHUNK_SIZE, 1) });
    const b = chunkFrames({ flags: FLAGS.RESP, code: 200, op: OPS.RECV, tenant: TENANT, corrId: 2n, body: chunk(2 * CHUNK_SIZE + 5, 2) });
    const r = new ChunkReassembler();
    const out: bigint[] = [];
    for (const f of [a[0], b[0], a[1], b[1], b[2], a[2]]) {
      const m = r.push(decodeFrame(f!), 0);
      if (m) {
        out.push(m.header.corrId);
        assert.ok(m.body.every((x) => x === Number(m.header.corrId)));
      }
    }
    assert.deepEqual(out, [2n, 1n]);
  });

  it('keeps requests, responses and events with the same corr_id apart', () => {
    const r = new ChunkReassembler();
    r.push(frameOf(FLAGS.RESP | FLAGS.START, 5n, chunk(CHUNK_SIZE)), 0);
    assert.ok(r.push(frameOf(FLAGS.EVENT | SINGLE, 5n, chunk(3), OPS.DELIVER), 0));
    assert.ok(r.push(frameOf(FLAGS.RESP | FLAGS.END, 5n, chunk(1)), 0));
  });

  it('encodes a response or event from its value to the same bytes as encodeMessage of the encoded body, one frame or chunked', () => {
    for (const payload of [Buffer.alloc(10, 7), Buffer.alloc(CHUNK_SIZE - 64, 8), Buffer.alloc(3 * CHUNK_SIZE + 5, 9)]) {
      const value = { subscriptionId: 's1', deliveries: [{ payload, note: 'x'.repeat(20) }] };
      const params = { flags: FLAGS.EVENT, op: OPS.DELIVER, tenant: TENANT, corrId: 42n };
      const direct = encodeValueMessage(params, value);
      const viaBody = encodeMessage({ ...params, body: encodeBody(value) });
      assert.equal(direct.length, viaBody.length, `${payload.length}-byte payload: frame count`);
      direct.forEach((frame, i) => assert.ok(frame.equals(viaBody[i]!), `${payload.length}-byte payload: frame ${i}`));
      assert.deepEqual(decodeBody(Buffer.concat(direct.map((f) => decodeFrame(f).body))), value);
    }
    throwsCode(() => encodeValueMessage({ flags: FLAGS.RESP | FLAGS.START, code: 200, op: OPS.PING, tenant: TENANT, corrId: 1n }, {}), 'E_SCHEMA');
  });

  it('refuses to encode a body above MAX_BODY or with chunk bits preset', () => {
    throwsCode(() => chunkFrames({ flags: FLAGS.REQ, op: OPS.SEND, tenant: TENANT, corrId: 1n, body: chunk(MAX_BODY + 1) }), 'E_FRAME_TOO_LARGE');
    throwsCode(() => chunkFrames({ flags: FLAGS.REQ | FLAGS.START, op: OPS.SEND, tenant: TENANT, corrId: 1n, body: chunk(1) }), 'E_SCHEMA', /START\/END/);
  });
});

describe('OAP/1 chunk reassembler limits', () => {
  it('refuses a continuation frame for a corr_id with no open stream', () => {
    const r = new ChunkReassembler();
    const e = throwsCode(() => r.push(frameOf(FLAGS.REQ, 9n, chunk(CHUNK_SIZE)), 0), 'E_SCHEMA', /START missing/);
    assert.equal(e.corrId, 9n);
    throwsCode(() => r.push(frameOf(FLAGS.REQ | FLAGS.END, 9n, chunk(1)), 0), 'E_SCHEMA', /START missing/);
  });

  it('refuses a stream whose assembled size exceeds the configured maximum, then discards its remaining frames silently', () => {
    const r = new ChunkReassembler({ maxMessageBytes: 2 * CHUNK_SIZE });
    r.push(frameOf(FLAGS.REQ | FLAGS.START, 1n, chunk(CHUNK_SIZE)), 0);
    r.push(frameOf(FLAGS.REQ, 1n, chunk(CHUNK_SIZE)), 0);
    throwsCode(() => r.push(frameOf(FLAGS.REQ, 1n, chunk(CHUNK_SIZE)), 0), 'E_FRAME_TOO_LARGE', /exceeds/);
    assert.equal(r.openStreams, 0);
    assert.equal(r.bufferedBytes, 0);
    assert.equal(r.push(frameOf(FLAGS.REQ, 1n, chunk(CHUNK_SIZE)), 0), undefined);
    assert.equal(r.push(frameOf(FLAGS.REQ | FLAGS.END, 1n, chunk(1)), 0), undefined);
    // After its END the corr_id is forgotten: a stray continuation is refused again.
    throwsCode(() => r.push(frameOf(FLAGS.REQ | FLAGS.END, 1n, chunk(1)), 0), 'E_SCHEMA');
  });

  it('refuses more open streams than allowed with a retryable E_SATURATED', () => {
    const r = new ChunkReassembler({ maxOpenStreams: 2 });
    r.push(frameOf(FLAGS.REQ | FLAGS.START, 1n, chunk(CHUNK_SIZE)), 0);
    r.push(frameOf(FLAGS.REQ | FLAGS.START, 2n, chunk(CHUNK_SIZE)), 0);
    const e = throwsCode(() => r.push(frameOf(FLAGS.REQ | FLAGS.START, 3n, chunk(CHUNK_SIZE)), 0), 'E_SATURATED', /open streams/);
    assert.ok(e.retryable && e.retryAfterMs! > 0);
    // Single frames are never held back by open streams.
    assert.ok(r.push(frameOf(FLAGS.REQ | SINGLE, 4n, chunk(10)), 0));
  });

  it('refuses when the bytes buffered across streams exceed the connection budget', () => {
    const r = new ChunkReassembler({ maxBufferedBytes: 3 * CHUNK_SIZE });
    r.push(frameOf(FLAGS.REQ | FLAGS.START, 1n, chunk(CHUNK_SIZE)), 0);
    r.push(frameOf(FLAGS.REQ | FLAGS.START, 2n, chunk(CHUNK_SIZE)), 0);
    r.push(frameOf(FLAGS.REQ, 1n, chunk(CHUNK_SIZE)), 0);
    throwsCode(() => r.push(frameOf(FLAGS.REQ, 2n, chunk(CHUNK_SIZE)), 0), 'E_SATURATED', /buffered/);
    assert.equal(r.bufferedBytes, 2 * CHUNK_SIZE);
  });

  it('drops a stream that does not end within the timeout when the caller drives expire', () => {
    const r = new ChunkReassembler({ streamTimeoutMs: 1000 });
    r.push(frameOf(FLAGS.REQ | FLAGS.START, 1n, chunk(CHUNK_SIZE)), 0);
    r.push(frameOf(FLAGS.REQ | FLAGS.START, 2n, chunk(CHUNK_SIZE)), 500);
    assert.deepEqual(r.expire(999), []);
    const dropped = r.expire(1000);
    assert.equal(dropped.length, 1);
    assert.equal(dropped[0]!.header.corrId, 1n);
    assert.equal(dropped[0]!.header.op, OPS.SEND);
    assert.equal(dropped[0]!.error.code, 'E_SCHEMA');
    assert.equal(dropped[0]!.error.corrId, 1n);
    assert.equal(r.openStreams, 1);
    // The late END of the dropped stream is discarded, not reported twice.
    assert.equal(r.push(frameOf(FLAGS.REQ | FLAGS.END, 1n, chunk(1)), 1001), undefined);
    assert.ok(r.push(frameOf(FLAGS.REQ | FLAGS.END, 2n, chunk(1)), 1001));
  });

  it('refuses non-final chunks that are not exactly CHUNK_SIZE and an empty END', () => {
    const r = new ChunkReassembler();
    throwsCode(() => r.push(frameOf(FLAGS.REQ | FLAGS.START, 1n, chunk(10)), 0), 'E_SCHEMA', /exactly/);
    r.push(frameOf(FLAGS.REQ | FLAGS.START, 2n, chunk(CHUNK_SIZE)), 0);
    throwsCode(() => r.push(frameOf(FLAGS.REQ, 2n, chunk(10)), 0), 'E_SCHEMA', /exactly/);
    r.push(frameOf(FLAGS.REQ | FLAGS.START, 3n, chunk(CHUNK_SIZE)), 0);
    throwsCode(() => r.push(frameOf(FLAGS.REQ | FLAGS.END, 3n, new Uint8Array(0)), 0), 'E_SCHEMA', /END/);
  });

  it('refuses a START or single frame that reuses the corr_id of an open stream', () => {
    const r = new ChunkReassembler();
    r.push(frameOf(FLAGS.REQ | FLAGS.START, 1n, chunk(CHUNK_SIZE)), 0);
    throwsCode(() => r.push(frameOf(FLAGS.REQ | FLAGS.START, 1n, chunk(CHUNK_SIZE)), 0), 'E_SCHEMA', /open stream/);
    r.push(frameOf(FLAGS.REQ | FLAGS.START, 2n, chunk(CHUNK_SIZE)), 0);
    throwsCode(() => r.push(frameOf(FLAGS.REQ | SINGLE, 2n, chunk(1)), 0), 'E_SCHEMA', /open stream/);
    assert.equal(r.openStreams, 0);
  });

  it('refuses a continuation whose op, tenant or code differs from its START', () => {
    const r = new ChunkReassembler();
    r.push(frameOf(FLAGS.REQ | FLAGS.START, 1n, chunk(CHUNK_SIZE)), 0);
    throwsCode(() => r.push(frameOf(FLAGS.REQ | FLAGS.END, 1n, chunk(1), OPS.RECV), 0), 'E_SCHEMA', /differs/);
  });

  it('forgets every stream on clear', () => {
    const r = new ChunkReassembler();
    r.push(frameOf(FLAGS.REQ | FLAGS.START, 1n, chunk(CHUNK_SIZE)), 0);
    r.clear();
    assert.equal(r.openStreams, 0);
    assert.equal(r.bufferedBytes, 0);
  });

  it('puts the header and capability of a chunked request only in its first frame', () => {
    const frames = chunkFrames({ flags: FLAGS.REQ, op: OPS.SEND, tenant: TENANT, corrId: 1n, cap: Buffer.from('cap'), body: encodeBody({ p: chunk(CHUNK_SIZE) }) });
    assert.equal(frames.length, 2);
    assert.equal(frames[0]!.length, HEADER_SIZE + 3 + CHUNK_SIZE);
    assert.equal(decodeFrame(frames[1]!).header.capLen, 0);
  });
});
