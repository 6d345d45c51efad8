/** The loop that kills actors: a random shard, the DLQ actor or a live session, every few ms. */
import type { Rng } from '../src/domain/clock.ts';
import type { MailboxRuntime } from '../src/runtime/mailbox.ts';
import { isCode, sleep } from './actors.ts';

export interface KillLoopOptions {
  everyMs: number;
  shards: number;
  /** Also kill the DLQ actor and live sessions (default true). */
  dlq?: boolean;
  sessions?: boolean;
}

export interface KillCounts {
  kills: number;
  notFound: number;
  byKind: Record<string, number>;
}

/** Kills a random shard, DLQ or session actor every `everyMs` until `stop()` is called. */
export function startKillLoop(mb: MailboxRuntime, rng: Rng, o: KillLoopOptions): { stop(): Promise<KillCounts> } {
  const counts: KillCounts = { kills: 0, notFound: 0, byKind: {} };
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await sleep(o.everyMs);
      if (stopped) break;
      const targets: string[] = [];
      for (let i = 0; i < o.shards; i++) targets.push(`/root/shards/shard-${i}`);
      if (o.dlq !== false) targets.push('/root/dlq/dlq');
      if (o.sessions !== false) {
        const sessions = mb.tree().children?.find((c) => c.path === '/root/sessions');
        for (const s of sessions?.children ?? []) targets.push(s.path);
      }
      if (targets.length === 0) continue;
      const path = targets[Math.floor(rng.next() * targets.length)]!;
      try {
        await mb.kill(path, 'chaos');
        counts.kills++;
        const kind = path.startsWith('/root/shards') ? 'shard' : path.startsWith('/root/dlq') ? 'dlq' : 'session';
        counts.byKind[kind] = (counts.byKind[kind] ?? 0) + 1;
      } catch (err) {
        if (!isCode(err, 'E_NOT_FOUND')) throw err;
        counts.notFound++;
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return counts;
    },
  };
}
