import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { CHUNK_SIZE, FLAGS, HEADER_SIZE, OPS, encodeFrame } from '../../src/protocol/index.ts';
import { DEFAULT_TENANT, RawClient, errorOf } from './helpers/raw-client.ts';
import { seriesValue, startTestServer } from './helpers/server.ts';

/** A frame with a hand-written header around `body` (so it may break the chunk-size rule). */
function rawFrame(op: number, corrId: bigint, body: Uint8Array): Buffer {
  const out = Buffer.alloc(HEADER_SIZE + body.length);
  out.writeUInt32BE(out.length, 0);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(FLAGS.REQ | FLAGS.START | FLAGS.END | FLAGS.ACK_REQ, 6);
  out.writeUInt16BE(op, 10);
  out.write(DEFAULT_TENANT, 12, 16, 'hex');
  out.writeBigUInt64BE(corrId, 30);
  out.set(body, HEADER_SIZE);
  return out;
}

const total = (text: string, method: string, code: number): number =>
  seriesValue(text, `requests_total{route="ws",method="${method}",code="${code}"}`) ?? 0;

test(
  'requests refused before dispatch (a frame too large, too many open streams, a malformed frame) are counted in requests_total with their code',
  { timeout: 30_000 },
  async () => {
    const t = await startTestServer();
    try {
      const raw = await RawClient.connect(t.server.url);
      const before = await t.metrics();

      // 413: one frame whose body is larger than a chunk.
      const big = raw.corrId();
      await raw.sendRaw(rawFrame(OPS.PING, big, randomBytes(200 * 1024)));
      const tooLarge = await raw.waitFor((m) => m.header.corrId === big, 20_000, 'the 413');
      assert.equal(tooLarge.header.code, 413);

      // 429: a 17th chunked stream open at once (the reassembler holds 16).
      const cap = Buffer.from(t.adminToken, 'utf8');
      const ids: bigint[] = [];
      for (let i = 0; i < 17; i++) {
        const corrId = raw.corrId();
        ids.push(corrId);
        await raw.sendRaw(encodeFrame({ flags: FLAGS.REQ | FLAGS.START | FLAGS.ACK_REQ, op: OPS.SEND, tenant: DEFAULT_TENANT, corrId, body: randomBytes(CHUNK_SIZE), cap }));
      }
      const saturated = await raw.waitFor((m) => m.header.corrId === ids[16], 20_000, 'the 429');
      assert.equal(saturated.header.code, 429);
      assert.equal(errorOf(saturated).code, 'E_SATURATED');

      // 400: a frame whose flags say it is not a request.
      const notReq = raw.corrId();
      const frame = rawFrame(OPS.PING, notReq, new Uint8Array(0));
      frame.writeUInt16BE(FLAGS.RESP | FLAGS.START | FLAGS.END, 6);
      await raw.sendRaw(frame);
      const malformed = await raw.waitFor((m) => m.header.corrId === notReq, 20_000, 'the 400');
      assert.equal(malformed.header.code, 400);
      await raw.ping();
      await raw.close();

      const after = await t.metrics();
      assert.equal(total(after, 'PING', 413) - total(before, 'PING', 413), 1, 'the 413 is counted');
      assert.equal(total(after, 'SEND', 429) - total(before, 'SEND', 429), 1, 'the 429 is counted');
      assert.equal(total(after, 'PING', 400) - total(before, 'PING', 400), 1, 'the 400 is counted');
      // Refusals before dispatch did no work: they are not request latencies.
      assert.equal(
        seriesValue(after, 'request_latency_seconds_count{route="ws",method="PING"}'),
        total(after, 'PING', 200),
        'PING latencies are those of the PINGs answered 200',
      );
    } finally {
      await t.stop();
    }
  },
);
