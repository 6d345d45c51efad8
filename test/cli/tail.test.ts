import { strict as assert } from 'node:assert';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { mailbox } from './helpers.ts';

/** A stand-in admin port whose /debug/events sends `lines`, then ends as `end` says. */
function eventsServer(script: (res: ServerResponse) => void): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url !== '/debug/events') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    script(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const url = (s: Server): string => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
const EVENT = '{"at":"2026-12-02T10:00:00.000Z","type":"ReadinessChanged","state":"ready"}';
const CLOSED = '{"at":"2026-12-02T10:00:01.000Z","type":"StreamClosed","reason":"draining"}';

describe('mailbox tail', () => {
  let draining: Server;
  let cut: Server;
  let split: Server;
  before(async () => {
    draining = await eventsServer((res) => res.end(`${EVENT}\n${CLOSED}\n`));
    cut = await eventsServer((res) => res.end(`${EVENT}\n`));
    // The closing line split over two writes: tail must still see it as one line.
    split = await eventsServer((res) => {
      res.write(`${EVENT}\n${CLOSED.slice(0, 30)}`);
      setImmediate(() => res.end(`${CLOSED.slice(30)}\n`));
    });
  });
  after(() => Promise.all([draining, cut, split].map((s) => new Promise((r) => s.close(r)))));

  it('exits 0 saying the server is draining when the stream ends with StreamClosed', async () => {
    for (const server of [draining, split]) {
      const r = await mailbox(['tail', '--admin', url(server)]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${EVENT}\n${CLOSED}\n`);
      assert.equal(r.stderr, `mailbox tail: ${url(server)} is draining; event stream closed\n`);
    }
  });

  it('exits 1 saying the stream ended unexpectedly when it ends without StreamClosed', async () => {
    const r = await mailbox(['tail', '--admin', url(cut)]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, `${EVENT}\n`);
    assert.match(r.stderr, new RegExp(`^mailbox tail: the event stream of ${url(cut)} ended unexpectedly`));
  });
});
