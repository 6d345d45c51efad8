import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { TOKEN_PREFIX, tokenFingerprint } from '../../src/auth/index.ts';
import { formatCorrId } from '../../src/observability/corr.ts';
import { FLAGS, HEADER_SIZE, OPS, PROTOCOL_VERSION } from '../../src/protocol/index.ts';
import { AUDIT_LINES_PER_WINDOW } from '../../src/transport/audit.ts';
import { DEFAULT_TENANT, RawClient, errorOf } from './helpers/raw-client.ts';
import { eventually, startTestServer } from './helpers/server.ts';

/** The same token with the last signature byte flipped: well-formed, wrongly signed. */
function forge(token: string): string {
  const bytes = Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url');
  bytes[bytes.length - 1] ^= 0x01;
  return TOKEN_PREFIX + bytes.toString('base64url');
}

/** A single-frame request whose header is valid and whose body is not msgpack (0xc1 is never used). */
function garbageFrame(op: number, corrId: bigint): Buffer {
  const body = Buffer.from([0xc1, 0xc1, 0xc1]);
  const f = Buffer.alloc(HEADER_SIZE + body.length);
  f.writeUInt32BE(f.length, 0);
  f.writeUInt16BE(PROTOCOL_VERSION, 4);
  f.writeUInt16BE(FLAGS.REQ | FLAGS.START | FLAGS.END | FLAGS.ACK_REQ, 6);
  f.writeUInt16BE(200, 8);
  f.writeUInt16BE(op, 10);
  Buffer.from(DEFAULT_TENANT, 'hex').copy(f, 12);
  f.writeUInt16BE(0, 28);
  f.writeBigUInt64BE(corrId, 30);
  body.copy(f, HEADER_SIZE);
  return f;
}

function localAddr(raw: RawClient): string {
  const socket = (raw.ws as unknown as { _socket: Socket })._socket;
  return `${socket.localAddress}:${socket.localPort}`;
}

test(
  'a forged token, a scope-refused op and a malformed frame each log one warn line with corr_id, remote, tenant, op, reason and the token id and KID, never a token or key byte; a flood of 1,000 bad frames logs a bounded number of lines',
  { timeout: 60_000 },
  async () => {
    const t = await startTestServer({ captureLogs: true });
    try {
      const raw = await RawClient.connect(t.server.url);
      const remote = localAddr(raw);
      assert.equal((await raw.request(OPS.HELLO, { versions: [PROTOCOL_VERSION] })).header.code, 200);

      const forged = forge(t.adminToken);
      const forgedCorr = raw.corrId();
      const forgedReply = await raw.request(OPS.SEND, { topic: 'audit:a', idemKey: 'k1', payload: Buffer.from('secret payload bytes') }, { cap: forged, corrId: forgedCorr });
      assert.equal(errorOf(forgedReply).code, 'E_CAP_AUTH');

      const sendOnly = t.token([{ kind: 'op', ops: ['send'] }]);
      const scopeCorr = raw.corrId();
      assert.equal(errorOf(await raw.request(OPS.RECV, { topic: 'audit:a', maxMessages: 1 }, { cap: sendOnly, corrId: scopeCorr })).code, 'E_CAP_SCOPE');

      const badCorr = raw.corrId();
      const waitBad = raw.waitFor((m) => m.header.corrId === badCorr, 20_000, 'the malformed frame answered');
      await raw.sendRaw(garbageFrame(OPS.SEND, badCorr));
      assert.equal(errorOf(await waitBad).code, 'E_SCHEMA');

      const mine = (): Array<Record<string, unknown>> => t.logs.filter((l) => l.remote === remote && l.level === 'warn');
      await eventually('three audit lines', () => mine().length >= 3);
      const [forgedId, forgedKid] = tokenFingerprint(forged).split('@');
      const [scopeId, scopeKid] = tokenFingerprint(sendOnly).split('@');
      const expect = [
        { event: 'auth_failed', reason: 'E_CAP_AUTH', op: 'SEND', corr_id: formatCorrId(forgedCorr), token_id: forgedId, kid: forgedKid },
        { event: 'scope_refused', reason: 'E_CAP_SCOPE', op: 'RECV', corr_id: formatCorrId(scopeCorr), token_id: scopeId, kid: scopeKid },
        { event: 'frame_refused', reason: 'E_SCHEMA', op: 'SEND', corr_id: formatCorrId(badCorr) },
      ];
      for (const want of expect) {
        const lines = mine().filter((l) => l.event === want.event);
        assert.equal(lines.length, 1, `one ${want.event} line: ${JSON.stringify(mine())}`);
        assert.deepEqual({ ...lines[0], ...want, tenant: DEFAULT_TENANT, remote }, lines[0], `${want.event} carries its fields`);
      }
      assert.equal(forgedKid, t.server.ring.active);
      await raw.close();

      // The flood: 1,000 malformed frames on one connection, then a PING to know they were all read.
      const flood = await RawClient.connect(t.server.url);
      const floodRemote = localAddr(flood);
      for (let i = 0; i < 1_000; i++) await flood.sendRaw(garbageFrame(OPS.SEND, flood.corrId()));
      await flood.ping();
      await flood.close();
      const floodLines = (): Array<Record<string, unknown>> => t.logs.filter((l) => l.remote === floodRemote);
      const suppressed = (): number => floodLines().filter((l) => l.event === 'audit_suppressed').reduce((n, l) => n + Number(l.suppressed), 0);
      const refused = (): number => floodLines().filter((l) => l.event === 'frame_refused').length;
      // The closing connection writes the summary of what it held back.
      await eventually('the flood summarised', () => refused() + suppressed() === 1_000);
      assert.ok(refused() >= 1 && refused() <= 4 * AUDIT_LINES_PER_WINDOW, `bounded lines for 1,000 bad frames: ${refused()}`);
      assert.ok(floodLines().length <= 5 * AUDIT_LINES_PER_WINDOW, `bounded lines in all: ${floodLines().length}`);
      const summaries = floodLines().filter((l) => l.event === 'audit_suppressed');
      assert.ok(summaries.length >= 1 && summaries.every((l) => l.level === 'warn' && l.reason === 'E_SCHEMA' && l.msg === `suppressed ${String(l.suppressed)} similar`));

      // Nothing secret anywhere in the log: no token, no signing key (raw, base64 or hex), no payload.
      const text = t.logs.map((l) => JSON.stringify(l)).join('\n');
      const secret = t.server.ring.activeKey().secret;
      for (const needle of [t.adminToken, forged, sendOnly, forged.slice(TOKEN_PREFIX.length), secret.toString('base64'), secret.toString('hex'), secret.toString('latin1'), 'secret payload bytes']) {
        assert.ok(!text.includes(needle), `the log does not contain ${needle.slice(0, 12)}…`);
      }
    } finally {
      await t.stop();
    }
  },
);

test('every request log line carries corr_id: audit lines of each reason have it, in hex', { timeout: 30_000 }, async () => {
  const t = await startTestServer({ captureLogs: true });
  try {
    const raw = await RawClient.connect(t.server.url);
    await raw.request(OPS.SEND, { topic: 'audit:b', idemKey: 'k', payload: Buffer.from('x') }); // no token
    await raw.request(OPS.SEND, { topic: 'audit:b', idemKey: 'k', payload: Buffer.from('x') }, { cap: 'mbx1.garbage' });
    await raw.request(OPS.DLQ_LIST, {}, { cap: t.token([{ kind: 'op', ops: ['recv'] }]) });
    await raw.request(OPS.SEND, { topic: 42 }, { cap: t.adminToken });
    await raw.close();
    await eventually('four request lines', () => t.logs.filter((l) => l.op !== undefined).length >= 4);
    for (const line of t.logs.filter((l) => l.op !== undefined)) {
      assert.match(String(line.corr_id), /^[0-9a-f]{16}$/, JSON.stringify(line));
    }
  } finally {
    await t.stop();
  }
});
