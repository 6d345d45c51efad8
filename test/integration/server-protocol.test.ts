/**
 * Protocol conformance over real sockets: what docs/PROTOCOL.md promises for CREDIT, for ACK /
 * NACK / EXTEND of messages that are gone or never were, for the visibility cap, and for a
 * WebSocket message too short to hold a header.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FLAGS, HEADER_SIZE } from '../../src/protocol/index.ts';
import { DEFAULT_TENANT, RawClient, errorOf, type RawMessage } from './helpers/raw-client.ts';
import { startTestServer } from './helpers/server.ts';

test('a WebSocket message shorter than the header, or empty, is answered with E_SCHEMA on corr_id 0 and the connection keeps serving', { timeout: 30_000 }, async () => {
  const t = await startTestServer();
  const raw = await RawClient.connect(t.server.url);
  try {
    const isError = (m: RawMessage): boolean => (m.header.flags & FLAGS.RESP) !== 0 && m.header.corrId === 0n;
    for (const size of [0, 1, 4, HEADER_SIZE - 1]) {
      const seen = raw.responses.filter(isError).length;
      const data = Buffer.alloc(size);
      // The longest one declares a whole header (len 38) and stops a byte short of it.
      if (size >= 4) data.writeUInt32BE(size === HEADER_SIZE - 1 ? HEADER_SIZE : 0, 0);
      await raw.sendRaw(data);
      await raw.waitFor((m) => isError(m) && raw.responses.filter(isError).length > seen, 10_000, `the answer to a ${size}-byte message`);
      const reply = raw.responses.filter(isError).at(-1)!;
      assert.equal(reply.header.code, 400, `${size} bytes`);
      assert.equal(reply.header.op, 0, `${size} bytes: no op to echo`);
      assert.equal(reply.header.tenant, DEFAULT_TENANT, `${size} bytes: no tenant to echo`);
      const err = errorOf(reply);
      assert.equal(err.code, 'E_SCHEMA');
      assert.match(err.message, /shorter than|truncated/, `${size} bytes: ${err.message}`);
      await raw.ping();
    }
    assert.ok(raw.isOpen, 'the connection is still open');
    assert.deepEqual(raw.undecodable, []);
  } finally {
    await raw.close();
    await t.stop();
  }
});
