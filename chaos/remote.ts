/**
 * Drills against a real server process over real sockets: the server is the durability tests'
 * ChildServer (test/durability/child.ts) started through bin/mailbox.mjs, as an operator does;
 * producers and consumers are SDK clients (src/client). The accounting is the same Ledger the
 * in-process drills use.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailboxClient, MailboxError, type ClientDelivery, type ClientOptions, type DlqEntry, type SendInput, type Subscription } from '../src/client/index.ts';
import { ChildServer, testToken } from '../test/durability/child.ts';
import { sleep } from './actors.ts';
import { sumSeries } from './inspect.ts';
import type { Ledger } from './ledger.ts';

export { ChildServer };

/** SDK options for drills: quick reconnects, errors that belong to no caller are expected. */
export function clientOptions(extra: Partial<ClientOptions> = {}): ClientOptions {
  return { token: testToken(), maxReconnectDelayMs: 300, connectTimeoutMs: 5_000, onError: () => {}, ...extra };
}

/** A server process on LevelDB in a fresh temp dir (0700), on ephemeral ports; `close()` kills it and removes the dir. */
export async function startLevelServer(
  o: { env?: Record<string, string>; args?: string[]; prefix?: string } = {},
): Promise<{ server: ChildServer; dataDir: string; firstReadyMs: number; close(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), o.prefix ?? 'mailbox-drill-'));
  const t0 = performance.now();
  let server: ChildServer;
  try {
    server = await ChildServer.start({
      script: 'bin/mailbox.mjs',
      nodeArgs: [],
      args: ['--data-dir', dataDir, '--durability', 'sync', ...(o.args ?? [])],
      ...(o.env ? { env: o.env } : {}),
    });
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    server,
    dataDir,
    firstReadyMs: performance.now() - t0,
    async close() {
      await server.kill9();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface RemoteProduceOptions {
  /** idemKeys `m-<n>` for n = from, from + step, …; stops before `to` or when `stop()` says so (between batches). */
  from: number;
  step: number;
  to: number;
  topics: readonly string[];
  batch: number;
  /** Pause between batches, to keep a steady load rather than a burst. */
  pauseMs?: number;
  stop?: () => boolean;
}

/**
 * Sends with sendBatch, retrying refusals and lost connections with the same idemKeys until each
 * is accepted. `stop()` is only looked at between batches: a batch whose reply was lost may have
 * been stored, so it is retried to an answer (else its messages would be orphans).
 */
export async function produceRemote(client: MailboxClient, ledger: Ledger, o: RemoteProduceOptions): Promise<{ retries: number; refused: string[] }> {
  let retries = 0;
  const refused: string[] = [];
  for (let n = o.from; n < o.to && !o.stop?.(); ) {
    let pending: number[] = [];
    for (; pending.length < o.batch && n < o.to; n += o.step) pending.push(n);
    while (pending.length > 0) {
      const inputs: SendInput[] = pending.map((i) => ({ topic: o.topics[i % o.topics.length]!, idemKey: `m-${i}`, payload: `message ${i}` }));
      let results: Array<{ msgId: string } | MailboxError>;
      try {
        results = await client.sendBatch(inputs);
      } catch (err) {
        // The whole call failed: the server is down or restarting (E_UNAVAILABLE, a lost reply).
        if (!(err instanceof MailboxError)) throw err;
        retries++;
        await sleep(Math.min(err.retryAfterMs ?? 50, 200));
        continue;
      }
      const again: number[] = [];
      results.forEach((r, k) => {
        if (!(r instanceof MailboxError)) ledger.accepted(inputs[k]!.idemKey, r.msgId as Parameters<Ledger['accepted']>[1]);
        else if (r.retryable) again.push(pending[k]!);
        else if (refused.length < 5) refused.push(`${inputs[k]!.idemKey}: ${r.code} ${r.message}`);
      });
      if (again.length > 0) {
        retries++;
        await sleep(50);
      }
      pending = again;
    }
    if (o.pauseMs) await sleep(o.pauseMs);
  }
  return { retries, refused };
}

/**
 * Subscribes `client` to `topics` and ACKs every delivery. An ACK that fails is left: the lease
 * ends and the message comes again. When it failed because the connection died under it (no
 * answer from the server), the server may have applied it before the reply was lost: its msgId
 * goes into `inDoubt`.
 */
export function ackingConsumer(
  client: MailboxClient,
  ledger: Ledger,
  topics: readonly string[],
  inDoubt: Set<string>,
  o: { visibilityMs?: number; prefetch?: number; onAckMs?: (ms: number) => void } = {},
): { subscriptions: Subscription[]; idle(): Promise<void> } {
  const inflight = new Set<Promise<void>>();
  const ack = async (d: ClientDelivery): Promise<void> => {
    try {
      const t0 = performance.now();
      await d.ack();
      o.onAckMs?.(performance.now() - t0);
      ledger.ackSucceeded(d.msgId, d.leaseId);
    } catch (err) {
      // An answer (E_STALE_LEASE, E_NOT_FOUND) is definite; anything else is the server dying with the ACK in flight.
      if (err instanceof MailboxError && (err.code === 'E_STALE_LEASE' || err.code === 'E_NOT_FOUND')) ledger.staleLeases++;
      else inDoubt.add(d.msgId);
    }
  };
  const onDelivery = async (d: ClientDelivery): Promise<void> => {
    ledger.delivery(d);
    const p = ack(d).finally(() => inflight.delete(p));
    inflight.add(p);
    await p;
  };
  const subscriptions = topics.map((topic) =>
    client.subscribe({ topic, visibilityMs: o.visibilityMs ?? 5_000, prefetch: o.prefetch ?? 200, concurrency: 100 }, onDelivery),
  );
  return {
    subscriptions,
    /** Resolves once no ACK of this consumer awaits its reply. */
    async idle() {
      while (inflight.size > 0) await Promise.all([...inflight]);
    },
  };
}

/** Every DLQ entry over the wire, paged with `after`; retries while the server restarts. */
export async function listDlqRemote(client: MailboxClient): Promise<DlqEntry[]> {
  const out: DlqEntry[] = [];
  for (;;) {
    const after = out.at(-1)?.msgId;
    let page: DlqEntry[];
    try {
      page = await client.dlq.list({ limit: 1000, ...(after === undefined ? {} : { after }) });
    } catch (err) {
      if (!(err instanceof MailboxError) || !err.retryable) throw err;
      await sleep(Math.min(err.retryAfterMs ?? 50, 200));
      continue;
    }
    out.push(...page);
    if (page.length < 1000) return out;
  }
}

/** True when no shard holds a ready, delayed or leased message (false while the dump cannot be read). */
export async function serverEmpty(server: ChildServer): Promise<boolean> {
  const d = await server.depths().catch(() => undefined);
  return d !== undefined && d.ready + d.delayed + d.leased === 0;
}

/** Waits until `serverEmpty` or `timeoutMs` has passed; says which. */
export async function waitServerEmpty(server: ChildServer, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let settled = await serverEmpty(server);
  while (!settled && Date.now() < deadline) {
    await sleep(100);
    settled = await serverEmpty(server);
  }
  return settled;
}

/** The sum of every series of one metric family on the server's /metrics (all label values). */
export async function metricSum(server: ChildServer, name: string): Promise<number> {
  return sumSeries(await (await fetch(`${server.adminUrl}/metrics`)).text(), name);
}

/** `min/median/max` of some durations in ms, rounded, for a drill's details. */
export function spread(ms: readonly number[]): string {
  if (ms.length === 0) return 'none';
  const s = [...ms].sort((a, b) => a - b);
  const median = s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return `${Math.round(s[0]!)}/${Math.round(median)}/${Math.round(s.at(-1)!)}`;
}
