/**
 * `MailboxClient.connect([url1, url2, …])` against real servers: two in-process mailboxes
 * (amnesia, their own WebSocket listeners) that share a key ring, so one token is good on
 * both, as it is for instances of one deployment. They share no data: the SDK does not care.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateKey } from '../../src/auth/index.ts';
import { MailboxClient, MailboxError, type ClientDelivery, type ClientOptions, type ReconnectInfo } from '../../src/client/index.ts';
import { Endpoints } from '../../src/client/endpoints.ts';
import { freePort } from '../integration/helpers/process.ts';
import { eventually, startTestServer, type TestServer } from '../integration/helpers/server.ts';

const SECRET = 'mbx1.never-in-a-message';

async function startPair(): Promise<[TestServer, TestServer]> {
  const auth = { keys: { k1: generateKey() }, activeKid: 'k1' };
  return Promise.all([startTestServer({ config: { auth } }), startTestServer({ config: { auth } })]);
}

/** A URL nobody listens on: a port bound and released. */
async function downUrl(): Promise<string> {
  return `ws://127.0.0.1:${await freePort()}`;
}

async function rejectsWith(p: Promise<unknown>, code: string, check: (err: MailboxError) => void = () => {}): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof MailboxError, `expected a MailboxError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    check(err);
    return true;
  });
}

/** Rejects when `p` has not settled within `ms`: an ACK must fail, never hang. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

describe('Endpoints: the order URLs are tried in', () => {
  it('starts at the given index and goes round robin, wrapping at the end', () => {
    const e = new Endpoints(['ws://a:1', 'ws://b:1', 'ws://c:1'], 4);
    assert.deepEqual([e.next(), e.next(), e.next(), e.next()], ['ws://b:1', 'ws://c:1', 'ws://a:1', 'ws://b:1']);
  });

  it('a single URL is every attempt', () => {
    const e = new Endpoints('ws://a:1', 7);
    assert.deepEqual([e.next(), e.next()], ['ws://a:1', 'ws://a:1']);
  });

  it('names each failed URL once, in the order tried, without user info or query', () => {
    const e = new Endpoints([`ws://u:${SECRET}@a:1/mb?token=${SECRET}`, 'ws://b:1'], 0);
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    e.failed(e.next(), new MailboxError('E_UNAVAILABLE', 'x', { cause: refused }));
    e.failed(e.next(), new MailboxError('E_UNAVAILABLE', 'x', { cause: refused }));
    assert.equal(e.describeFailures(), 'cannot reach ws://a:1/mb, ws://b:1: connection refused');
    e.failed(e.next(), new MailboxError('E_UNAVAILABLE', 'HELLO not answered within 5 ms'));
    assert.equal(e.describeFailures(), 'cannot reach ws://b:1 (connection refused), ws://a:1/mb (HELLO not answered within 5 ms)');
    e.reached();
    assert.equal(e.describeFailures(), undefined);
  });
});

describe('MailboxClient.connect with several URLs', () => {
  let a: TestServer;
  let b: TestServer;

  before(async () => {
    [a, b] = await startPair();
  });
  after(async () => {
    await Promise.all([a.stop(), b.stop()]);
  });

  it('connect([down, up]) lands on the up one, whichever it tries first, and reports the one it skipped', async () => {
    const down = await downUrl();
    // The start index is random: ten connects try the down URL first about half the time.
    for (let i = 0; i < 10; i++) {
      const errors: MailboxError[] = [];
      const c = await MailboxClient.connect([down, a.server.url], { token: a.adminToken, reconnect: false, onError: (e) => errors.push(e) });
      try {
        assert.equal(c.url, a.server.url);
        assert.ok(await c.ping() >= 0);
        for (const e of errors) {
          assert.equal(e.code, 'E_UNAVAILABLE');
          assert.equal(e.message, `cannot reach ${down}: connection refused`);
        }
      } finally {
        await c.close();
      }
      assert.equal(c.url, undefined, 'no URL once closed');
    }
  });

  it('a single URL string works as before and reports its URL', async () => {
    const c = await MailboxClient.connect(b.server.url, { token: b.adminToken, reconnect: false });
    try {
      assert.equal(c.url, b.server.url);
      const { msgId } = await c.send({ topic: 'multi:single', idemKey: 'one', payload: 'x' });
      const [d] = await c.recv({ topic: 'multi:single', visibilityMs: 5_000, waitMs: 1_000 });
      assert.equal(d?.msgId, msgId);
      await d!.ack();
    } finally {
      await c.close();
    }
  });

  it('refuses an empty list, a non-string entry and a URL that is not ws:// or wss:// with E_CONFIG naming the entry', async () => {
    const opts: ClientOptions = { token: a.adminToken };
    await rejectsWith(MailboxClient.connect([], opts), 'E_CONFIG', (e) => assert.match(e.message, /^urls: the list is empty/));
    await rejectsWith(MailboxClient.connect([a.server.url, 42 as unknown as string], opts), 'E_CONFIG', (e) => {
      assert.equal(e.message, 'urls[1]: expected a ws:// or wss:// URL, got number');
    });
    await rejectsWith(MailboxClient.connect([a.server.url, 'http://127.0.0.1:9410'], opts), 'E_CONFIG', (e) => {
      assert.equal(e.message, 'urls[1]: http://127.0.0.1:9410 is not a ws:// or wss:// URL');
    });
    await rejectsWith(MailboxClient.connect(['ws://127.0.0.1:9410/#x'], opts), 'E_CONFIG', (e) => assert.match(e.message, /^urls\[0\]: .*#fragment/));
    await rejectsWith(MailboxClient.connect('ftp://127.0.0.1:9410', opts), 'E_CONFIG', (e) => assert.match(e.message, /^url: ftp:\/\/127\.0\.0\.1:9410 is not/));
    await rejectsWith(MailboxClient.connect(undefined as unknown as string, opts), 'E_CONFIG', (e) => assert.match(e.message, /^url: expected .* got undefined/));
    // A token passed in the URL's place (arguments swapped) is named by position, never echoed.
    await rejectsWith(MailboxClient.connect([a.server.url, SECRET], opts), 'E_CONFIG', (e) => {
      assert.equal(e.message, 'urls[1]: not a URL (expected ws://host:port or wss://host:port)');
    });
    await rejectsWith(MailboxClient.connect([`https://user:${SECRET}@h:1/?token=${SECRET}`], opts), 'E_CONFIG', (e) => {
      assert.ok(!e.message.includes(SECRET), e.message);
      assert.equal(e.message, 'urls[0]: https://h:1 is not a ws:// or wss:// URL');
    });
  });

  it('when every URL is down, connect rejects with E_UNAVAILABLE naming each URL tried and why, never a token', async () => {
    const [d1, d2] = [await downUrl(), await downUrl()];
    const withSecret = `${d2.replace('ws://', `ws://user:${SECRET}@`)}/?token=${SECRET}`;
    await rejectsWith(MailboxClient.connect([d1, withSecret], { token: SECRET }), 'E_UNAVAILABLE', (e) => {
      assert.ok(!e.message.includes(SECRET), e.message);
      const tried = [`cannot reach ${d1}, ${d2}: connection refused`, `cannot reach ${d2}, ${d1}: connection refused`];
      assert.ok(tried.includes(e.message), e.message);
      assert.ok(e.retryable);
    });
    // One URL: the same form.
    await rejectsWith(MailboxClient.connect(d1, { token: SECRET }), 'E_UNAVAILABLE', (e) => {
      assert.equal(e.message, `cannot reach ${d1}: connection refused`);
    });
  });
});

describe('failover: the instance a client is on goes away', () => {
  it('a subscribed client lands on the other instance, re-subscribes there, and gets what is sent to it; leases of the lost one fail, they do not hang', { timeout: 30_000 }, async () => {
    const [a, b] = await startPair();
    const servers = new Map([[a.server.url, a], [b.server.url, b]]);
    const down = await downUrl();
    const reconnects: ReconnectInfo[] = [];
    const errors: MailboxError[] = [];
    // The down URL sits between the two: from a, the round robin passes it before b.
    const client = await MailboxClient.connect([a.server.url, down, b.server.url], {
      token: a.adminToken, maxReconnectDelayMs: 200, onReconnect: (i) => reconnects.push(i), onError: (e) => errors.push(e),
    });
    try {
      const first = servers.get(client.url!)!;
      const other = first === a ? b : a;
      const got: ClientDelivery[] = [];
      const sub = client.subscribe({ topic: 'multi:jobs', visibilityMs: 30_000, prefetch: 8 }, (d) => {
        got.push(d); // settled below
      });
      await sub.ready;
      const before = await client.send({ topic: 'multi:jobs', idemKey: 'on-first', payload: 'first' });
      await eventually('the delivery from the first instance', () => got.length === 1, 10_000);
      assert.equal(got[0]!.msgId, before.msgId);
      const firstSubId = sub.id;

      await first.stop();
      await eventually('a reconnect', () => reconnects.length === 1, 15_000);
      assert.equal(client.url, other.server.url);
      assert.equal(reconnects[0]!.url, other.server.url);
      assert.notEqual(sub.id, firstSubId);
      // Any attempt that failed on the way named its URL (the stopped instance or the down one).
      for (const e of errors.filter((x) => x.message.startsWith('cannot reach'))) {
        assert.ok([`cannot reach ${first.server.url}`, `cannot reach ${down}`].some((p) => e.message.startsWith(p)), e.message);
      }

      // Sent to the other instance directly, by another client: pushed to the re-subscribed handler.
      const producer = await other.client();
      const sent = await producer.send({ topic: 'multi:jobs', idemKey: 'on-other', payload: 'second' });
      await eventually('the delivery from the other instance', () => got.length === 2, 10_000);
      assert.equal(got[1]!.msgId, sent.msgId);
      assert.equal(Buffer.from(got[1]!.payload).toString(), 'second');
      await got[1]!.ack();

      // The lease held through the lost instance is not carried over: refused locally by the
      // delivery (E_STALE_LEASE), and by the instance now serving when acked by ids.
      const stale = got[0]!;
      await rejectsWith(within(stale.ack(), 5_000, 'the stale delivery ack'), 'E_STALE_LEASE');
      // (These two mailboxes share no store: the other one never leased it and says so.)
      await rejectsWith(within(client.ack(stale.msgId, stale.leaseId), 5_000, 'the ack by ids'), 'E_NOT_FOUND');
      assert.equal((await other.depths()).leased, 0, 'the delivery on the other instance was acked');
      await sub.close();
    } finally {
      await client.close();
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('while every instance is down, calls fail fast naming the URLs that failed since the loss', { timeout: 30_000 }, async () => {
    const a = await startTestServer();
    const down = await downUrl();
    const attempts: MailboxError[] = [];
    const client = await MailboxClient.connect([a.server.url, down], {
      token: a.adminToken, maxReconnectDelayMs: 100, onError: (e) => { if (e.message.startsWith('cannot reach')) attempts.push(e); },
    });
    try {
      const url = a.server.url;
      await a.stop();
      const tried = (u: string): boolean => attempts.some((e) => e.message.startsWith(`cannot reach ${u}:`));
      await eventually('attempts at both URLs', () => tried(url) && tried(down), 15_000);
      await rejectsWith(client.send({ topic: 'multi:t', idemKey: 'k', payload: 'x' }), 'E_UNAVAILABLE', (e) => {
        assert.match(e.message, /^not connected \(reconnecting\): cannot reach /);
        assert.ok(e.message.includes(url) && e.message.includes(down), e.message);
        assert.equal(typeof e.retryAfterMs, 'number');
      });
      assert.equal(client.url, undefined);
    } finally {
      await client.close();
    }
  });
});
