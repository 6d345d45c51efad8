import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { MailboxError } from '../../src/errors.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { LogLimiter } from '../../src/observability/log-limiter.ts';
import { AUDIT_LINES_PER_WINDOW, AUDIT_WINDOW_MS, AuditBudget, ConnectionAudit, SERVER_AUDIT_LINES_PER_WINDOW } from '../../src/transport/audit.ts';

function capture(): { logger: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), lines };
}

const flushed = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('a suppressed summary adds its whole weight to the window it is held back in', () => {
  const limiter = new LogLimiter({ perWindow: 1, windowMs: 1_000 });
  assert.equal(limiter.admit('E_SCHEMA', 0).log, true);
  assert.equal(limiter.admit('E_SCHEMA', 1, 50).log, false);
  assert.deepEqual(limiter.flush(), [{ key: 'E_SCHEMA', suppressed: 50 }]);
});

test('many connections share the server\'s audit budget: opening more of them does not multiply the lines, and every refusal is still accounted for', async () => {
  const { logger, lines } = capture();
  const budget = new AuditBudget(logger);
  const connections = 40;
  const now = 1_000;
  const err = new MailboxError('E_SCHEMA', 'bad frame');
  for (let c = 0; c < connections; c++) {
    const audit = new ConnectionAudit(logger, `127.0.0.1:${10_000 + c}`, budget);
    for (let i = 0; i < AUDIT_LINES_PER_WINDOW + 5; i++) audit.refused(err, { corrId: BigInt(i), tenant: '0'.repeat(32), op: 'SEND' }, now);
    audit.flush(); // the connection closes: its own summary goes through the budget too
  }
  budget.flush(now + AUDIT_WINDOW_MS);
  await flushed();
  const refusedLines = lines.filter((l) => l.event === 'frame_refused').length;
  const suppressed = lines.filter((l) => l.event === 'audit_suppressed').reduce((n, l) => n + Number(l.suppressed), 0);
  const total = connections * (AUDIT_LINES_PER_WINDOW + 5);
  assert.ok(lines.length <= SERVER_AUDIT_LINES_PER_WINDOW + 1, `${lines.length} lines for ${total} refusals over ${connections} connections`);
  assert.equal(refusedLines + suppressed, total, 'every refusal is a line or counted in a summary');
  assert.ok(lines.some((l) => l.event === 'audit_suppressed' && l.scope === 'server'), 'the server-wide summary says what it held back');
});
