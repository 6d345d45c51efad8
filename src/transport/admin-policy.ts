/**
 * The admin port's policy routes: GET /admin/policy (the policy in force and its presets' time
 * left; no token, like /readyz: it holds limits, not secrets) and POST /admin/policy/reload
 * (the admin token for every tenant; the reload is logged with the token's KID).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Capability } from '../auth/index.ts';
import { MailboxError } from '../errors.ts';
import type { MailboxRuntime } from '../runtime/mailbox.ts';

export interface PolicyRouteContext {
  mailbox: MailboxRuntime;
  requireAdmin(req: IncomingMessage): Capability;
  json(res: ServerResponse, status: number, body: unknown): void;
  fail(res: ServerResponse, err: unknown): void;
}

export const POLICY_ROUTES = ['/admin/policy', '/admin/policy/reload'];

/** True when the request was one of the policy routes (answered or refused here). */
export function handlePolicyRoute(req: IncomingMessage, res: ServerResponse, url: URL, ctx: PolicyRouteContext): boolean {
  if (url.pathname === '/admin/policy' && req.method === 'GET') {
    ctx.json(res, 200, ctx.mailbox.policyReport());
    return true;
  }
  if (url.pathname === '/admin/policy/reload' && req.method === 'POST') {
    let cap: Capability;
    try {
      cap = ctx.requireAdmin(req);
    } catch (err) {
      ctx.fail(res, err);
      return true;
    }
    ctx.mailbox.reloadPolicy(`admin token kid ${cap.kid}`).then(
      (result) => {
        if (result.ok) return ctx.json(res, 200, { changes: result.changes });
        // 409: the server kept its cached policy; the body says which lines and keys are wrong.
        res.writeHead(409, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ...new MailboxError('E_CONFIG', `policy reload refused, the cached policy stays: ${result.reason}`).toJSON(), problems: result.problems }));
      },
      (err: unknown) => ctx.fail(res, err),
    );
    return true;
  }
  return false;
}
