/**
 * The admin port: GET /healthz (process up), /readyz (200 only when ready, else 503 with the
 * reasons), /metrics (Prometheus), /debug/tree (the supervisor state dump), /debug/events (the
 * bus as newline-delimited JSON, for `mailbox tail`), POST /admin/backup (hot snapshot) and
 * POST /admin/drain (`mailbox drain`: drain as SIGTERM would), both needing an admin capability
 * for every tenant as `Authorization: Bearer …`, like POST/DELETE/GET /admin/chaos (fault
 * injection, only on a server started with chaos.enabled). Loopback by default; bound anywhere
 * else, /debug/* need the admin capability too (`debugNeedsToken`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { MailboxError, toMailboxError } from '../errors.ts';
import { MAILBOX_TOPICS } from '../bus/events.ts';
import type { MailboxRuntime } from '../runtime/mailbox.ts';
import type { Authorizer } from './authorizer.ts';
import type { Capability } from '../auth/index.ts';
import type { ChaosControl } from '../chaos-control/control.ts';
import { parseChaosSpec, parseFault } from '../chaos-control/spec.ts';
import { GOVERNANCE_ROUTES, handleGovernance, type GovernanceContext } from './admin-governance.ts';
import { handlePolicyRoute, POLICY_ROUTES } from './admin-policy.ts';

/** The largest POST /admin/chaos body read. */
const MAX_CHAOS_BODY = 16 * 1024;

export interface AdminOptions {
  authorizer: Authorizer;
  /** /debug/tree and /debug/events answer 401 without an admin token (the port is not on loopback). */
  debugNeedsToken?: boolean;
  /** Takes a consistent snapshot into the directory `name` inside backupDir while serving. */
  backup(name: string): Promise<unknown>;
  /** Starts the drain SIGTERM starts (called once the 202 is written); the server exits when it runs under `mailbox serve`. */
  requestDrain(): void;
  /** Fault injection; absent unless the server was started with chaos.enabled. */
  chaos?: ChaosControl;
  /** Token revocation and key rotation (admin-governance.ts); absent: those routes answer 404. */
  governance?: Omit<GovernanceContext, 'requireAdmin'>;
  /** Serve https with this certificate (the one the WebSocket listener has); absent: plain http. */
  tls?: { cert: Buffer; key: Buffer };
}

/** The admin server, with the handle shutdown uses to end the streaming responses `server.close()` would wait for. */
export type AdminServer = (Server | HttpsServer) & AdminStreams;

export interface AdminStreams {
  /** Sends every open /debug/events stream a last `StreamClosed` line and ends it; later ones end at once. */
  endStreams(reason: string): void;
}

const ROUTES: readonly string[] = ['/healthz', '/readyz', '/metrics', '/debug/tree', '/debug/events', '/admin/backup', '/admin/drain', '/admin/chaos', ...GOVERNANCE_ROUTES, ...POLICY_ROUTES];

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
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const t0 = performance.now();
    const url = new URL(req.url ?? '/', 'http://admin');
    const route = ROUTES.includes(url.pathname) ? url.pathname : 'other';
    res.on('finish', () => mailbox.metrics.request(route, req.method ?? 'GET', res.statusCode, (performance.now() - t0) / 1000));
    if (req.method === 'POST' && url.pathname === '/admin/backup') return void backup(req, res, url);
    if (req.method === 'POST' && url.pathname === '/admin/drain') return drain(req, res);
    if (url.pathname === '/admin/chaos' && ['POST', 'DELETE', 'GET'].includes(req.method ?? '')) return void chaos(req, res, url);
    if (options.governance && handleGovernance(req, res, url, { ...options.governance, requireAdmin })) return;
    if (handlePolicyRoute(req, res, url, { mailbox, requireAdmin, json, fail })) return;
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
  };
  const server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handle) : createServer(handle);
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
  function requireAdmin(req: IncomingMessage): Capability {
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
    const cap = options.authorizer.verify(token);
    cap.authorize('admin');
    return cap;
  }

  /** Fault injection: the admin token for every tenant, and only on a server started with chaos.enabled. */
  async function chaos(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    try {
      const cap = requireAdmin(req);
      const control = options.chaos;
      if (!control) throw new MailboxError('E_CAP_SCOPE', 'fault injection is disabled on this server (start it with chaos.enabled: true, MAILBOX_CHAOS__ENABLED=on)');
      switch (req.method) {
        case 'GET':
          return json(res, 200, { active: control.list() });
        case 'DELETE': {
          const raw = url.searchParams.get('fault');
          const cleared = control.clear(raw === null ? undefined : parseFault(raw), cap.fingerprint);
          return json(res, 200, { cleared, active: control.list() });
        }
        default: {
          const spec = parseChaosSpec(await readJson(req));
          return json(res, 200, { injected: await control.inject(spec, cap.fingerprint), active: control.list() });
        }
      }
    } catch (err) {
      fail(res, err);
    }
  }

  async function readJson(req: IncomingMessage): Promise<unknown> {
    let size = 0;
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_CHAOS_BODY) throw new MailboxError('E_SCHEMA', `the body is larger than ${MAX_CHAOS_BODY} bytes`);
      chunks.push(chunk);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new MailboxError('E_SCHEMA', 'the body must be JSON such as {"fault":"cpu","durationMs":60000,"percent":60}');
    }
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
