/**
 * A tiny admin server for tests: the governance routes (admin-governance.ts) over real HTTP
 * on an ephemeral port, on a real key ring, deny list and verification cache in a temp data
 * directory, with the admin check written as admin-http.ts writes it. Not the whole admin
 * port: the lead's wiring test covers that.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus } from '../../src/bus/bus.ts';
import type { MailboxEvents } from '../../src/bus/events.ts';
import { resolveConfig } from '../../src/config/resolve.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { handleGovernance } from '../../src/transport/admin-governance.ts';
import { Authorizer } from '../../src/transport/authorizer.ts';
import { bootstrapKeys, type KeyBootstrap } from '../../src/transport/bootstrap-keys.ts';

export interface GovernanceServer {
  url: string;
  dataDir: string;
  adminToken: string;
  keys: KeyBootstrap;
  authorizer: Authorizer;
  close(): Promise<void>;
}

export async function startGovernanceServer(): Promise<GovernanceServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mailbox-governance-'));
  const bus = new EventBus<MailboxEvents>();
  const keys = await bootstrapKeys(resolveConfig({ dataDir }), createLogger({ level: 'silent' }), { bus });
  const authorizer = new Authorizer(keys.ring, 30_000, { denyList: keys.revocations.list, bus });
  const requireAdmin = (req: IncomingMessage) => {
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
    const cap = authorizer.verify(token);
    cap.authorize('admin');
    return cap;
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (handleGovernance(req, res, url, { requireAdmin, revocations: keys.revocations, rotation: keys.rotation, cache: authorizer.cache })) return;
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    dataDir,
    adminToken: (await readFile(keys.adminTokenFile!, 'utf8')).trim(),
    keys,
    authorizer,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      authorizer.cache.dispose();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
