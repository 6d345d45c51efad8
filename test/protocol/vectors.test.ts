import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TenantId } from '../../src/domain/types.ts';
import {
  ChunkReassembler, FLAGS, OPS, decodeBody, decodeError, decodeEvent, decodeFrame, decodeRequest, decodeResponse,
  encodeBody, encodeFrame, encodeMessage, opName, type AssembledMessage,
} from '../../src/protocol/index.ts';
import { fromJson, toJson, type VectorJson } from '../../docs/vectors/vector-json.ts';

/** The vectors are published with the protocol document, for third-party clients to check themselves. */
const docs = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs');
const dir = join(docs, 'vectors');
const readHex = (name: string): Buffer => Buffer.from(readFileSync(join(dir, name), 'utf8').replace(/\s+/g, ''), 'hex');
const readJson = (name: string): VectorJson => JSON.parse(readFileSync(join(dir, name), 'utf8')) as VectorJson;

/** Runs a whole message through the schema its header names, as a receiver would. */
function checkSchema(m: AssembledMessage): void {
  const { flags, code, op } = m.header;
  const body = decodeBody(m.body);
  if (flags & FLAGS.REQ) decodeRequest(op, body);
  else if (flags & FLAGS.EVENT) decodeEvent(op, body);
  else if (code === 200) decodeResponse(op, body);
  else decodeError(body);
}

const names = readdirSync(dir).filter((n) => n.endsWith('.hex')).sort();

describe('OAP/1 test vectors', () => {
  it('are published in docs/vectors beside PROTOCOL.md, each one named in its §12 table, with a README', () => {
    const spec = readFileSync(join(docs, 'PROTOCOL.md'), 'utf8');
    const section = spec.slice(spec.indexOf('## 12. Test vectors'), spec.indexOf('## 13.'));
    assert.match(section, /`docs\/vectors\/NAME\.hex`/);
    const listed = new Set([...section.matchAll(/^\| `([a-z-]+)`(?: \/ `([a-z-]+)`)? \|/gm)].flatMap((m) => m.slice(1).filter(Boolean)));
    assert.deepEqual([...listed].sort(), names.map((n) => n.replace(/\.hex$/, '')), 'the table lists exactly the vectors in docs/vectors');
    for (const n of names) assert.ok(readdirSync(dir).includes(n.replace(/\.hex$/, '.json')), `${n} has its JSON`);
    assert.match(readFileSync(join(dir, 'README.md'), 'utf8'), /third-party/i);
  });

  it('has the documented vectors', () => {
    for (const n of ['hello-request.hex', 'send-request.hex', 'deliver-event.hex', 'error-response.hex', 'chunked-start.hex', 'chunked-end.hex']) {
      assert.ok(names.includes(n), n);
    }
  });

  for (const name of names) {
    const json = readJson(name.replace(/\.hex$/, '.json'));
    it(`decodes ${name} to the header and body its JSON describes, and re-encodes it byte for byte`, () => {
      const bytes = readHex(name);
      const frame = decodeFrame(bytes);
      const h = frame.header;
      assert.deepEqual(
        { len: h.len, ver: h.ver, flags: h.flags, code: h.code, op: h.op, tenant: h.tenant, capLen: h.capLen, corrId: h.corrId.toString() },
        { len: json.header.len, ver: json.header.ver, flags: json.header.flags, code: json.header.code, op: json.header.op, tenant: json.header.tenant, capLen: json.header.capLen, corrId: json.header.corrId },
      );
      assert.deepEqual(json.header.flagNames.reduce((f, n) => f | FLAGS[n as keyof typeof FLAGS], 0), h.flags);
      assert.equal(opName(h.op), json.header.opName === 'NONE' ? undefined : json.header.opName);
      assert.equal(Buffer.from(frame.cap).toString('hex'), json.capHex);
      assert.equal(frame.body.length, json.bodyLength);

      if (json.body !== undefined) {
        const value = decodeBody(frame.body);
        assert.deepEqual(toJson(value), json.body);
        checkSchema({ header: h, cap: frame.cap, body: frame.body });
        const again = encodeFrame({
          flags: h.flags, code: h.code, op: h.op, tenant: h.tenant, corrId: h.corrId,
          cap: Buffer.from(json.capHex, 'hex'), body: encodeBody(fromJson(json.body)),
        });
        assert.ok(again.equals(bytes), 're-encoded frame differs');
      }
    });
  }

  it('reassembles the chunked vectors into the body chunked-end.json describes and re-encodes both frames byte for byte', () => {
    const end = readJson('chunked-end.json');
    const frames = end.stream!.frames.map(readHex);
    const r = new ChunkReassembler();
    let message: AssembledMessage | undefined;
    for (const f of frames) message = r.push(decodeFrame(f), 0);
    assert.ok(message);
    assert.deepEqual(toJson(decodeBody(message.body)), end.stream!.body);
    checkSchema(message);
    const h = message.header;
    const again = encodeMessage({
      flags: h.flags & (FLAGS.REQ | FLAGS.RESP | FLAGS.EVENT | FLAGS.ACK_REQ), code: h.code, op: h.op, tenant: h.tenant as TenantId,
      corrId: h.corrId, cap: message.cap, body: encodeBody(fromJson(end.stream!.body!)),
    });
    assert.equal(again.length, frames.length);
    for (let i = 0; i < frames.length; i++) assert.ok(again[i]!.equals(frames[i]!), `frame ${i} differs`);
    assert.equal(h.op, OPS.SEND);
  });
});
