/**
 * The ioredis connection of the `redis` store: one client (or a Cluster client) per store,
 * set up so that a command never silently waits or repeats. A command issued while Redis
 * is away fails at once (no offline queue; the shard sheds writes and retries by itself), and
 * a command whose reply was lost with the connection is never sent a second time (the shard
 * rebuilds from what Redis holds instead).
 */
import { Cluster, Redis } from 'ioredis';

export interface RedisTarget {
  /** `redis://[user:password@]host:port[/db]`; ignored when `cluster` names nodes. */
  url: string;
  /** Redis Cluster seed nodes (`host:port`); empty for a single Redis. */
  cluster: readonly string[];
}

/** A command that has not answered in this long fails (the commit is refused, the shard rebuilds). */
export const COMMAND_TIMEOUT_MS = 5_000;

/** Where this store talks to, for messages and logs: never the password. */
export function describeTarget(target: RedisTarget): string {
  if (target.cluster.length > 0) return `redis cluster ${target.cluster.join(',')}`;
  try {
    const url = new URL(target.url);
    return `${url.protocol}//${url.hostname}:${url.port || '6379'}${url.pathname.length > 1 ? url.pathname : ''}`;
  } catch {
    return 'redis (unparsable url)';
  }
}

export type RedisClient = Redis | Cluster;

export function createClient(target: RedisTarget): RedisClient {
  // Reconnect forever, backing off to 1 s: the store comes back by itself when Redis does.
  const retryStrategy = (times: number): number => Math.min(50 * times, 1_000);
  if (target.cluster.length > 0) {
    return new Cluster(
      target.cluster.map((node) => {
        const at = node.lastIndexOf(':');
        return { host: node.slice(0, at), port: Number(node.slice(at + 1)) };
      }),
      {
        lazyConnect: true,
        // While the cluster client refreshes its slot map (after MOVED, or a failover) it queues
        // commands briefly; a command still fails after COMMAND_TIMEOUT_MS.
        enableOfflineQueue: true,
        clusterRetryStrategy: retryStrategy,
        redisOptions: { commandTimeout: COMMAND_TIMEOUT_MS, connectTimeout: 2_000, autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0 },
      },
    );
  }
  return new Redis(target.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: 2_000,
    retryStrategy,
  });
}
