/**
 * The admin port: GET /healthz (process up), /readyz (200 only when ready, else 503 with the
 * reasons), /metrics (Prometheus), /debug/tree (the supervisor state dump), /debug/events (the
 * bus as newline-delimited JSON, for `mailbox tail`), POST /admin/backup (hot snapshot) and
 * POST /admin/drain (`mailbox drain`: drain as SIGTERM would), both needing an admin capability
 * for every tenant as `Authorization: Bearer …`. Loopback by default; bound anywhere
 * else, /debug/* need the admin capability too (`debugNeedsToken`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { MailboxError, toMailboxError } from '../errors.ts';
import { MAILBOX_TOPICS } from '../bus/events.ts';
import type { MailboxRuntime } from '../runtime/mailbox.ts';
import type { Authorizer } from './authorizer.ts';

export interface AdminOptions {
  authorizer: Authorizer;
  /** /debug/tree and /debug/events answer 401 without an admin token (the port is not on loopback). */
  debugNeedsToken?: boolean;
  /** Takes a consistent snapshot into the directory `name` inside backupDir while serving. */
  backup(name: string): Promise<unknown>;
  /** Starts the drain SIGTERM starts (called once the 202 is written); the server exits when it runs under `mailbox serve`. */
  requestDrain(): void;
}

/** The admin server, with the handle shutdown uses to end the streaming responses `server.close()` would wait for. */
export interface AdminServer extends Server {
  /** Sends every open /debug/events stream a last `StreamClosed` line and ends it; later ones end at once. */
  endStreams(reason: string): void;
}

const ROUTES = ['/healthz', '/readyz', '/metrics', '/debug/tree', '/debug/events', '/admin/backup', '/admin/drain'];

export function createAdminServer(mailbox: MailboxRuntime, options: AdminOptions): AdminServer {
  const started = Date.now();
  const streams = new Set<(reason: string) => void>();
  let streamsClosed: string | undefined;
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const fail = (res: ServerResponse, err: unknown): void => {
    const e = toMailboxError(err);
    json(res, e.status, e.toJSON());
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const t0 = performance.now();
    const url = new URL(req.url ?? '/', 'http://admin');
    const route = ROUTES.includes(url.pathname) ? url.pathname : 'other';
    res.on('finish', () => mailbox.metrics.request(route, req.method ?? 'GET', res.statusCode, (performance.now() - t0) / 1000));
    if (req.method === 'POST' && url.pathname === '/admin/backup') return void backup(req, res, url);
    if (req.method === 'POST' && url.pathname === '/admin/drain') return drain(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'method not allowed' });
    switch (url.pathname) {
      case '/healthz':
        return json(res, 200, { status: 'ok', uptimeMs: Date.now() - started });
      case '/readyz': {
        const report = mailbox.readiness();
        return json(res, report.ready ? 200 : 503, report);
      }
      case '/metrics':
        mailbox.metrics.render().then(
          (text) => {
            res.writeHead(200, { 'content-type': mailbox.metrics.contentType });
            res.end(text);
          },
          (err: unknown) => fail(res, err),
        );
        return;
      case '/debug/tree':
      case '/debug/events':
        return debug(req, res, url.pathname);
      default:
        return json(res, 404, { error: 'not found', paths: ROUTES });
    }
  });
  return Object.assign(server, {
    endStreams(reason: string): void {
      streamsClosed ??= reason;
      for (const end of [...streams]) end(reason);
    },
  });

  /** The state dump and the event stream, behind the admin token when the port is exposed. */
  function debug(req: IncomingMessage, res: ServerResponse, path: string): void {
    try {
      if (options.debugNeedsToken) requireAdmin(req);
    } catch (err) {
      return fail(res, err);
    }
    switch (path) {
      case '/debug/tree':
        return json(res, 200, mailbox.tree());
      case '/debug/events':
        return events(req, res);
    }
  }

  /** The admin capability of the request's `Authorization: Bearer …` header (POST /admin/backup, exposed /debug/*). */
  function requireAdmin(req: IncomingMessage): void {
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
    options.authorizer.verify(token).authorize('admin');
  }

  /** Streams every bus event as one JSON line until the client goes away. */
  function events(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    res.write(`${JSON.stringify({ at: new Date().toISOString(), type: 'Readiness', ...mailbox.readiness() })}\n`);
    const offs = MAILBOX_TOPICS.map((topic) =>
      mailbox.bus.subscribe(topic, (payload: unknown) => {
        res.write(`${JSON.stringify({ at: new Date().toISOString(), type: topic, ...(typeof payload === 'object' && payload ? payload : {}) })}\n`);
      }),
    );
    const detach = (): void => {
      streams.delete(end);
      offs.forEach((off) => off());
    };
    // The last line tells `mailbox tail` why the stream ends (the contract in OPERATIONS.md).
    const end = (reason: string): void => {
      detach();
      if (!res.writableEnded) res.end(`${JSON.stringify({ at: new Date().toISOString(), type: 'StreamClosed', reason })}\n`);
    };
    streams.add(end);
    req.on('close', detach);
    if (streamsClosed !== undefined) end(streamsClosed);
  }

  /** 202 at once, then the drain: the caller's connection is not held open by the shutdown it asked for. */
  function drain(req: IncomingMessage, res: ServerResponse): void {
    try {
      requireAdmin(req);
    } catch (err) {
      return fail(res, err);
    }
    res.writeHead(202, { 'content-type': 'application/json', connection: 'close' });
    res.end(JSON.stringify({ status: 'draining', readiness: mailbox.readiness().state }), () => options.requestDrain());
  }

  async function backup(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    try {
      requireAdmin(req);
      const out = url.searchParams.get('out');
      if (!out) throw new MailboxError('E_SCHEMA', 'out: the backup name is required (?out=NAME, a directory inside backupDir)');
      json(res, 200, await options.backup(out));
    } catch (err) {
      fail(res, err);
    }
  }
}
