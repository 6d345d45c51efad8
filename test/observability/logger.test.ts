import { strict as assert } from 'node:assert';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { MailboxError } from '../../src/errors.ts';
import { childLogger, createLogger } from '../../src/observability/logger.ts';
import { CorrIdGenerator, formatCorrId, nextCorrId, parseCorrId } from '../../src/observability/corr.ts';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('logger', () => {
  it('writes JSON lines with service and pid', () => {
    const out = capture();
    createLogger({ level: 'info', destination: out.stream }).info('hello');
    const [line] = out.lines();
    assert.equal(line!.service, 'svc-mailbox');
    assert.equal(line!.pid, process.pid);
    assert.equal(line!.msg, 'hello');
  });

  it('never writes a token, capability, key or secret', () => {
    const out = capture();
    const log = createLogger({ level: 'info', destination: out.stream });
    log.info({ token: 'tok-1', cap: 'cap-1', key: 'key-1', secret: 'sec-1', req: { token: 'tok-2', cap: 'cap-2' }, config: { auth: { keys: { k1: 'sec-2' } } } }, 'redacted');
    childLogger(log, { event: 'auth' }).warn({ session: { token: 'tok-3' } }, 'child');
    const text = out.lines().map((l) => JSON.stringify(l)).join('\n');
    for (const secret of ['tok-1', 'tok-2', 'tok-3', 'cap-1', 'cap-2', 'key-1', 'sec-1', 'sec-2']) assert.ok(!text.includes(secret), secret);
    const [first] = out.lines();
    assert.equal(first!.token, '[redacted]');
    assert.deepEqual(first!.req, { token: '[redacted]', cap: '[redacted]' });
  });

  it('child loggers carry corr_id, shard and event', () => {
    const out = capture();
    const log = childLogger(createLogger({ level: 'debug', destination: out.stream }), { corrId: 255n, shard: 3, event: 'send' });
    log.debug('accepted');
    const [line] = out.lines();
    assert.equal(line!.corr_id, '00000000000000ff');
    assert.equal(line!.shard, 3);
    assert.equal(line!.event, 'send');
  });

  it('serialises a MailboxError with its code and hex corr id', () => {
    const out = capture();
    createLogger({ level: 'info', destination: out.stream }).error({ err: new MailboxError('E_SATURATED', 'full', { corrId: 16n, retryAfterMs: 5 }) }, 'refused');
    const err = out.lines()[0]!.err as Record<string, unknown>;
    assert.equal(err.code, 'E_SATURATED');
    assert.equal(err.corrId, '0000000000000010');
  });

  it('level silent writes nothing', () => {
    const out = capture();
    const log = createLogger({ level: 'silent', destination: out.stream });
    log.fatal('no');
    log.error({ token: 'x' }, 'no');
    assert.deepEqual(out.lines(), []);
  });
});

describe('correlation ids', () => {
  it('increase by one and wrap at 2^64', () => {
    const gen = new CorrIdGenerator((1n << 64n) - 2n);
    assert.deepEqual([gen.next(), gen.next(), gen.next()], [(1n << 64n) - 2n, (1n << 64n) - 1n, 0n]);
    const a = nextCorrId();
    assert.equal(nextCorrId(), (a + 1n) & ((1n << 64n) - 1n));
  });

  it('format as 16 hex digits and parse back', () => {
    assert.equal(formatCorrId(0xabcn), '0000000000000abc');
    assert.equal(parseCorrId('0000000000000abc'), 0xabcn);
    assert.equal(parseCorrId('0xff'), 255n);
    assert.equal(parseCorrId('42'), 42n);
    assert.equal(parseCorrId('18446744073709551616'), undefined);
    assert.equal(parseCorrId('zz'), undefined);
  });
});
