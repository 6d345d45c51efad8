/**
 * The admin port: GET /healthz (process up), /readyz (200 only when ready, else 503 with the
 * reasons), /metrics (Prometheus), /debug/tree (the supervisor state dump). Loopback by default.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { MailboxRuntime } from '../runtime/mailbox.ts';

export function createAdminServer(mailbox: MailboxRuntime): Server {
  const started = Date.now();
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const t0 = performance.now();
    const path = (req.url ?? '/').split('?')[0]!;
    const route = ['/healthz', '/readyz', '/metrics', '/debug/tree'].includes(path) ? path : 'other';
    res.on('finish', () => mailbox.metrics.request(route, req.method ?? 'GET', res.statusCode, (performance.now() - t0) / 1000));
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'method not allowed' });
    switch (path) {
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
          (err: unknown) => json(res, 500, { error: String(err) }),
        );
        return;
      case '/debug/tree':
        return json(res, 200, mailbox.tree());
      default:
        return json(res, 404, { error: 'not found', paths: ['/healthz', '/readyz', '/metrics', '/debug/tree'] });
    }
  });
}
