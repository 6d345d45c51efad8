import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  CHUNK_SIZE, FLAGS, HEADER_SIZE, MAX_BODY, MAX_CAP, OPS, decodeResponse, decodeEvent, encodeBody, encodeFrame,
  type WireDelivery,
} from '../../src/protocol/index.ts';
import { DEFAULT_TENANT, RawClient, errorOf, type RawMessage, type SeenFrame } from './helpers/raw-client.ts';
import { startTestServer } from './helpers/server.ts';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
/** The longest frame OAP/1 allows: header + largest capability + one chunk. */
const MAX_VALID_FRAME = HEADER_SIZE + MAX_CAP + CHUNK_SIZE;

/** A frame with a correct header around arbitrary body bytes (any size: the header is written by hand). */
function rawFrame(flags: number, op: number, corrId: bigint, body: Uint8Array, cap: Uint8Array = new Uint8Array(0)): Buffer {
  const len = HEADER_SIZE + cap.length + body.length;
  const out = Buffer.alloc(len);
  out.writeUInt32BE(len, 0);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(flags, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(op, 10);
  out.write(DEFAULT_TENANT, 12, 16, 'hex');
  out.writeUInt16BE(cap.length, 28);
  out.writeBigUInt64BE(corrId, 30);
  out.set(cap, HEADER_SIZE);
  out.set(body, HEADER_SIZE + cap.length);
  return out;
}

/** Asserts a server → client message travelled as a well-formed stream of bounded frames. */
function assertBoundedFrames(frames: SeenFrame[], kindFlag: number, what: string): void {
  assert.ok(frames.length >= 2, `${what}: a body over ${CHUNK_SIZE} bytes is chunked (${frames.length} frames)`);
  frames.forEach((f, i) => {
    assert.ok(f.size <= MAX_VALID_FRAME, `${what}: frame ${i} is ${f.size} bytes`);
    assert.ok(f.bodyLen <= CHUNK_SIZE, `${what}: frame ${i} carries ${f.bodyLen} body bytes`);
    assert.equal(f.header.capLen, 0);
    assert.ok(f.header.flags & kindFlag);
    const chunkBits = f.header.flags & (FLAGS.START | FLAGS.END);
    const expected = i === 0 ? FLAGS.START : i === frames.length - 1 ? FLAGS.END : 0;
    assert.equal(chunkBits, expected, `${what}: frame ${i} has chunk bits ${chunkBits}`);
    if (i < frames.length - 1) assert.equal(f.bodyLen, CHUNK_SIZE, `${what}: non-final chunk ${i} is exactly one chunk`);
  });
}

test(
  'oversized input is refused before it is buffered: a chunked stream over 1 MiB gets E_FRAME_TOO_LARGE, a 200 KiB frame gets E_FRAME_TOO_LARGE, a 2 MiB WebSocket message closes with 1009, and the server keeps serving',
  { timeout: 40_000 },
  async () => {
    const t = await startTestServer();
    try {
      const raw = await RawClient.connect(t.server.url);
      const cap = Buffer.from(t.adminToken, 'utf8');

      // A 2 MiB SEND body as a chunked stream: START + middles of exactly 64 KiB + END, one corr_id.
      const corrId = raw.corrId();
      const totalChunks = (2 * 1024 * 1024) / CHUNK_SIZE;
      const chunk = (i: number): Buffer => {
        const flags = i === 0 ? FLAGS.REQ | FLAGS.START | FLAGS.ACK_REQ : i === totalChunks - 1 ? FLAGS.REQ | FLAGS.END : FLAGS.REQ;
        return encodeFrame({ flags, op: OPS.SEND, tenant: DEFAULT_TENANT, corrId, body: randomBytes(CHUNK_SIZE), ...(i === 0 ? { cap } : {}) });
      };
      // The refusal comes as soon as the stream passes MAX_BODY, before the rest is sent.
      const refusing = Math.floor(MAX_BODY / CHUNK_SIZE) + 1;
      for (let i = 0; i < refusing; i++) await raw.sendRaw(chunk(i));
      const refusal = await raw.waitFor((m) => m.header.corrId === corrId, 20_000, 'the refusal of the oversized stream');
      assert.equal(refusal.header.op, OPS.SEND, 'the error echoes app_proto_id');
      assert.equal(refusal.header.code, 413);
      const err = errorOf(refusal);
      assert.equal(err.code, 'E_FRAME_TOO_LARGE');
      assert.equal(err.corrId, corrId);
      // The rest of the stream is discarded silently: one stream, one error.
      for (let i = refusing; i < totalChunks; i++) await raw.sendRaw(chunk(i));
      await raw.ping();
      assert.equal(raw.responses.filter((m) => m.header.corrId === corrId).length, 1, 'exactly one answer for the refused stream');

      // One 200 KiB frame with a valid header: the body exceeds one chunk (rule 7).
      const bigId = raw.corrId();
      await raw.sendRaw(rawFrame(FLAGS.REQ | FLAGS.START | FLAGS.END | FLAGS.ACK_REQ, OPS.PING, bigId, randomBytes(200 * 1024)));
      const tooBig = await raw.waitFor((m) => m.header.corrId === bigId, 20_000, 'the refusal of the 200 KiB frame');
      assert.equal(tooBig.header.code, 413);
      assert.equal(tooBig.header.op, OPS.PING, 'the error echoes app_proto_id');
      assert.equal(errorOf(tooBig).code, 'E_FRAME_TOO_LARGE');
      await raw.ping();
      assert.ok(raw.isOpen, 'refused frames answered on the same connection');
      assert.deepEqual(raw.undecodable, []);
      await raw.close();

      // A 2 MiB WebSocket message is above ws maxPayload: the connection is closed with 1009.
      const huge = await RawClient.connect(t.server.url);
      await huge.sendRaw(rawFrame(FLAGS.REQ | FLAGS.START | FLAGS.END, OPS.PING, 1n, new Uint8Array(2 * 1024 * 1024 - HEADER_SIZE)));
      const closed = await huge.closed;
      assert.equal(closed.code, 1009);
      assert.equal(huge.responses.length, 0);

      // Still serving: a new connection pings, the admin port is healthy, nothing was enqueued.
      const after = await RawClient.connect(t.server.url);
      await after.ping();
      await after.close();
      assert.equal((await t.get('/healthz')).status, 200);
      assert.equal((await t.get('/readyz')).status, 200);
      assert.deepEqual(await t.depths(), { ready: 0, delayed: 0, leased: 0, dlq: 0 });
    } finally {
      await t.stop();
    }
  },
);

test(
  'a 900 KiB payload round-trips intact through the SDK, and the server writes it as chunks of at most 64 KiB body in frames of at most 131,109 bytes',
  { timeout: 40_000 },
  async () => {
    const t = await startTestServer();
    try {
      const client = await t.client();
      const payload = randomBytes(900 * 1024);

      // SDK: send, receive, compare bytes and hash.
      const { msgId } = await client.send({ topic: 'big:sdk', idemKey: 'big-1', payload });
      const [d] = await client.recv({ topic: 'big:sdk', maxMessages: 1, waitMs: 10_000 });
      assert.equal(d?.msgId, msgId);
      assert.ok(Buffer.from(d!.payload).equals(payload), 'payload bytes are equal');
      assert.equal(d!.payloadHash, sha256(payload));
      await d!.ack();

      // Raw: the RECV response stream as it is on the wire.
      const raw = await RawClient.connect(t.server.url);
      const cap = t.adminToken;
      const recvTopic = 'big:raw-recv';
      const sent = await client.send({ topic: recvTopic, idemKey: 'big-2', payload });
      const reply = await raw.request(OPS.RECV, { topic: recvTopic, maxMessages: 1, waitMs: 10_000 }, { cap });
      assert.equal(reply.header.code, 200);
      assertBoundedFrames(reply.frames, FLAGS.RESP, 'RECV response');
      const { deliveries } = decodeResponse(OPS.RECV, reply.body);
      assert.equal(deliveries.length, 1);
      assertDelivery(deliveries[0]!, sent.msgId, payload);
      const ack = await raw.request(OPS.ACK, { msgId: deliveries[0]!.msgId, leaseId: deliveries[0]!.leaseId }, { cap });
      assert.equal(ack.header.code, 200);

      // Raw: the DELIVER event stream of a subscription.
      const subTopic = 'big:raw-sub';
      const subReply = await raw.request(OPS.SUBSCRIBE, { topic: subTopic, prefetch: 1 }, { cap });
      assert.equal(subReply.header.code, 200);
      const { subscriptionId } = decodeResponse(OPS.SUBSCRIBE, subReply.body);
      const pushedSend = await client.send({ topic: subTopic, idemKey: 'big-3', payload });
      const event: RawMessage = await raw.waitFor((m) => (m.header.flags & FLAGS.EVENT) !== 0, 20_000, 'the DELIVER event');
      assert.equal(event.header.op, OPS.DELIVER);
      assertBoundedFrames(event.frames, FLAGS.EVENT, 'DELIVER event');
      const deliver = decodeEvent(OPS.DELIVER, event.body);
      assert.equal(deliver.subscriptionId, subscriptionId);
      assertDelivery(deliver.deliveries[0]!, pushedSend.msgId, payload);
      await raw.request(OPS.ACK, { msgId: deliver.deliveries[0]!.msgId, leaseId: deliver.deliveries[0]!.leaseId }, { cap });

      // Every frame the server wrote on this connection was within bounds.
      for (const f of raw.frames) {
        assert.ok(f.size <= MAX_VALID_FRAME && f.bodyLen <= CHUNK_SIZE, `frame of ${f.size} bytes, body ${f.bodyLen}`);
      }
      assert.deepEqual(raw.undecodable, []);
      await raw.close();
      await eventually0(t);
    } finally {
      await t.stop();
    }
  },
);

function assertDelivery(d: WireDelivery, msgId: string, payload: Buffer): void {
  assert.equal(d.msgId, msgId);
  assert.ok(Buffer.from(d.payload).equals(payload), 'payload bytes are equal');
  assert.equal(d.payloadHash, sha256(payload));
}

async function eventually0(t: Awaited<ReturnType<typeof startTestServer>>): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const d = await t.depths();
    if (d.ready + d.delayed + d.leased + d.dlq === 0) return;
    assert.ok(Date.now() < deadline, `depths did not reach 0: ${JSON.stringify(d)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// ---- fuzz ---------------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with FUZZ_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

type Malformed = { kind: string; data: Buffer | string; closes?: boolean };

const SINGLE_REQ = FLAGS.REQ | FLAGS.START | FLAGS.END | FLAGS.ACK_REQ;
const REQUEST_OPS = [OPS.HELLO, OPS.PING, OPS.SEND, OPS.SEND_BATCH, OPS.RECV, OPS.SUBSCRIBE, OPS.UNSUBSCRIBE, OPS.CREDIT, OPS.ACK, OPS.ACK_BATCH, OPS.NACK, OPS.EXTEND, OPS.DLQ_LIST, OPS.DLQ_REPROCESS, OPS.DLQ_PURGE];

function malformedFrames(rand: () => number, corr: () => bigint, token: string): Array<(r: () => number) => Malformed> {
  const int = (n: number): number => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const bytes = (n: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = int(256);
    return b;
  };
  const validSend = (): Buffer => encodeBody({ topic: 'fuzz:t', idemKey: `k${int(1e9)}`, payload: bytes(int(64)) });
  const wrongTypes = [
    { topic: 42, idemKey: 'k', payload: Buffer.from('x') },
    { topic: 'fuzz:t', idemKey: 'k', payload: 'a string, not bin' },
    { topic: 'fuzz:t', idemKey: 'k', payload: Buffer.from('x'), delayMs: -1 },
    { topic: 'fuzz:t', idemKey: 'k', payload: Buffer.from('x'), attrs: { a: 1 } },
    { topic: null, idemKey: 'k', payload: Buffer.from('x') },
    { versions: 'one' },
    { versions: [] },
    { items: 'nope' },
    { items: [] },
    { msgId: 'not-a-ulid', leaseId: 'l' },
    { topic: 'fuzz:t', maxMessages: 0 },
    { topic: 'fuzz:t', prefetch: 1.5 },
    { topic: '', idemKey: 'k', payload: Buffer.from('x') },
    { topic: 'a\u0001b', idemKey: 'k', payload: Buffer.from('x') },
    [1, 2, 3],
    'just a string',
    7,
  ];
  const unknownFields = [
    { extra: 1 },
    { topic: 'fuzz:t', idemKey: 'k', payload: Buffer.from('x'), tenant: 'f'.repeat(32) },
    { versions: [1], client: 'fuzz', debug: true },
    { topic: 'fuzz:t', maxMessages: 1, __proto__x: 1 },
  ];
  return [
    () => ({ kind: 'random bytes >= 38', data: bytes(HEADER_SIZE + int(400)) }),
    () => ({ kind: 'random bytes < 38', data: bytes(int(HEADER_SIZE)) }),
    () => ({ kind: 'valid header, garbage body', data: rawFrame(SINGLE_REQ, pick(REQUEST_OPS), corr(), bytes(1 + int(300))) }),
    () => {
      const f = rawFrame(SINGLE_REQ, OPS.PING, corr(), encodeBody({}));
      f.writeUInt16BE(SINGLE_REQ | (0x40 << int(10)), 6);
      return { kind: 'unknown flag bit', data: f };
    },
    () => {
      const f = rawFrame(SINGLE_REQ, OPS.PING, corr(), encodeBody({}));
      f.writeUInt16BE(pick([0, 2, 3, 0xffff]), 4);
      return { kind: 'wrong version', data: f };
    },
    () => {
      const f = rawFrame(SINGLE_REQ, OPS.PING, corr(), encodeBody({}));
      f.writeUInt32BE(f.length + pick([-3, -1, 1, 7, 1000]), 0);
      return { kind: 'len mismatch', data: f };
    },
    () => ({ kind: 'unknown op', data: rawFrame(SINGLE_REQ, pick([0, 3, 0x12, 0x24, 0x7777, 0x0080, 0xffff]), corr(), encodeBody({})) }),
    () => ({ kind: 'cap on a non-START frame', data: rawFrame(FLAGS.REQ | FLAGS.END, OPS.PING, corr(), encodeBody({}), Buffer.from(token)) }),
    () => ({ kind: 'middle chunk with no stream', data: rawFrame(FLAGS.REQ, OPS.SEND, corr(), bytes(CHUNK_SIZE)) }),
    () => {
      const body = validSend();
      return { kind: 'truncated msgpack', data: rawFrame(SINGLE_REQ, OPS.SEND, corr(), body.subarray(0, 1 + int(body.length - 1)), Buffer.from(token)) };
    },
    () => ({ kind: 'wrong types in body', data: rawFrame(SINGLE_REQ, pick(REQUEST_OPS), corr(), encodeBody(pick(wrongTypes)), Buffer.from(token)) }),
    () => ({ kind: 'unknown fields', data: rawFrame(SINGLE_REQ, pick([OPS.PING, OPS.SEND, OPS.HELLO, OPS.RECV]), corr(), encodeBody(pick(unknownFields)), Buffer.from(token)) }),
    () => ({ kind: 'response or event flags from a client', data: rawFrame(pick([FLAGS.RESP, FLAGS.EVENT]) | FLAGS.START | FLAGS.END, OPS.PING, corr(), encodeBody({})) }),
    () => ({ kind: 'extension type / reserved byte in body', data: rawFrame(SINGLE_REQ, OPS.PING, corr(), Buffer.from(pick([[0xc1], [0xd4, 0x01, 0x00], [0x81, 0xa1, 0x61, 0xc7, 0x01, 0x05, 0x00]]))) }),
    () => ({ kind: 'cap_len beyond len', data: (() => { const f = rawFrame(SINGLE_REQ, OPS.PING, corr(), encodeBody({})); f.writeUInt16BE(500, 28); return f; })() }),
    () => ({ kind: 'text message', data: 'not a frame', closes: true }),
  ];
}

const ALLOWED_ERRORS = new Set(['E_SCHEMA', 'E_FRAME_TOO_LARGE', 'E_CAP_AUTH', 'E_CAP_SCOPE', 'E_NOT_FOUND', 'E_SATURATED']);

test(
  '1,000 random malformed frames leave the server serving: each gets a typed error frame or a close with a reason, while another client sends and receives 500 messages without an error',
  { timeout: 45_000 },
  async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
    const rand = prng(seed);
    const t = await startTestServer({ captureLogs: true });
    try {
      const sdkErrors: unknown[] = [];
      const client = await t.client({ onError: (e) => sdkErrors.push(e) });

      // The well-behaved client: 500 messages through, concurrently with the fuzzing.
      const wellBehaved = (async () => {
        const got = new Set<string>();
        const sub = client.subscribe({ topic: 'fuzz:good', prefetch: 64, concurrency: 8 }, async (d) => {
          got.add(d.msgId);
          await d.ack();
        });
        await sub.ready;
        const sentIds: string[] = [];
        for (let round = 0; round < 10; round++) {
          const results = await client.sendBatch(Array.from({ length: 50 }, (_, i) => ({ topic: 'fuzz:good', idemKey: `g-${round}-${i}`, payload: `good ${round}.${i}` })));
          for (const r of results) {
            if (r instanceof Error) throw r;
            sentIds.push(r.msgId);
          }
          await new Promise((r) => setTimeout(r, 10));
        }
        const deadline = Date.now() + 30_000;
        while (got.size < sentIds.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        await sub.close();
        return { sentIds, got };
      })();

      // The fuzzer.
      let raw = await RawClient.connect(t.server.url);
      const clients: RawClient[] = [raw];
      const generators = malformedFrames(rand, () => raw.corrId(), t.adminToken);
      const kinds = new Map<string, number>();
      const closes: Array<{ kind: string; code: number; reason: string }> = [];
      let pendingPing = 0;
      for (let i = 0; i < 1000; i++) {
        const m = generators[Math.floor(rand() * generators.length)]!(rand);
        kinds.set(m.kind, (kinds.get(m.kind) ?? 0) + 1);
        await raw.sendRaw(m.data, typeof m.data !== 'string');
        if (m.closes || ++pendingPing === 25 || i === 999) {
          pendingPing = 0;
          // Either the server answers a PING after everything sent so far, or it closed the socket.
          const outcome = await Promise.race([raw.closed, raw.ping().then(() => undefined, () => undefined)]);
          const closed = outcome ?? (raw.isOpen ? undefined : await raw.closed);
          if (closed) {
            closes.push({ kind: m.kind, ...closed });
            raw = await RawClient.connect(t.server.url);
            clients.push(raw);
          }
        }
      }

      const { sentIds, got } = await wellBehaved;
      assert.equal(sentIds.length, 500);
      assert.deepEqual(sentIds.filter((id) => !got.has(id)), [], `seed ${seed}: every good message arrived`);
      assert.deepEqual(sdkErrors, [], `seed ${seed}: the well-behaved client saw no error`);

      // Every answer to the fuzzer was a typed error (PINGs aside); every close carried a reason.
      for (const c of clients) {
        assert.deepEqual(c.undecodable, [], `seed ${seed}: the server wrote only valid frames`);
        for (const r of c.responses) {
          if (r.header.op === OPS.PING && r.header.code === 200) continue;
          const err = errorOf(r);
          assert.ok(ALLOWED_ERRORS.has(err.code), `seed ${seed}: unexpected ${err.code}: ${err.message}`);
          assert.equal(r.header.code, err.status);
        }
      }
      const answered = clients.reduce((n, c) => n + c.responses.filter((r) => r.header.code !== 200).length, 0);
      assert.ok(answered > 500, `seed ${seed}: most malformed frames were answered with an error frame (${answered})`);
      for (const c of closes) {
        assert.equal(c.code, 1003, `seed ${seed}: only a text message closes the connection (${c.kind} closed with ${c.code})`);
        assert.ok(c.reason.length > 0, `seed ${seed}: ${c.kind} closed with a reason`);
      }
      assert.ok(closes.length > 0 && kinds.size === generators.length, `seed ${seed}: every kind was tried (${[...kinds.keys()].join(', ')})`);

      // Still serving.
      await raw.ping();
      await client.ping();
      assert.equal((await t.get('/healthz')).status, 200);
      assert.equal((await t.get('/readyz')).status, 200);
      const failures = t.logs.filter((l) => l.level === 'error' || l.level === 'fatal');
      assert.deepEqual(failures, [], `seed ${seed}: the server logged no error`);
      await Promise.all(clients.map((c) => c.close()));
    } finally {
      await t.stop();
    }
  },
);
