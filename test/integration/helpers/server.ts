/**
 * An in-process network server for the server-* integration tests: the real `startServer`
 * on 127.0.0.1 ephemeral ports, amnesia storage, tokens minted from its key ring, and the
 * admin port read the way an operator reads it (HTTP).
 */
import { Writable } from 'node:stream';
import { resolveConfig } from '../../../src/config/resolve.ts';
import type { DeepPartial, MailboxConfig } from '../../../src/config/config.ts';
import { createLogger } from '../../../src/observability/logger.ts';
import { startServer, type RunningServer } from '../../../src/transport/server.ts';
import { ANY_TENANT, mint, type Caveat } from '../../../src/auth/index.ts';
import { MailboxClient, type ClientOptions } from '../../../src/client/index.ts';
import type { TreeNode } from '../../../src/index.ts';

export interface Depths {
  ready: number;
  delayed: number;
  leased: number;
  dlq: number;
}

export interface TestServer {
  server: RunningServer;
  /** A `tenant=*` token and nothing else (admin: every operation, every topic, every tenant). */
  adminToken: string;
  /** Log lines the server wrote (JSON objects), when started with `captureLogs`. */
  logs: Array<Record<string, unknown>>;
  /** A token with these caveats (with none, an admin token for the default tenant only). */
  token(caveats?: readonly Caveat[]): string;
  /** An SDK client; closed by `stop()` if the test does not close it first. */
  client(options?: Partial<ClientOptions>): Promise<MailboxClient>;
  get(path: string): Promise<{ status: number; text: string }>;
  json<T = unknown>(path: string): Promise<{ status: number; body: T }>;
  metrics(): Promise<string>;
  /** Sum of every shard's depths from GET /debug/tree. */
  depths(): Promise<Depths>;
  stop(): Promise<void>;
}

export interface TestServerOptions {
  config?: DeepPartial<MailboxConfig>;
  /** Keep the server's JSON log lines (level `info` and up) in `logs`. */
  captureLogs?: boolean;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const config = resolveConfig(
    // helloTimeoutMs: raw-frame tests may hold a socket that has not said HELLO while they wait on
    // something else; on a loaded machine the 5 s default could close it under them.
    { amnesia: true, listen: '127.0.0.1:0', metricsAddr: '127.0.0.1:0', logLevel: 'silent', shards: 4, helloTimeoutMs: 60_000 },
    options.config,
  );
  const logs: Array<Record<string, unknown>> = [];
  const logger = options.captureLogs
    ? createLogger({
        level: 'info',
        destination: new Writable({
          write(chunk: Buffer, _enc, done) {
            for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
            done();
          },
        }),
      })
    : undefined;
  const server = await startServer({ config, ...(logger ? { logger } : {}) });
  const adminToken = mint(server.ring, { caveats: [{ kind: 'tenant', tenant: ANY_TENANT }] });
  const clients: MailboxClient[] = [];
  const get = async (path: string): Promise<{ status: number; text: string }> => {
    const res = await fetch(`${server.adminUrl}${path}`);
    return { status: res.status, text: await res.text() };
  };
  return {
    server,
    adminToken,
    logs,
    token: (caveats = []) => mint(server.ring, { caveats }),
    async client(opts = {}) {
      const c = await MailboxClient.connect(server.url, { token: adminToken, reconnect: false, ...opts });
      clients.push(c);
      return c;
    },
    get,
    async json<T>(path: string) {
      const { status, text } = await get(path);
      return { status, body: JSON.parse(text) as T };
    },
    async metrics() {
      const { status, text } = await get('/metrics');
      if (status !== 200) throw new Error(`GET /metrics answered ${status}`);
      return text;
    },
    async depths() {
      const { status, text } = await get('/debug/tree');
      if (status !== 200) throw new Error(`GET /debug/tree answered ${status}`);
      return sumDepths(JSON.parse(text) as TreeNode);
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close().catch(() => {})));
      await server.close();
    },
  };
}

/** Every shard node's depths, summed; throws when a shard reports none (not serving). */
export function sumDepths(tree: TreeNode): Depths {
  const total: Depths = { ready: 0, delayed: 0, leased: 0, dlq: 0 };
  const visit = (node: TreeNode): void => {
    if (node.kind === 'shard') {
      if (!node.depths) throw new Error(`${node.path} reports no depths (state ${node.state})`);
      total.ready += node.depths.ready;
      total.delayed += node.depths.delayed;
      total.leased += node.depths.leased;
      total.dlq += node.depths.dlq;
    }
    for (const child of node.children ?? []) visit(child);
  };
  visit(tree);
  return total;
}

/** Polls `check` (every `everyMs`) until it returns true; throws naming `what` after `timeoutMs`. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The sample lines (not `#` comments) of one metric family in Prometheus text. */
export function sampleLines(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

/** The value of one exact series, e.g. `rejected_total{reason="auth"}`; undefined when absent. */
export function seriesValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

export const ULID_RE = /^[0-9A-HJKMNP-TV-Z]{26}$/;
