/**
 * Reading a running mailbox the way drills and tests need to: the state dump, the DLQ, the
 * metrics, and waits that poll them instead of sleeping for a guessed time.
 */
import type { DlqEntry, TreeNode } from '../src/index.ts';
import type { MailboxRuntime } from '../src/runtime/mailbox.ts';
import { DEFAULT_TENANT, type Topic } from '../src/domain/types.ts';
import { shardFor } from '../src/domain/routing.ts';
import { findNode, walk } from '../supervisors/tree.ts';
import { backoffFor, sleep } from './actors.ts';

/** Every DLQ entry, paged with `after`; retries while the DLQ actor restarts. */
export async function listAllDlq(mb: MailboxRuntime): Promise<DlqEntry[]> {
  const out: DlqEntry[] = [];
  for (;;) {
    const after = out.length > 0 ? out[out.length - 1]!.meta.msgId : undefined;
    let page: DlqEntry[];
    try {
      page = await mb.dlq.list({ limit: 1000, ...(after === undefined ? {} : { after }) });
    } catch (err) {
      const wait = backoffFor(err);
      if (wait === undefined) throw err;
      await sleep(wait);
      continue;
    }
    out.push(...page);
    if (page.length < 1000) return out;
  }
}

export function shardNodes(tree: TreeNode): TreeNode[] {
  return [...walk(tree)].filter((n) => n.kind === 'shard');
}

/** Ready + leased + delayed over all shards, or undefined while a shard is not serving. */
export function liveMessages(mb: MailboxRuntime, shards: number): number | undefined {
  const nodes = shardNodes(mb.tree()).filter((n) => n.depths);
  if (nodes.length !== shards) return undefined;
  return nodes.reduce((sum, n) => sum + n.depths!.ready + n.depths!.leased + n.depths!.delayed, 0);
}

/** Polls `done` every `everyMs` until true or `timeoutMs` passed; returns whether it held. */
export async function waitUntil(done: () => boolean, timeoutMs: number, everyMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (done()) return true;
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
}

/** The node at `path` of the current dump. */
export function nodeAt(mb: MailboxRuntime, path: string): TreeNode | undefined {
  return findNode(mb.tree(), path);
}

/** True when shard `i` runs and serves (loaded, with depths). */
export function shardServing(mb: MailboxRuntime, i: number): boolean {
  const node = nodeAt(mb, `/root/shards/shard-${i}`);
  return node?.state === 'running' && node.depths !== undefined;
}

/** `count` topic names (of the default tenant) that route to shard `shard`. */
export function topicsOnShard(shard: number, shards: number, count: number, prefix = 't'): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) {
    const topic = `${prefix}:${i}`;
    if (shardFor(DEFAULT_TENANT, topic as Topic, shards) === shard) out.push(topic);
  }
  return out;
}

/** The value of one series of the Prometheus text, e.g. `rejected_total{reason="storage"}`. */
export async function metricValue(mb: MailboxRuntime, series: string): Promise<number> {
  const text = await mb.metrics.render();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** The sum of every series of one metric family in Prometheus text (all label values). */
export function sumSeries(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
