import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer, type RunningServer } from '../../src/transport/server.ts';
import { resolveConfig } from '../../src/config/resolve.ts';
import { mint } from '../../src/auth/index.ts';
import { DEFAULT_TENANT } from '../../src/domain/types.ts';
import { FLAGS, OPS, decodeFrame, encodeBody, encodeMessage } from '../../src/protocol/index.ts';

describe('outbound frames', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ config: resolveConfig({ amnesia: true, listen: '127.0.0.1:0', metricsAddr: '127.0.0.1:0', logLevel: 'silent' }) });
  });
  after(() => server.close());

  it('a small reply is not held back behind the chunks of a big message on the same socket', async () => {
    const cap = Buffer.from(mint(server.ring));
    const ws = new WebSocket(server.url);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const seen: Array<{ op: number; corrId: bigint; flags: number; size: number }> = [];
    ws.on('message', (data: Buffer) => {
      const { header } = decodeFrame(data);
      seen.push({ op: header.op, corrId: header.corrId, flags: header.flags, size: data.length });
    });
    const request = (op: number, corrId: bigint, body: unknown): void => {
      for (const f of encodeMessage({ flags: FLAGS.REQ | FLAGS.ACK_REQ, op, tenant: DEFAULT_TENANT, corrId, cap, body: encodeBody(body) })) ws.send(f);
    };
    const big = Buffer.alloc(900 * 1024, 7);
    const BIG = 6;
    for (let i = 0; i < BIG; i++) request(OPS.SEND, BigInt(1 + i), { topic: 'big', idemKey: `b${i}`, payload: big });
    await waitFor(() => seen.filter((f) => f.corrId <= BigInt(BIG)).length === BIG);
    // The client stops reading, so the server's writes back up (~5 MiB of chunked replies);
    // a PING answered meanwhile must not queue behind all of them.
    const socket = (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    for (let i = 0; i < BIG; i++) request(OPS.RECV, BigInt(100 + i), { topic: 'big', maxMessages: 1 });
    await new Promise((r) => setTimeout(r, 300));
    request(OPS.PING, 999n, {});
    await new Promise((r) => setTimeout(r, 300));
    socket.resume();
    const ends = (): number => seen.filter((f) => f.corrId >= 100n && f.corrId < 100n + BigInt(BIG) && (f.flags & FLAGS.END) !== 0).length;
    await waitFor(() => ends() === BIG && seen.some((f) => f.corrId === 999n), 30_000);
    const big0 = seen.filter((f) => f.corrId === 100n);
    const pingAt = seen.findIndex((f) => f.corrId === 999n);
    const lastEndAt = seen.findLastIndex((f) => f.corrId >= 100n && (f.flags & FLAGS.END) !== 0);
    assert.ok(big0.length > 10, `a big reply travels in chunks (got ${big0.length} frames)`);
    assert.ok(seen.every((f) => f.size <= 38 + 65_536), 'every frame carries at most 64 KiB of body');
    assert.ok(pingAt < lastEndAt, `the PING reply (frame ${pingAt} of ${seen.length}) arrived before the big replies finished (last END at ${lastEndAt})`);
    ws.close();
  });
});

async function waitFor(done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
