/** Picks and builds the store the configuration asks for (not opened yet). */
import { join } from 'node:path';
import type { MailboxConfig } from '../config/config.ts';
import type { StoreFaults } from './faults.ts';
import { LevelStore } from './level.ts';
import { MemoryStore } from './memory.ts';
import { RedisStore } from './redis.ts';
import type { Store } from './store.ts';

/** A store with the fault switch every implementation here exposes. */
export type FaultableStore = Store & { readonly faults: StoreFaults };

/** Where the LevelDB files live inside the data directory. */
export function levelDir(dataDir: string): string {
  return join(dataDir, 'store');
}

/** Where backups go: `backupDir`, or `<dataDir>/backups` when it is empty. */
export function backupRoot(config: Pick<MailboxConfig, 'backupDir' | 'dataDir'>): string {
  return config.backupDir || join(config.dataDir, 'backups');
}

/** Where a redis-store instance keeps its id, so a restart takes its own shards back at once. */
export function instanceIdFile(dataDir: string): string {
  return join(dataDir, 'instance-id');
}

/**
 * `amnesia` (implied by profile micronode once resolved) gives the memory store; `store:
 * 'redis'` the Redis store; anything else the LevelDB store under `<dataDir>/store` with the
 * configured durability.
 */
export function createStore(config: Pick<MailboxConfig, 'amnesia' | 'dataDir' | 'durability'> & Partial<Pick<MailboxConfig, 'store' | 'redis'>>): FaultableStore {
  if (config.amnesia) return new MemoryStore();
  if (config.store === 'redis' && config.redis !== undefined) {
    const { url, cluster, prefix, shared, waitReplicas, waitTimeoutMs } = config.redis;
    return new RedisStore({ url, cluster, prefix, shared, waitReplicas, waitTimeoutMs, instanceIdFile: instanceIdFile(config.dataDir) });
  }
  return new LevelStore({ dir: levelDir(config.dataDir), durability: config.durability });
}
