/**
 * The operator's configuration: one typed object, defaults here, validated once at the
 * edge (`resolveConfig`). Nothing below src/config reads process.env.
 */

export type Profile = 'macronode' | 'micronode';
export type Durability = 'sync' | 'relaxed';
/** Where records live when not in amnesia: LevelDB under `dataDir`, or a Redis (Cluster) shared by instances. */
export type StoreChoice = 'level' | 'redis';

export interface RedisConfig {
  /** `redis://[user:password@]host:port[/db]` of one Redis (ignored when `cluster` names nodes). */
  url: string;
  /** Redis Cluster seed nodes, `host:port` each; empty for one Redis. */
  cluster: string[];
  /** Every key starts with `{<prefix>:<shard>}`: one prefix per mailbox deployment. */
  prefix: string;
  /**
   * `true`: Redis holds the queue itself and any number of instances on the prefix serve every
   * shard together; `false`: each shard is owned by one instance at a time (it keeps the queue in RAM).
   */
  shared: boolean;
  /** > 0: a SEND is acknowledged only once this many replicas confirm its commit (`WAIT`); one Redis only. */
  waitReplicas: number;
  waitTimeoutMs: number;
}

export interface SupervisionConfig {
  /** Restarts allowed within `periodMs` before the supervisor escalates. */
  intensity: number;
  periodMs: number;
  restartBaseMs: number;
  restartMaxMs: number;
  /** A child quiet this long starts its backoff from the beginning again. */
  resetAfterMs: number;
}

export interface QueueConfig {
  /** Replay window of idempotency keys. */
  replayWindowMs: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Default visibility timeout when a RECV names none. */
  defaultVisibilityMs: number;
  /** Ceiling of a lease (RECV visibility and EXTEND alike). */
  maxVisibilityMs: number;
  /** Ready + delayed messages one shard holds before SEND is refused with E_SATURATED. */
  shardCapacity: number;
  /** Open leases across the whole mailbox. */
  maxInflight: number;
  /**
   * Idempotency records one shard holds. Amnesia: at the bound SEND is refused (never evicted
   * early). LevelDB: records live on disk; this sizes the RAM filter that spares disk reads.
   */
  dedupCapacity: number;
  /** LevelDB only: ready messages of one topic kept in RAM; the rest wait on disk, paged in as consumers drain. */
  readyWindow: number;
  /** LevelDB only: ready messages one shard keeps in RAM as they arrive; past it new ones go to disk only. */
  residentBudget: number;
  /** LevelDB only: idempotency records one shard keeps in RAM (the newest); older keys are read from disk. */
  dedupResident: number;
  /** LevelDB only: bytes of fresh payloads one shard keeps in RAM so a prompt delivery needs no disk read. */
  hotPayloadBytes: number;
  /** Largest payload in bytes. */
  maxPayloadBytes: number;
  /** DLQ reprocess rate, messages per second. */
  reprocessPerSecond: number;
}

export interface QuotaConfig {
  /** Messages per second per tenant (token bucket refill); 0 turns quotas off. */
  sendPerSecond: number;
  burst: number;
}

export interface MailboxConfig {
  profile: Profile;
  /** RAM only: no file is written. Implied by profile micronode. */
  amnesia: boolean;
  dataDir: string;
  /** Where POST /admin/backup (`mailbox backup --out NAME`) writes; NAME is resolved inside it. Empty: `<dataDir>/backups`. */
  backupDir: string;
  durability: Durability;
  /** `level` (default) or `redis`; amnesia (RAM only) overrides both. */
  store: StoreChoice;
  redis: RedisConfig;
  shards: number;
  listen: string;
  metricsAddr: string;
  /** Open WebSocket connections at most; an upgrade beyond it is refused with HTTP 503. */
  maxConnections: number;
  /** A socket that has neither completed HELLO nor presented a valid token this long after opening is closed (4008). */
  helloTimeoutMs: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  queue: QueueConfig;
  quota: QuotaConfig;
  /**
   * The governance policy (per-tenant quotas, presets), a JSON file read at start and on
   * SIGHUP / `mailbox policy reload`; empty: every tenant gets the `quota.*` limits.
   */
  policyFile: string;
  supervision: SupervisionConfig;
  auth: {
    /** Key ring: KID → base64 secret (≥ 32 bytes). Empty: a key is created on first start (not in amnesia). */
    keys: Record<string, string>;
    /** The KID new tokens are minted with. */
    activeKid: string;
    /** Verified tokens are cached this long. */
    capCacheTtlMs: number;
    /** Where the first-start admin token is written (mode 0600); default `<dataDir>/admin.token`. */
    adminTokenFile: string;
  };
  /** How long SIGTERM waits for in-flight leases to settle. */
  drainTimeoutMs: number;
  /** p99 event-loop delay (ms) that, sustained for 3 s, marks the process overloaded (sheds writes); 0 turns it off. */
  overloadLagMs: number;
  /** p99 store commit latency (ms) of a shard's batches that, sustained for 3 s, marks the process overloaded (sheds writes early); 0 turns it off. */
  overloadCommitMs: number;
  retention: { readyMs: number; dlqMs: number };
  /** Fault injection into this running server over the admin port (`mailbox chaos inject`, admin token for every tenant); off by default. */
  chaos: { enabled: boolean };
  tls: TlsConfig;
}

/**
 * TLS for both ports (wss:// and https://) from one certificate; both empty: plain ws:// and
 * http://. Both or neither; the key file must be mode 0600 or stricter (checked at start).
 */
export interface TlsConfig {
  /** PEM certificate (chain) file. */
  certFile: string;
  /** PEM private key file, readable by the owner only. */
  keyFile: string;
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export const DEFAULT_CONFIG: MailboxConfig = {
  profile: 'macronode',
  amnesia: false,
  dataDir: './var/mailbox',
  backupDir: '',
  durability: 'sync',
  store: 'level',
  redis: { url: 'redis://127.0.0.1:6379', cluster: [], prefix: 'mbx', shared: false, waitReplicas: 0, waitTimeoutMs: 1_000 },
  shards: 8,
  listen: '127.0.0.1:9410',
  metricsAddr: '127.0.0.1:9600',
  maxConnections: 10_000,
  helloTimeoutMs: 5_000,
  logLevel: 'info',
  queue: {
    replayWindowMs: 300_000,
    maxAttempts: 5,
    backoffBaseMs: 200,
    backoffMaxMs: 60_000,
    defaultVisibilityMs: 30_000,
    maxVisibilityMs: 12 * 3_600_000,
    shardCapacity: 1_000_000,
    maxInflight: 100_000,
    dedupCapacity: 1_000_000,
    readyWindow: 2_048,
    residentBudget: 4_096,
    dedupResident: 8_192,
    hotPayloadBytes: 4 * 1024 * 1024,
    maxPayloadBytes: 1024 * 1024 - 1024,
    reprocessPerSecond: 1_000,
  },
  quota: { sendPerSecond: 0, burst: 0 },
  policyFile: '',
  supervision: { intensity: 5, periodMs: 60_000, restartBaseMs: 100, restartMaxMs: 30_000, resetAfterMs: 60_000 },
  auth: { keys: {}, activeKid: 'k1', capCacheTtlMs: 30_000, adminTokenFile: '' },
  drainTimeoutMs: 10_000,
  overloadLagMs: 1_000,
  overloadCommitMs: 1_000,
  retention: { readyMs: 7 * 86_400_000, dlqMs: 14 * 86_400_000 },
  chaos: { enabled: false },
  tls: { certFile: '', keyFile: '' },
};

/** Identity with types: `export default defineConfig({...})` in mailbox.config.ts. */
export function defineConfig(config: DeepPartial<MailboxConfig>): DeepPartial<MailboxConfig> {
  return config;
}
