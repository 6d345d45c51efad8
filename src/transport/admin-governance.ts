/**
 * The admin port's capability governance routes, for `mailbox token revoke` and
 * `mailbox keys rotate|list`; each needs an admin token for every tenant, as POST /admin/drain:
 *
 *   POST /admin/revoke       {"id":"<32 hex>[@KID]","expiresAt"?:<ms>}  → 200 {revoked, savedTo}
 *   POST /admin/keys/rotate  {"graceMs":<ms>}                          → 200 {active, previous, graceEndsAt, keys}
 *   GET  /admin/keys                                                   → 200 {active, keys}
 *
 * Key listings carry KIDs, activity, creation time, age and grace end, never a secret; a
 * revocation answer names the token by id and KID only.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseTokenRef, type Capability, type VerificationCache } from '../auth/index.ts';
import { MailboxError, toMailboxError } from '../errors.ts';
import type { KeyRotation } from './key-rotation.ts';
import type { Revocations } from './revocations.ts';

/** The routes this file answers (for admin-http's route label and its 404 list). */
export const GOVERNANCE_ROUTES = ['/admin/revoke', '/admin/keys', '/admin/keys/rotate'] as const;

/** The largest body read. */
const MAX_BODY = 4096;

export interface GovernanceContext {
  /** admin-http's check: throws unless the request's bearer token is an admin token for every tenant. */
  requireAdmin(req: IncomingMessage): Capability;
  revocations: Revocations;
  rotation: KeyRotation;
  /** The verification cache: a revoked token it holds tells the KID and expiry the entry can lapse with. */
  cache?: VerificationCache;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage, example: string): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new MailboxError('E_SCHEMA', `the body is larger than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    value = undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new MailboxError('E_SCHEMA', `the body must be a JSON object such as ${example}`);
  return value as Record<string, unknown>;
}

async function revoke(req: IncomingMessage, ctx: GovernanceContext): Promise<unknown> {
  const body = await readBody(req, '{"id":"0123456789abcdef0123456789abcdef"}');
  if (typeof body.id !== 'string') throw new MailboxError('E_SCHEMA', 'id: the token id is required (32 hex digits, as `mailbox token inspect` shows it)');
  const ref = parseTokenRef(body.id);
  const expiresAt = body.expiresAt;
  if (expiresAt !== undefined && !(Number.isSafeInteger(expiresAt) && (expiresAt as number) >= 0)) {
    throw new MailboxError('E_SCHEMA', 'expiresAt must be wall-clock ms since the epoch');
  }
  const seen = ctx.cache?.find(ref.id);
  const kid = ref.kid ?? seen?.kid;
  const until = (expiresAt as number | undefined) ?? seen?.expiry;
  const revoked = await ctx.revocations.revoke({ id: ref.id, ...(kid !== undefined ? { kid } : {}), ...(until !== undefined ? { expiresAt: until } : {}) });
  return { revoked, savedTo: ctx.revocations.where };
}

async function rotate(req: IncomingMessage, ctx: GovernanceContext): Promise<unknown> {
  const body = await readBody(req, '{"graceMs":1209600000}');
  if (typeof body.graceMs !== 'number') throw new MailboxError('E_SCHEMA', 'graceMs: how long the old keys keep verifying, in ms, is required');
  return ctx.rotation.rotate(body.graceMs);
}

/**
 * Answers the governance routes; false (nothing written) for any other path. Any method
 * other than the route's own is 405.
 */
export function handleGovernance(req: IncomingMessage, res: ServerResponse, url: URL, ctx: GovernanceContext): boolean {
  const route = GOVERNANCE_ROUTES.find((r) => r === url.pathname);
  if (route === undefined) return false;
  const method = route === '/admin/keys' ? 'GET' : 'POST';
  if (req.method !== method) {
    res.setHeader('allow', method);
    json(res, 405, { error: 'method not allowed', allow: method });
    return true;
  }
  const work = async (): Promise<unknown> => {
    ctx.requireAdmin(req);
    switch (route) {
      case '/admin/revoke':
        return revoke(req, ctx);
      case '/admin/keys/rotate':
        return rotate(req, ctx);
      case '/admin/keys':
        return ctx.rotation.list();
    }
  };
  work().then(
    (body) => json(res, 200, body),
    (err: unknown) => {
      const e = toMailboxError(err);
      json(res, e.status, e.toJSON());
    },
  );
  return true;
}
