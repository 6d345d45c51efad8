import { strict as assert } from 'node:assert';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { cannotReach } from '../../src/cli/common.ts';
import { mailbox } from './helpers.ts';

/** A loopback port with nothing listening: bound, then closed. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

describe('mailbox commands against a server that is down', () => {
  it('a command whose server is down names the URL and the cause, exit 1', async () => {
    const port = await closedPort();
    const admin = `http://127.0.0.1:${port}`;
    const ws = `ws://127.0.0.1:${port}`;
    const cases: ReadonlyArray<readonly [string, readonly string[], string]> = [
      ['tree', ['tree', '--admin', admin], admin],
      ['tail', ['tail', '--admin', admin], admin],
      ['backup', ['backup', '--out', '/tmp/mailbox-unused', '--admin', admin, '--token', 'mbx1.x'], admin],
      ['dlq list', ['dlq', 'list', '--url', ws, '--token', 'mbx1.x'], ws],
      ['drain', ['drain', '--admin', admin, '--token', 'mbx1.x'], admin],
      ['ready', ['ready', '--admin', admin], admin],
      ['dlq reprocess', ['dlq', 'reprocess', '--rate', '10/s', '--url', ws, '--token', 'mbx1.x'], ws],
      // No flag: the address comes from the configuration, as serve reads it.
      ['tree', ['tree'], admin],
    ];
    for (const [name, args, url] of cases) {
      const r = await mailbox(args, { MAILBOX_METRICS_ADDR: `127.0.0.1:${port}` });
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, `mailbox ${name.split(' ')[0]}: cannot reach ${url}: connection refused\n`, args.join(' '));
    }
  });

  it('a bad --admin or --url value is a usage error', async () => {
    for (const args of [['tree', '--admin', '127.0.0.1:9600'], ['tail', '--admin', 'ws://127.0.0.1:9600'], ['backup', '--out', 'x', '--admin', 'nonsense'], ['dlq', 'list', '--url', 'http://127.0.0.1:9410'], ['drain', '--admin', '127.0.0.1:9600'], ['ready', '--admin', 'nonsense']]) {
      const r = await mailbox(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^mailbox [a-z ]+: --(admin|url) must be a (http or https|ws or wss) URL .+\nusage: mailbox /, args.join(' '));
    }
  });

  it('maps the common errno codes of fetch and socket errors to words', () => {
    const wrapped = (code: string): unknown => new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code }) });
    assert.equal(cannotReach('http://h:1/debug/tree', wrapped('ECONNREFUSED')).message, 'cannot reach http://h:1: connection refused');
    assert.equal(cannotReach('http://h:1', wrapped('ENOTFOUND')).message, 'cannot reach http://h:1: host not found');
    assert.equal(cannotReach('http://h:1', wrapped('ETIMEDOUT')).message, 'cannot reach http://h:1: connection timed out');
    assert.equal(cannotReach('http://h:1', wrapped('ECONNRESET')).message, 'cannot reach http://h:1: connection reset by peer');
    const aggregate = new TypeError('fetch failed', { cause: new AggregateError([Object.assign(new Error('a'), { code: 'ECONNREFUSED' })]) });
    assert.equal(cannotReach('http://localhost:1', aggregate).message, 'cannot reach http://localhost:1: connection refused');
  });
});
