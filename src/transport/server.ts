/**
 * The network service: the embedded runtime plus the WebSocket ingress and the admin HTTP
 * port, both supervised children of the root (so the state dump shows them and a crash of
 * either is restarted like any other child).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { once } from 'node:events';
import { access, copyFile, readFile, stat } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { MailboxError } from '../errors.ts';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { MailboxConfig } from '../config/config.ts';
import { MAX_FRAME, OPS } from '../protocol/index.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { createMailbox, type RuntimeOptions } from '../runtime/create-mailbox.ts';
import type { MailboxRuntime } from '../runtime/mailbox.ts';
import { plainChild } from '../runtime/plain-child.ts';
import { backupRoot } from '../store/open-store.ts';
import { resolveBackupTarget, tightenTree } from '../store/private-files.ts';
import type { KeyRing } from '../auth/index.ts';
import { createAdminServer, type AdminServer } from './admin-http.ts';
import { ChaosControl } from '../chaos-control/control.ts';
import { Authorizer } from './authorizer.ts';
import { bootstrapKeys } from './bootstrap-keys.ts';
import { KeyFileWatch } from './key-file-watch.ts';
import { AuditBudget } from './audit.ts';
import { Connection } from './connection.ts';
import { isLoopbackHost, warnIfAdminExposed, warnIfListenerExposed } from './exposure.ts';

/** How long closing sockets may take before they are cut (a peer that never answers a close). */
const CLOSE_GRACE_MS = 500;
/** What shutdown may take on top of drainTimeoutMs: stopping the runtime and closing both ports. */
const SHUTDOWN_MARGIN_MS = 2_000;

export interface StartServerOptions {
  config: MailboxConfig;
  logger?: Logger;
  runtime?: Omit<RuntimeOptions, 'logger' | 'requireListener'>;
}

export interface RunningServer {
  mailbox: MailboxRuntime;
  /** ws://host:port of the bound listener (wss:// with tls). */
  url: string;
  /** http://host:port of the admin port (https:// with tls). */
  adminUrl: string;
  adminTokenFile?: string;
  ring: KeyRing;
  /** SIGTERM behaviour: readiness → draining, SENDs refused, leases settle (up to drainTimeoutMs), then stop. */
  drain(): Promise<void>;
  /**
   * What POST /admin/drain (`mailbox drain`) does: `mailbox serve` sets its signal path (drain,
   * then exit 0); without a handler the request just starts `drain()`.
   */
  onDrainRequest(handler: () => void): void;
  /** Stops at once (open leases are redelivered later). */
  close(): Promise<void>;
}

function splitAddr(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i) || '127.0.0.1', port: Number(addr.slice(i + 1)) };
}

/** The certificate and key both ports serve. */
export interface TlsCredentials {
  cert: Buffer;
  key: Buffer;
}

function tlsError(message: string, cause?: unknown): MailboxError {
  return new MailboxError('E_CONFIG', `invalid configuration: ${message}`, cause === undefined ? {} : { cause });
}

async function readTlsFile(key: string, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw tlsError(`${key} ${file} cannot be read (${code === 'ENOENT' ? 'no such file' : code ?? String(err)})`, err);
  }
}

/**
 * The files `tls` names, checked before anything opens or binds: both or neither, readable,
 * the key private to its owner, each parsable, and the pair matching. Every error names its file.
 */
export async function loadTls(tls: MailboxConfig['tls']): Promise<TlsCredentials | undefined> {
  if (tls.certFile === '' && tls.keyFile === '') return undefined;
  if (tls.keyFile === '') throw tlsError('tls.keyFile must be set when tls.certFile is (both or neither)');
  if (tls.certFile === '') throw tlsError('tls.certFile must be set when tls.keyFile is (both or neither)');
  const cert = await readTlsFile('tls.certFile', tls.certFile);
  const key = await readTlsFile('tls.keyFile', tls.keyFile);
  // A key others can read is a key others may have copied: refuse rather than warn.
  const mode = (await stat(tls.keyFile)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw tlsError(`tls.keyFile ${tls.keyFile} is readable by others (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 ${tls.keyFile}`);
  }
  try {
    new X509Certificate(cert);
  } catch (err) {
    throw tlsError(`tls.certFile ${tls.certFile} is not a PEM certificate (${(err as Error).message})`, err);
  }
  try {
    createPrivateKey(key);
  } catch (err) {
    throw tlsError(`tls.keyFile ${tls.keyFile} is not an unencrypted PEM private key (${(err as Error).message})`, err);
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw tlsError(`tls.keyFile ${tls.keyFile} does not belong to tls.certFile ${tls.certFile} (${(err as Error).message})`, err);
  }
  return { cert, key };
}

/** The HTTPS server wss runs on; a plain request gets what ws's own server answers (426). */
function upgradeOnlyServer(tls: TlsCredentials): HttpsServer {
  return createHttpsServer({ cert: tls.cert, key: tls.key }, (_req, res) => {
    const body = STATUS_CODES[426]!;
    res.writeHead(426, { 'content-length': body.length, 'content-type': 'text/plain' });
    res.end(body);
  });
}

export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const { config } = options;
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const tls = await loadTls(config.tls);
  const wsScheme = tls ? 'wss' : 'ws';
  const httpScheme = tls ? 'https' : 'http';
  const mailbox = await createMailbox(config, { ...options.runtime, logger, requireListener: true });
  // Every request series exists from the first scrape (the runtime preinitialises the rest).
  mailbox.metrics.preinit({
    routes: [
      ...Object.keys(OPS).filter((op) => op !== 'DELIVER').map((method) => ({ route: 'ws', method })),
      ...['/healthz', '/readyz', '/metrics', '/debug/tree'].map((route) => ({ route, method: 'GET' })),
    ],
  });
  // A key ring that cannot be read stops the start (fail closed) and takes the runtime with it.
  const keys = await bootstrapKeys(config, logger, { bus: mailbox.bus }).catch(async (err: unknown) => {
    await mailbox.stop().catch(() => {});
    throw err;
  });
  // keys.json may be rewritten by another instance: follow it, and fail closed while it is unreadable.
  const keysFile = join(config.dataDir, 'keys.json');
  const keyWatch = keys.rotation.fileBacked
    ? new KeyFileWatch({ path: keysFile, ring: keys.ring, rotation: keys.rotation, periodMs: Math.max(50, Math.min(config.auth.capCacheTtlMs || 5_000, 5_000)), logger, bus: mailbox.bus, onFailure: () => mailbox.metrics.keyringReloadFailed() })
    : undefined;
  await keyWatch?.start();
  const authorizer = new Authorizer(keys.ring, config.auth.capCacheTtlMs, { denyList: keys.revocations.list, bus: mailbox.bus,
    ...(keyWatch ? { ringFailure: () => { const f = keyWatch.failure; return f ? { path: keysFile, reason: f.reason } : undefined; } } : {}) });
  const connections = new Set<Connection>();
  const auditBudget = new AuditBudget(logger);
  let wss: WebSocketServer | undefined;
  let wssHost: HttpsServer | undefined;
  let admin: AdminServer | undefined;
  let wsAddr = '';
  let adminAddr = '';

  const closeIngress = async (): Promise<void> => {
    const server = wss;
    const host = wssHost;
    wss = undefined;
    wssHost = undefined;
    if (!server) return;
    mailbox.setListener(undefined);
    for (const c of connections) c.close();
    // A peer that does not answer the close handshake would hold server.close() for ws's 30 s.
    const cut = setTimeout(() => server.clients.forEach((ws) => ws.terminate()), CLOSE_GRACE_MS);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    clearTimeout(cut);
    // ws closes only a server it created itself; the HTTPS one under wss is ours to close.
    if (host) {
      const closed = new Promise<void>((resolve) => host.close(() => resolve()));
      host.closeIdleConnections();
      const cutHost = setTimeout(() => host.closeAllConnections(), CLOSE_GRACE_MS);
      await closed;
      clearTimeout(cutHost);
    }
  };
  const closeAdmin = async (reason = 'stopping'): Promise<void> => {
    const server = admin;
    admin = undefined;
    if (!server) return;
    // server.close() waits for every open response: end the event streams, drop idle keep-alive
    // sockets, and cut what is still being answered after a grace.
    server.endStreams(reason);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const cut = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
    await closed;
    clearTimeout(cut);
  };

  await mailbox.supervise({
    id: 'ingress', kind: 'ingress', restart: 'permanent',
    start: async () => {
      await closeIngress(); // a restart after a crash rebinds cleanly
      const { host, port } = splitAddr(wsAddr || config.listen);
      const https = tls ? upgradeOnlyServer(tls) : undefined;
      const server = new WebSocketServer({
        ...(https ? { server: https } : { host, port }),
        maxPayload: MAX_FRAME, perMessageDeflate: false,
        // OAP/1 has no subprotocol (PROTOCOL.md §1): never agree to one a client offers (ws would echo the first).
        handleProtocols: () => false,
        // Upgrades complete synchronously after this check, so `connections` is exact here.
        verifyClient: (_info, accept) => {
          if (connections.size < config.maxConnections) return accept(true);
          mailbox.metrics.rejected('connections');
          accept(false, 503, `server at maxConnections (${config.maxConnections})`, { 'Retry-After': '1' });
        },
      });
      server.on('connection', (ws, req) => {
        const conn = new Connection(ws, { mailbox, authorizer, metrics: mailbox.metrics, logger, auditBudget }, `${req.socket.remoteAddress}:${req.socket.remotePort}`);
        connections.add(conn);
        ws.on('close', () => connections.delete(conn));
      });
      if (https) https.listen(port, host);
      await once(server, 'listening');
      const bound = server.address() as AddressInfo;
      wsAddr = `${host}:${bound.port}`;
      wss = server;
      wssHost = https;
      mailbox.setListener(wsAddr);
      logger.info({ event: 'listening', addr: wsAddr, tls: Boolean(tls) }, `OAP/1 over WebSocket on ${wsScheme}://${wsAddr}`);
      warnIfListenerExposed(logger, host, wsAddr, config.maxConnections, config.helloTimeoutMs);
      return plainChild(() => ({ state: `listening ${wsAddr} (${connections.size} connections)` }), closeIngress);
    },
  });
  // Fault injection only when the operator asked for it; its node in the tree shows what is active.
  const chaos = config.chaos.enabled ? new ChaosControl(mailbox, logger) : undefined;
  if (chaos) {
    logger.warn({ event: 'chaos_enabled' }, 'chaos.enabled: faults can be injected over the admin port (POST /admin/chaos)');
    await mailbox.supervise({ id: 'chaos', kind: 'worker', restart: 'permanent', start: () => plainChild(() => ({ state: chaos.describe() })) });
  }
  await mailbox.supervise({
    id: 'admin', kind: 'admin', restart: 'permanent',
    start: async () => {
      await closeAdmin();
      const { host, port } = splitAddr(adminAddr || config.metricsAddr);
      // Off loopback the state dump and the event stream are for admins only (OPERATIONS.md, Exposure).
      const server = createAdminServer(mailbox, { authorizer, debugNeedsToken: !isLoopbackHost(host), backup: (out) => backupTo(out), requestDrain: () => requestDrain(), ...(chaos ? { chaos } : {}), ...(tls ? { tls } : {}),
        governance: { revocations: keys.revocations, rotation: keys.rotation, cache: authorizer.cache } });
      server.listen(port, host);
      await once(server, 'listening');
      adminAddr = `${host}:${(server.address() as AddressInfo).port}`;
      admin = server;
      logger.info({ event: 'admin_listening', addr: adminAddr, tls: Boolean(tls) }, `health, readiness and metrics on ${httpScheme}://${adminAddr}`);
      warnIfAdminExposed(logger, host, adminAddr);
      return plainChild(() => ({ state: `listening ${adminAddr}` }), closeAdmin);
    },
  });
  await mailbox.waitFor(() => mailbox.readiness().state !== 'booting', 30_000, 'readiness');
  const urls = { url: `${wsScheme}://${wsAddr}`, adminUrl: `${httpScheme}://${adminAddr}` };
  logger.info({ event: 'ready', ready: mailbox.readiness().ready ? 1 : 0, state: mailbox.readiness().state, ...urls }, `ready=${mailbox.readiness().ready ? 1 : 0} ${urls.url} ${urls.adminUrl}`);

  /** Store snapshot plus the signing keys, so tokens stay valid after a restore. */
  const backupTo = async (name: string): Promise<unknown> => {
    const store = mailbox.store as unknown as { backup?: (dir: string) => Promise<unknown> };
    if (!store.backup) {
      throw new MailboxError('E_NOT_FOUND', mailbox.store.kind === 'redis'
        ? 'the redis store is backed up by Redis itself (BGSAVE / AOF, see docs/CONFIGURATION.md), not by the mailbox'
        : 'amnesia mode has nothing on disk to back up');
    }
    // Only inside the operator's backupDir: the admin port must not write wherever the process can.
    const out = await resolveBackupTarget(backupRoot(config), name);
    const manifest = await store.backup(join(out, 'store'));
    const keysFile = join(config.dataDir, 'keys.json');
    if (await access(keysFile).then(() => true, () => false)) await copyFile(keysFile, join(out, 'keys.json'));
    await tightenTree(out);
    logger.info({ event: 'backup_written', path: out }, `backup written to ${out}`);
    return { out, store: manifest };
  };

  let stopping: Promise<void> | undefined;
  let drainHandler: (() => void) | undefined;
  const requestDrain = (): void => {
    logger.info({ event: 'drain_requested', via: 'admin' }, 'drain requested on the admin port (POST /admin/drain)');
    if (drainHandler) drainHandler();
    else void (stopping ??= boundedDrain());
  };
  const finish = async (how: 'drain' | 'stop'): Promise<void> => {
    const reason = how === 'drain' ? 'draining' : 'stopping';
    // Tails hear of it at once; /healthz and /readyz keep answering until the admin port closes.
    admin?.endStreams(reason);
    chaos?.stopAll();
    if (how === 'drain') await mailbox.drain();
    else await mailbox.stop();
    await closeIngress();
    await closeAdmin(reason);
    auditBudget.flush();
    keyWatch?.stop();
    authorizer.cache.dispose();
  };
  /**
   * drainTimeoutMs bounds the wait for leases (mailbox.drain); everything after it gets
   * SHUTDOWN_MARGIN_MS. Past that the promise resolves anyway so the process can exit: what
   * was acknowledged is durable, and open leases are redelivered after the restart.
   */
  const boundedDrain = (): Promise<void> => {
    const limit = config.drainTimeoutMs + SHUTDOWN_MARGIN_MS;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        logger.warn({ event: 'drain_deadline', limitMs: limit }, `shutdown still busy ${limit} ms after the drain began; not waiting any longer`);
        resolve();
      }, limit);
      timer.unref();
    });
    return Promise.race([finish('drain'), late]).finally(() => clearTimeout(timer));
  };
  return {
    mailbox,
    get url() {
      return `${wsScheme}://${wsAddr}`;
    },
    get adminUrl() {
      return `${httpScheme}://${adminAddr}`;
    },
    ...(keys.adminTokenFile ? { adminTokenFile: keys.adminTokenFile } : {}),
    ring: keys.ring,
    drain: () => (stopping ??= boundedDrain()),
    onDrainRequest: (handler) => {
      drainHandler = handler;
    },
    close: () => (stopping ??= finish('stop')),
  };
}
